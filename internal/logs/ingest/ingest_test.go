package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolforge-go/toolforge/internal/logs/store"
)

// collectorLine is a line as vlagent's Kubernetes collector sends it: its
// fields first, then the line's own (own is a JSON object's members, or
// nil for a line of text).
func collectorLine(ns, pod string, labels map[string]string, own string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"_time":"2026-05-01T12:00:00.%09dZ","kubernetes.container_name":"c","kubernetes.pod_name":%q,"kubernetes.pod_namespace":%q,"kubernetes.container_id":"containerd://x","kubernetes.pod_node_name":"node-1"`, time.Now().Nanosecond(), pod, ns)
	for k, v := range labels {
		fmt.Fprintf(&b, `,"kubernetes.pod_labels.%s":%q`, k, v)
	}
	b.WriteString("," + own + "}")
	return b.String()
}

var jobLabels = map[string]string{"app.kubernetes.io/managed-by": "toolforge-jobs-framework", "app.kubernetes.io/component": "jobs", "app.kubernetes.io/name": "backup"}

func TestALineIsFiledByWhereItWasWrittenNeverByWhatItSays(t *testing.T) {
	for _, tc := range []struct {
		name, line         string
		tool, kind, source string
		message            string
		kept               bool
	}{
		{"a job's line of text", collectorLine("tool-a", "backup-x", jobLabels, `"_msg":"hello"`), "a", "job", "backup", "hello", true},
		{"a JSON line naming the collector's fields stays its writer's", collectorLine("tool-a", "backup-x", jobLabels, `"kubernetes.pod_namespace":"tool-victim","kubernetes.pod_labels.app.kubernetes.io/name":"other","msg":"hi"`),
			"a", "job", "backup", `{"kubernetes.pod_namespace":"tool-victim","kubernetes.pod_labels.app.kubernetes.io/name":"other","msg":"hi"}`, true},
		{"a web service's line", collectorLine("tool-a", "a-5d8", map[string]string{"app.kubernetes.io/managed-by": "webservice", "app.kubernetes.io/component": "web"}, `"_msg":"GET /"`), "a", "webservice", "a", "GET /", true},
		{"any other pod of the tool", collectorLine("tool-a", "mine", nil, `"_msg":"x"`), "a", "pod", "mine", "x", true},
		{"a build's line is its tool's by the platform's labels", collectorLine("image-build", "build-1", map[string]string{"toolforge.org/tool": "a", "toolforge.org/build": "b-1"}, `"kubernetes.pod_labels.toolforge.org/tool":"victim","_msg":"x"`),
			"a", "build", "b-1", `{"kubernetes.pod_labels.toolforge.org/tool":"victim","_msg":"x"}`, true},
		{"a build pod without the platform's labels is no one's", collectorLine("image-build", "build-1", nil, `"_msg":"x"`), "", "", "", "", false},
		{"an interactive shell is never kept", collectorLine("tool-a", "shell", map[string]string{"app.kubernetes.io/component": "webservice-interactive"}, `"_msg":"secret typed"`), "", "", "", "", false},
		{"another namespace is not a tool's", collectorLine("kube-system", "coredns", nil, `"_msg":"x"`), "", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCollected([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			s, ok := classify(c)
			if ok != tc.kept {
				t.Fatalf("kept %v, want %v (%+v)", ok, tc.kept, s)
			}
			if !ok {
				return
			}
			if s.tool != tc.tool || s.kind != tc.kind || s.name != tc.source || c.message() != tc.message {
				t.Errorf("filed as %+v with %q, want tool %s, %s %s, %q", s, c.message(), tc.tool, tc.kind, tc.source, tc.message)
			}
		})
	}
}

// fakeStore is VictoriaLogs' /insert/jsonline: what it took, by tenant.
type fakeStore struct {
	mu    sync.Mutex
	lines map[string][]map[string]string
	// calls counts inserts; the one numbered failAt answers 503.
	calls, failAt atomic.Int32
}

func (f *fakeStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.calls.Add(1) == f.failAt.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	tenant := r.Header.Get("AccountID") + ":" + r.Header.Get("ProjectID")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		var m map[string]string
		if err := json.Unmarshal(l, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.lines[tenant] = append(f.lines[tenant], m)
	}
}

func (f *fakeStore) of(tool string) []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lines[store.TenantOf(tool).String()]
}

func newIngester(t *testing.T, rate float64, burst int) (*fakeStore, string) {
	t.Helper()
	fs := &fakeStore{lines: map[string][]map[string]string{}}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	st, err := store.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	in := httptest.NewServer(New(st, rate, burst, m, slog.New(slog.DiscardHandler)))
	t.Cleanup(in.Close)
	return fs, in.URL
}

// send posts a block as vlagent does (zstd).
func send(t *testing.T, url string, lines []string) int {
	t.Helper()
	var b bytes.Buffer
	zw, _ := zstd.NewWriter(&b)
	_, _ = zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	zw.Close()
	req, _ := http.NewRequest(http.MethodPost, url+Path, &b)
	req.Header.Set("Content-Encoding", "zstd")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestEachToolsLinesGoToItsOwnTenantOnlyOnceTheStoreTookThem(t *testing.T) {
	fs, url := newIngester(t, 0, 1)
	block := []string{
		collectorLine("tool-a", "backup-1", jobLabels, `"_msg":"a1"`),
		collectorLine("tool-b", "backup-1", jobLabels, `"_msg":"b1"`),
		collectorLine("tool-a", "backup-1", jobLabels, `"_msg":"a2"`),
		`not the collector's JSON`,
	}
	// The store refuses the block's second tenant part: the block is
	// refused (the collector keeps it and sends it again), and the part
	// the store took is not stored twice when it comes again.
	fs.failAt.Store(2)
	if code := send(t, url, block); code != http.StatusServiceUnavailable {
		t.Fatalf("a block the store took only part of: %d, want 503", code)
	}
	if code := send(t, url, block); code != http.StatusNoContent {
		t.Fatalf("the block again: %d", code)
	}
	a, b := fs.of("a"), fs.of("b")
	if len(a) != 2 || len(b) != 1 || a[0]["_msg"] != "a1" || a[1]["_msg"] != "a2" || b[0]["_msg"] != "b1" {
		t.Fatalf("tool a's tenant: %v\ntool b's tenant: %v", a, b)
	}
	if a[0]["kind"] != "job" || a[0]["name"] != "backup" || a[0]["pod"] != "backup-1" || a[0]["container"] != "c" {
		t.Errorf("a stored line: %v", a[0])
	}
}

func TestAToolOverItsRateLosesLinesAndIsToldOnceOthersDoNot(t *testing.T) {
	const rate, burst, blocks, per = 10000, 1000, 5, 20000
	fs, url := newIngester(t, rate, burst)
	var flood []string
	for i := 0; i < blocks*per; i++ {
		flood = append(flood, collectorLine("tool-flood", "f-1", jobLabels, `"_msg":"`+strconv.Itoa(i)+`"`))
	}
	// Blocks arrive concurrently, as vlagent's queues send them: the
	// bucket must not refill for each of them.
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < blocks; i++ {
		wg.Go(func() {
			if code := send(t, url, flood[i*per:(i+1)*per]); code != http.StatusNoContent {
				t.Errorf("a block: %d", code)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if code := send(t, url, []string{collectorLine("tool-calm", "c-1", jobLabels, `"_msg":"calm"`)}); code != http.StatusNoContent {
		t.Fatal(code)
	}
	kept, told := 0, 0
	for _, l := range fs.of("flood") {
		if strings.HasPrefix(l["_msg"], "[toolforge] log lines dropped") {
			told++
		} else {
			kept++
		}
	}
	// The burst and what the rate adds while the blocks were filed.
	most := burst + int(rate*took.Seconds())
	if kept < burst || kept > most || told != 1 {
		t.Errorf("the flooding tool: %d lines kept in %s (at most %d), told %d times (want once)", kept, took, most, told)
	}
	if calm := fs.of("calm"); len(calm) != 1 {
		t.Errorf("the other tool's line: %v", calm)
	}
}

func TestTheFastReaderReadsWhatTheDecoderReads(t *testing.T) {
	for _, line := range []string{
		collectorLine("tool-a", "p", jobLabels, `"_msg":"plain"`),
		collectorLine("tool-a", "p", jobLabels, `"_msg":"quotes \" and \\ and \u00e9 and \n"`),
		collectorLine("tool-a", "p", jobLabels, `"kubernetes.pod_namespace":"tool-b","msg":"x"`),
		`{"_time":"2026-05-01T12:00:00Z","kubernetes.pod_name":"p","kubernetes.pod_namespace":"tool-a","n":3}`,
		` { "_time" : "2026-05-01T12:00:00Z" , "kubernetes.pod_name" : "p", "kubernetes.pod_namespace":"tool-a" } `,
	} {
		fast, errFast := parseCollected([]byte(line))
		slow, errSlow := parseCollectedSlow([]byte(line))
		if fmt.Sprint(fast, errFast) != fmt.Sprint(slow, errSlow) {
			t.Errorf("%s:\n fast %+v %v\n slow %+v %v", line, fast, errFast, slow, errSlow)
		}
	}
}
