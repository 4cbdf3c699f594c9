package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/logs/store"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var (
	logsRate      = flag.Int("logs-rate", 10000, "lines per second the ingest run writes (from one pod)")
	logsSeconds   = flag.Int("logs-seconds", 20, "how long the ingest run writes")
	logsTools     = flag.Int("logs-tools", 1000, "tools whose lines fill the store for the query run")
	logsLines     = flag.Int("logs-lines", 10_000_000, "lines in the store for the query run (spread over logs-tools tools)")
	logsQueries   = flag.Int("logs-queries", 300, "jobs logs -l 500 requests timed")
	logsLatencyHz = flag.Int("logs-latency-rate", 50, "lines per second of the latency run")
)

// Targets: 10 times Toolforge's Loki ingestion limit (400 lines/s per
// node), visible within 2 s, a query under 100 ms (issue 22).
const (
	ingestTarget       = 4000
	visibleTarget      = 2 * time.Second
	logsQueryTarget    = 100 * time.Millisecond
	logsQueryLines     = 500
	logsLatencySeconds = 30
)

// benchLogs measures the log pipeline on a devcluster with a real node and
// the whole platform: what the node's collector and the store take in
// lines per second with nothing lost, how long a written line takes to be
// visible, the newest 500 lines of a job with 10 million lines of 1,000
// tools in the store, and the store's memory and disk per million lines.
func benchLogs(ctx context.Context, r *report) error {
	c, err := testcluster.Start(ctx, testcluster.Options{RealNodes: 1})
	if err != nil {
		return err
	}
	defer cleanup("stop devcluster", c.Stop)
	tools, err := c.ProvisionTools(ctx, "bench-logs")
	if err != nil {
		return err
	}
	// No rate limit: the collector's and store's own capacity is measured.
	platform, err := c.StartPlatform(ctx, "toolforge.localhost", "--logs-rate-limit", "0")
	if err != nil {
		return err
	}
	defer cleanup("stop toolforged all", platform.Stop)
	storeURL, err := c.LogsStoreURL()
	if err != nil {
		return err
	}
	st, err := store.New(storeURL)
	if err != nil {
		return err
	}
	cli, err := testcluster.BuildBinary("toolforge")
	if err != nil {
		return err
	}
	tool := tools["bench-logs"]
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env, cmd.Dir = tool.Env(), tool.Home
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("toolforge %v: %w\n%s", args, err, errb.String())
		}
		return out.String(), nil
	}
	tenant := store.TenantOf(tool.Name)

	// The image is pulled (built on a fresh machine) by an untimed run.
	if _, err := run("jobs", "run", "warm", "--image", "python3.11", "--no-filelog", "--wait", "600", "--command", "true"); err != nil {
		return err
	}

	// Ingest: one pod writes numbered lines at the rate for the seconds;
	// every line must arrive, once.
	n := *logsRate * *logsSeconds
	if _, err := run("jobs", "run", "ingest", "--image", "python3.11", "--no-filelog", "--mem", "256Mi", "--command", writer(*logsRate, n)); err != nil {
		return err
	}
	t0 := time.Now()
	var got int
	var firstWritten, lastVisible time.Time
	for {
		got, err = countLines(ctx, st, tenant, "ingest")
		if err == nil && got >= n {
			lastVisible = time.Now()
			break
		}
		if time.Since(t0) > time.Duration(*logsSeconds)*time.Second+5*time.Minute {
			return fmt.Errorf("ingest: %d of %d lines in the store after %s", got, n, time.Since(t0).Round(time.Second))
		}
		time.Sleep(200 * time.Millisecond) // a benchmark's sampling interval
	}
	firstWritten, err = firstLineTime(ctx, st, tenant, "ingest")
	if err != nil {
		return err
	}
	unique, err := uniqueLines(ctx, st, tenant, "ingest")
	if err != nil {
		return err
	}
	took := lastVisible.Sub(firstWritten)
	rate := float64(n) / took.Seconds()
	r.check("ingest on one node, lines/s (written at "+strconv.Itoa(*logsRate)+"/s)", fmt.Sprintf("%.0f", rate), fmt.Sprintf("≥ %d", ingestTarget), rate >= ingestTarget && unique == n && got == n)
	r.check("lines in = lines out", fmt.Sprintf("%d written, %d stored, %d distinct", n, got, unique), "equal", got == n && unique == n)

	// Latency: a pod writes lines stamped with their write time; each is
	// timed from then until a query of the store (the logs API's) finds it.
	if _, err := run("jobs", "run", "latency", "--image", "python3.11", "--no-filelog", "--command", writer(*logsLatencyHz, *logsLatencyHz*logsLatencySeconds)); err != nil {
		return err
	}
	api, err := toolAPI(ctx, c, tool)
	if err != nil {
		return err
	}
	want := *logsLatencyHz * logsLatencySeconds
	var viaStore, viaAPI latencies
	var errStore, errAPI error
	var wg sync.WaitGroup
	wg.Go(func() {
		viaStore, errStore = visibility(want, func() ([]string, error) {
			recs, err := st.Select(ctx, tenant, store.Query{LogsQL: jobStream("latency"), Limit: 500})
			var msgs []string
			for _, rec := range recs {
				msgs = append(msgs, rec[store.FieldMsg])
			}
			return msgs, err
		})
	})
	wg.Go(func() {
		viaAPI, errAPI = visibility(want, func() ([]string, error) {
			return api.messages(ctx, logs.JobPath(tool.Name, "latency", logs.Logs)+"?lines=500")
		})
	})
	wg.Wait()
	if errStore != nil || errAPI != nil {
		return fmt.Errorf("latency: store: %v; API: %v", errStore, errAPI)
	}
	r.check(fmt.Sprintf("write to visible through the logs API, p50 (%d lines at %d/s)", len(viaAPI), *logsLatencyHz), secs(viaAPI.percentile(50)), "", true)
	r.check("write to visible through the logs API, p99", secs(viaAPI.percentile(99)), "≤ "+secs(visibleTarget), viaAPI.percentile(99) <= visibleTarget)
	r.check("write to visible in the store, p50", secs(viaStore.percentile(50)), "", true)
	r.check("write to visible in the store (what outlives the pod), p99", secs(viaStore.percentile(99)), "≤ "+secs(visibleTarget), viaStore.percentile(99) <= visibleTarget)

	// The query run: the store filled with logs-lines lines of logs-tools
	// tools (the bench tool among them), sent to the store directly.
	pid, err := storePID(c.Dir)
	if err != nil {
		return err
	}
	rssBefore, _ := rssKiB(pid)
	diskBefore, _ := dirKiB(filepath.Join(c.Dir, "logs-store"))
	fillStart := time.Now()
	if err := fill(ctx, st, tool.Name, *logsTools, *logsLines); err != nil {
		return err
	}
	fillTook := time.Since(fillStart)
	r.add("store filled directly", "%d lines of %d tools in %s (%.0f lines/s)", *logsLines, *logsTools, fillTook.Round(time.Second), float64(*logsLines)/fillTook.Seconds())
	if err := forceFlush(ctx, storeURL); err != nil {
		return err
	}
	// jobs logs -l 500 through the API as the tool, whose job "busy" has
	// 10,000 lines among the 10 million.
	path := logs.JobPath(tool.Name, "busy", logs.Logs) + "?lines=" + strconv.Itoa(logsQueryLines)
	var q latencies
	for i := -5; i < *logsQueries; i++ {
		t0 := time.Now()
		lines, err := api.get(ctx, path)
		if err != nil {
			return err
		}
		if lines != logsQueryLines {
			return fmt.Errorf("jobs logs -l %d answered %d lines", logsQueryLines, lines)
		}
		if i >= 0 {
			q = append(q, time.Since(t0))
		}
	}
	r.check("jobs logs -l 500 through the API, p50", ms(q.percentile(50)), "", true)
	r.check("jobs logs -l 500 through the API, p99", ms(q.percentile(99)), "< "+ms(logsQueryTarget), q.percentile(99) < logsQueryTarget)
	// Other tools' jobs straight from the store (the API's query, without
	// TLS and the tool's check).
	var direct latencies
	for i := 0; i < *logsQueries; i++ {
		other := fmt.Sprintf("bench-%04d", rand.IntN(*logsTools-1))
		t0 := time.Now()
		recs, err := st.Select(ctx, store.TenantOf(other), store.Query{LogsQL: store.Stream(store.FieldKind, logs.KindJob, store.FieldName, "busy"), Limit: logsQueryLines})
		if err != nil {
			return err
		}
		if len(recs) != logsQueryLines {
			return fmt.Errorf("tool %s's job: %d lines", other, len(recs))
		}
		direct = append(direct, time.Since(t0))
	}
	r.check("newest 500 of a random tool's job in the store, p50", ms(direct.percentile(50)), "", true)
	r.check("newest 500 of a random tool's job in the store, p99", ms(direct.percentile(99)), "< "+ms(logsQueryTarget), direct.percentile(99) < logsQueryTarget)
	// The real CLI, process start and all.
	var cliTimes latencies
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		if _, err := run("jobs", "logs", "busy", "-l", strconv.Itoa(logsQueryLines)); err != nil {
			return err
		}
		cliTimes = append(cliTimes, time.Since(t0))
	}
	r.add("toolforge jobs logs busy -l 500 (the CLI, 20 runs), p50 / max", "%s / %s", ms(cliTimes.percentile(50)), ms(cliTimes.percentile(100)))

	rss, err := rssKiB(pid)
	if err != nil {
		return err
	}
	disk, err := dirKiB(filepath.Join(c.Dir, "logs-store"))
	if err != nil {
		return err
	}
	millions := float64(*logsLines) / 1e6
	r.add("store memory (RSS) after the fill, per million lines", "%s (%s in all, %s before)", mib(int64(float64(rss)/millions)), mib(rss), mib(rssBefore))
	r.add("store disk per million lines", "%.1f MiB (%s in all, %s before)", float64(disk-diskBefore)/1024/millions, mib(disk), mib(diskBefore))
	r.note("ingest: one pod of python3.11 writes %d numbered lines at %d/s; lines/s is the count divided by the time from the first line's write to the last being found in the store", n, *logsRate)
	r.note("latency: each line carries its write time; the logs API (as the tool) and the store are each asked for the newest lines every 100 ms (which the figures include); the API adds the running pod's kubelet's lines the store does not have yet; the store's path holds two 1 s buffers of v1.52.2 (vlagent's remote write flush, VictoriaLogs' rows buffer); an idle container's log file is polled by vlagent at most every 10 s, a busy one's every 0.1 s")
	return nil
}

// writer is a python program printing count lines at rate per second,
// each "<write time ns> <n>", paced in 10 ms steps.
func writer(rate, count int) string {
	return fmt.Sprintf(`python3 -u -c '
import sys, time
rate, count = %d, %d
start = time.time()
i = 0
while i < count:
    due = int((time.time() - start) * rate) + 1
    out = []
    while i < min(due, count):
        out.append("%%d %%d\n" %% (time.time_ns(), i))
        i += 1
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    time.sleep(0.01)
'`, rate, count)
}

func jobStream(job string) string {
	return store.Stream(store.FieldKind, logs.KindJob, store.FieldName, job)
}

func countLines(ctx context.Context, st *store.Client, t store.Tenant, job string) (int, error) {
	return statsCount(ctx, st, t, jobStream(job)+" | stats count() n")
}

func uniqueLines(ctx context.Context, st *store.Client, t store.Tenant, job string) (int, error) {
	return statsCount(ctx, st, t, jobStream(job)+" | stats count_uniq(_msg) n")
}

func statsCount(ctx context.Context, st *store.Client, t store.Tenant, q string) (int, error) {
	recs, err := st.Select(ctx, t, store.Query{LogsQL: q, Start: time.Now().Add(-24 * time.Hour)})
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	return strconv.Atoi(recs[0]["n"])
}

// firstLineTime is when the job's first line was written (its own stamp).
func firstLineTime(ctx context.Context, st *store.Client, t store.Tenant, job string) (time.Time, error) {
	recs, err := st.Select(ctx, t, store.Query{LogsQL: jobStream(job) + ` _msg:~" 0$"`, Start: time.Now().Add(-24 * time.Hour)})
	if err != nil || len(recs) == 0 {
		return time.Time{}, fmt.Errorf("the first line: %v", err)
	}
	return stamp(recs[0][store.FieldMsg])
}

func stamp(msg string) (time.Time, error) {
	ns, _, _ := strings.Cut(msg, " ")
	v, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("line %q: %w", msg, err)
	}
	return time.Unix(0, v), nil
}

// visibility times each of want lines from its write to a read (every
// 100 ms) finding it.
func visibility(want int, read func() ([]string, error)) (latencies, error) {
	seen := map[string]bool{}
	var out latencies
	deadline := time.Now().Add(logsLatencySeconds*time.Second + 5*time.Minute)
	for len(seen) < want {
		if time.Now().After(deadline) {
			return out, fmt.Errorf("%d of %d lines seen", len(seen), want)
		}
		msgs, err := read()
		now := time.Now()
		if err == nil {
			for _, msg := range msgs {
				if seen[msg] {
					continue
				}
				seen[msg] = true
				if w, err := stamp(msg); err == nil {
					out = append(out, now.Sub(w))
				}
			}
		}
		time.Sleep(100 * time.Millisecond) // a benchmark's sampling interval
	}
	return out, nil
}

// fill sends lines of tools bench-0000... (and the bench's own tool as
// the last) straight to the store: each tool's job "busy" over the last
// week, in its own tenant, as the ingestion files lines.
func fill(ctx context.Context, st *store.Client, benchTool string, tools, lines int) error {
	per := lines / tools
	now := time.Now()
	work := make(chan int)
	errs := make(chan error, tools)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Go(func() {
			var b bytes.Buffer
			for i := range work {
				name := fmt.Sprintf("bench-%04d", i)
				if i == tools-1 {
					name = benchTool
				}
				b.Reset()
				step := 7 * 24 * time.Hour / time.Duration(per)
				for j := 0; j < per; j++ {
					ts := now.Add(-7*24*time.Hour + time.Duration(j)*step)
					pod := fmt.Sprintf("busy-%d-x%04d", j/500, i)
					fmt.Fprintf(&b, `{"_time":%q,"_msg":"GET /api/items/%d 200 %d.%03ds agent=bot-%d","kind":"job","name":"busy","pod":%q,"container":"busy"}`+"\n",
						ts.UTC().Format(time.RFC3339Nano), j*7919%100000, j%3, j%1000, i, pod)
				}
				if err := st.Insert(ctx, store.TenantOf(name), b.Bytes()); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := 0; i < tools; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}

func forceFlush(ctx context.Context, storeURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, storeURL+"/internal/force_flush", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// logsAPIClient asks the platform's API as a tool.
type logsAPIClient struct {
	base string
	hc   *http.Client
}

func toolAPI(ctx context.Context, c *testcluster.Cluster, tool *testcluster.Tool) (*logsAPIClient, error) {
	cm, err := c.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(ctx, tenancy.APIConfigMap, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cm.Data[tenancy.APIConfigCA]))
	cert, err := tls.LoadX509KeyPair(tool.CertFile, tool.KeyFile)
	if err != nil {
		return nil, err
	}
	return &logsAPIClient{base: cm.Data[tenancy.APIConfigURL], hc: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}}, nil
}

// messages reads a logs answer's lines' messages.
func (t *logsAPIClient) messages(ctx context.Context, path string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []string
	dec := json.NewDecoder(resp.Body)
	for {
		var l logs.Line
		if err := dec.Decode(&l); err != nil {
			break
		}
		out = append(out, l.Message)
	}
	return out, nil
}

// get reads a logs answer and counts its lines.
func (t *logsAPIClient) get(ctx context.Context, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return bytes.Count(body, []byte("\n")), nil
}

func storePID(dir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return 0, err
	}
	var s struct {
		Procs []struct {
			Name string `json:"name"`
			PID  int    `json:"pid"`
		} `json:"procs"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return 0, err
	}
	for _, p := range s.Procs {
		if p.Name == "logs-store" {
			return p.PID, nil
		}
	}
	return 0, fmt.Errorf("no logs-store process in %s", dir)
}

func rssKiB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

func dirKiB(dir string) (int64, error) {
	var total int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	return total / 1024, err
}
