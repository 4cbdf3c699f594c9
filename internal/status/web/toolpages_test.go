package web

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/status/pages"
	"github.com/toolforge-go/toolforge/internal/status/pages/pagestest"
	"github.com/toolforge-go/toolforge/internal/status/wire"
)

// toolFixture is a server over the demo cluster whose clock and events the
// test sets.
type toolFixture struct {
	src    *pagestest.Source
	now    time.Time
	events []wire.Event
	srv    *Server
}

func newToolFixture(t *testing.T) *toolFixture {
	t.Helper()
	f := &toolFixture{src: pagestest.Demo(), now: pagestest.Epoch.Add(90 * time.Minute)}
	b := &pages.Builder{Src: f.src, Now: func() time.Time { return f.now }, Events: func(string) []wire.Event { return f.events }}
	srv, err := New(Options{Pages: b, Ready: func() bool { return true }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	return f
}

// page is the tool page as served (through the cache).
func (f *toolFixture) page(t *testing.T, path string) string {
	t.Helper()
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	if w.Code != 200 {
		t.Fatalf("GET %s: %d\n%s", path, w.Code, w.Body)
	}
	return w.Body.String()
}

// rendered is the page as the template renders it without the cache.
func (f *toolFixture) rendered(t *testing.T, path, tool string) string {
	t.Helper()
	data, err := f.srv.pages.Tool(tool)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", path, nil)
	var buf bytes.Buffer
	v := view{Title: "Tool " + tool, Nav: nav("tool"), Observed: data.Observed(), JSONURL: jsonURL(r.URL), Data: data}
	if err := f.srv.tmpl["tool"].ExecuteTemplate(&buf, "layout", v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestACachedToolPageIsTheRenderedPage(t *testing.T) {
	f := newToolFixture(t)
	// Markup, and text that looks like the cache's holes, in what a tool
	// controls: shown as text, never taken for a hole.
	f.src.CronJobList[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args = []string{"echo &!a1.0! &!i! &!w!" + pagestest.Payload}
	f.events = []wire.Event{{Time: pagestest.Epoch, Of: "job", Name: "bot", Event: "oomkilled", Message: "&!a5.0!"}}
	steps := []struct {
		name  string
		path  string
		tool  string
		later time.Duration
	}{
		{"the first request", "/tools/demo/", "demo", 0},
		{"the same second", "/tools/demo/", "demo", 0},
		{"seconds later: the ages and the footer move", "/tools/demo/", "demo", 7 * time.Second},
		{"days later", "/tools/demo/", "demo", 72 * time.Hour},
		{"another query string: another JSON link", "/tools/demo/?format=html", "demo", time.Second},
		{"an idle tool without pods", "/tools/quiet/", "quiet", time.Second},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.now = f.now.Add(s.later)
			got, want := f.page(t, s.path), f.rendered(t, s.path, s.tool)
			if got != want {
				t.Fatalf("cached page differs from the rendered one:\n%s", diffAt(got, want))
			}
			if strings.Contains(got, "&!") {
				t.Fatalf("a hole or a forged one reached the page:\n%s", got)
			}
		})
	}
}

func TestACachedToolPageFollowsTheCluster(t *testing.T) {
	f := newToolFixture(t)
	f.page(t, "/tools/demo/")
	changes := []struct {
		name   string
		change func()
		shows  string
	}{
		{"a web service loses its ready replica", func() { f.src.DeploymentList[0].Status.ReadyReplicas = 0 }, "(0/1 ready)"},
		{"a pod restarts", func() { f.src.PodList[0].Status.ContainerStatuses[0].RestartCount = 42 }, "<td>42</td>"},
		{"a pod is added", func() {
			p := f.src.PodList[0].DeepCopy()
			p.Name = "demo-new"
			p.CreationTimestamp = metav1.NewTime(f.now.Add(-3 * time.Second))
			f.src.PodList = append(f.src.PodList, p)
		}, `<a href="/tools/demo/pods/demo-new/">demo-new</a>`},
		{"the quota's use changes", func() {
			q := f.src.QuotaList[0].DeepCopy()
			q.Status.Used[corev1.ResourcePods] = q.Status.Hard[corev1.ResourcePods]
			f.src.QuotaList[0] = q
		}, `<span class="used">4</span>`},
		{"the platform publishes another web URL", func() { f.src.PublishedWebURL = "http://{host}:8080/" }, "http://demo.toolforge.org:8080/"},
		{"the log store has a new event", func() {
			f.events = []wire.Event{{Time: f.now, Of: "job", Name: "bot", Event: "oomkilled", Message: "ran out of memory"}}
		}, "ran out of memory"},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			if got := f.page(t, "/tools/demo/"); strings.Contains(got, c.shows) {
				t.Fatalf("the page shows %q before the change", c.shows)
			}
			c.change()
			got := f.page(t, "/tools/demo/")
			if !strings.Contains(got, c.shows) {
				t.Fatalf("the page does not show %q after the change:\n%s", c.shows, got)
			}
			if want := f.rendered(t, "/tools/demo/", "demo"); got != want {
				t.Fatalf("cached page differs from the rendered one:\n%s", diffAt(got, want))
			}
		})
	}
}

func TestAToolThatIsGoneLeavesTheCache(t *testing.T) {
	f := newToolFixture(t)
	f.page(t, "/tools/quiet/")
	if _, ok := f.srv.tools.pages["quiet"]; !ok {
		t.Fatal("the page was not cached")
	}
	f.src.NamespaceList = f.src.NamespaceList[:2]
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, httptest.NewRequest("GET", "/tools/quiet/", nil))
	if w.Code != 404 {
		t.Fatalf("%d, want 404", w.Code)
	}
	if _, ok := f.srv.tools.pages["quiet"]; ok {
		t.Fatal("the page of a deleted tool is still cached")
	}
}

// diffAt shows where two pages first differ.
func diffAt(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-200)
	return "got:  …" + got[from:min(len(got), i+200)] + "\nwant: …" + want[from:min(len(want), i+200)]
}
