package status_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/status/wire"
)

func TestEveryPageLoadsInChromiumWithoutConsoleErrorsAndShowsTheCluster(t *testing.T) {
	e := setup(t)
	alpha, err := getTool(e.server.URL, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	var workerPod string
	for _, p := range alpha.Pods {
		if p.Owner == "job worker" {
			workerPod = p.Name
		}
	}
	b := newBrowser(t)
	cases := []struct {
		name, path string
		texts      []string
		// selectors that must match at least so many elements
		counts map[string]int
	}{
		{"the overview shows nodes, phases, active tools and platform namespaces apart", "/",
			[]string{"2 / 2 ready", "Running", "alpha", "beta", "toolforge-system", "kube-system", "Recent problems"},
			map[string]int{"meter.bar": 2, "#active-tools a[href='/tools/alpha/']": 1, "#platform td": 1}},
		{"the nodes page lists the nodes", "/nodes/", []string{"kwok-node-1", "kwok-node-2", "Ready"}, map[string]int{"#nodes a[href='/nodes/kwok-node-1/']": 1}},
		{"a node's page shows its conditions, labels and pods", "/nodes/kwok-node-1/", []string{"Conditions", "kubernetes.io/hostname=kwok-node-1", "Ready"}, nil},
		{"the tools page lists active and idle tools", "/tools/", []string{"Active (2)", "Idle (1)", "alpha", "beta", "gamma"}, map[string]int{"a[href='/tools/gamma/']": 1}},
		{"a search narrows the tools", "/tools/?q=gam", []string{"gamma", "Active (0)"}, nil},
		{"a tool's page shows its web service, jobs, pods and quota bars", "/tools/alpha/",
			[]string{"python3.11", "http://alpha.toolforge.org:8000/", "nightly", "scheduled", "worker", "continuous", "./worker.py --loop", "Running", "alpha.toolforge.org"},
			map[string]int{"#quota meter": 10, "#pods a": 2, "#jobs tr": 3}},
		{"a pod's page shows its containers", "/tools/alpha/pods/" + workerPod + "/", []string{"worker", "bookworm", "running", "Limits", "cpu 500m", "/var/run/secrets/kubernetes.io/serviceaccount"}, nil},
		{"the images page counts the catalogue's images in use", "/images/", []string{"bookworm", "python3.11"}, map[string]int{"#catalogue tr": 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if errs := b.load(t, e.server.URL+tc.path); len(errs) > 0 {
				t.Errorf("console errors: %q", errs)
			}
			if err := containsAll(b.text(t), tc.texts...); err != nil {
				t.Errorf("%v in\n%s", err, b.text(t))
			}
			for sel, want := range tc.counts {
				if got := b.count(t, sel); got < want {
					t.Errorf("%d elements match %s, want at least %d", got, sel, want)
				}
			}
			if b.count(t, "#observed") != 1 {
				t.Errorf("the page does not say when its data was observed")
			}
		})
	}
}

func TestTheConsoleCheckSeesErrors(t *testing.T) {
	e := setup(t)
	b := newBrowser(t)
	// A page that fails to load is reported on the console; were the
	// listener deaf, every page would pass the check above.
	if errs := b.load(t, e.server.URL+"/tools/nosuch/"); len(errs) == 0 {
		t.Fatal("no console error for a 404: the console check cannot fail")
	}
	if err := containsAll(b.text(t), `tool "nosuch" not found`); err != nil {
		t.Error(err)
	}
}

func TestMarkupFromAToolRendersInert(t *testing.T) {
	e := setup(t)
	b := newBrowser(t)
	for _, path := range []string{"/tools/beta/", "/", "/tools/"} {
		b.load(t, e.server.URL+path)
		if n := b.count(t, "script, img, [onerror]"); n != 0 {
			t.Errorf("%s: %d script/img elements: the tool's markup became markup", path, n)
		}
		if title, _ := b.eval(t, `document.title`).(string); strings.Contains(title, "pwned") {
			t.Errorf("%s: the tool's script ran (title %q)", path, title)
		}
	}
	b.load(t, e.server.URL+"/tools/beta/")
	// Shown as text: in the job's command and as the web service's type.
	if n := strings.Count(b.text(t), payload); n != 2 {
		t.Errorf("the payload appears %d times as text, want 2:\n%s", n, b.text(t))
	}
}

func TestPagesAreReadableOnAPhone(t *testing.T) {
	e := setup(t)
	b := newBrowser(t)
	for _, path := range []string{"/", "/tools/alpha/", "/nodes/"} {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		b.load(t, e.server.URL+path)
		// Wide tables scroll in their own boxes; the page itself does not.
		if wide, _ := b.eval(t, `document.documentElement.scrollWidth > window.innerWidth`).(bool); wide {
			w := b.eval(t, `document.documentElement.scrollWidth`)
			t.Errorf("%s is wider (%v px) than a 390 px phone screen", path, w)
		}
		if path == "/tools/alpha/" {
			b.screenshot(t, "status-tool")
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	b.load(t, e.server.URL+"/")
	b.screenshot(t, "status-overview")
}

func TestANewJobAppearsWithinTwoSeconds(t *testing.T) {
	e := setup(t)
	b := newBrowser(t)
	gamma, err := toolClient(e.tools["gamma"])
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobObject("gamma", &jobs.Job{Name: "fresh", Command: "./fresh.sh", Image: "bookworm", Schedule: "@hourly"})
	if err != nil {
		t.Fatal(err)
	}
	b.load(t, e.server.URL+"/tools/gamma/")
	if strings.Contains(b.text(t), "fresh") {
		t.Fatal("the job is shown before it exists")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := gamma.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	deadline := created.Add(2 * time.Second)
	for {
		b.load(t, e.server.URL+"/tools/gamma/")
		if strings.Contains(b.text(t), "fresh") {
			t.Logf("the new job was on the page %s after its creation", time.Since(created).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new job is not on the page 2 s after its creation:\n%s", b.text(t))
		}
	}
	var list wire.ToolList
	if err := getJSON(e.server.URL+"/tools/?q=gamma", &list); err != nil || len(list.Active) != 1 {
		t.Errorf("gamma with a scheduled job is not active: %v %+v", err, list)
	}
}

func TestUnknownThingsAndFormats(t *testing.T) {
	e := setup(t)
	cases := []struct {
		name, path, accept string
		code               int
		kind, what         string
	}{
		{"an unknown tool is a 404 naming it", "/tools/nosuch/", "application/json", 404, "tool", "nosuch"},
		{"an unknown node is a 404 naming it", "/nodes/nosuch/", "application/json", 404, "node", "nosuch"},
		{"an unknown pod is a 404 naming it", "/tools/alpha/pods/nosuch/", "application/json", 404, "pod", "nosuch"},
		{"another namespace's pod is not a tool's", "/tools/alpha/pods/" + "kube-apiserver/", "application/json", 404, "pod", "kube-apiserver"},
		{"an unsupported Accept is a 406", "/tools/alpha/", "text/csv", 406, "", ""},
		{"an unsupported ?format is a 406", "/?format=yaml", "", 406, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := fetch(t, e.server.URL+tc.path, tc.accept)
			if resp.StatusCode != tc.code {
				t.Fatalf("%d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			if tc.kind == "" {
				return
			}
			var got wire.Error
			decodeStrict(t, body, &got)
			if got.Kind != tc.kind || got.Name != tc.what || got.Error != fmt.Sprintf("%s %q not found", tc.kind, tc.what) {
				t.Errorf("error = %+v", got)
			}
		})
	}
}
