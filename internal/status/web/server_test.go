package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/status/pages"
	"github.com/toolforge-go/toolforge/internal/status/pages/pagestest"
	"github.com/toolforge-go/toolforge/internal/status/web"
	"github.com/toolforge-go/toolforge/internal/status/wire"
)

func server(t *testing.T, ready *atomic.Bool) *httptest.Server {
	t.Helper()
	if ready == nil {
		ready = &atomic.Bool{}
		ready.Store(true)
	}
	s, err := web.New(web.Options{
		Pages: &pages.Builder{Src: pagestest.Demo()}, Ready: ready.Load,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, url, accept string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestFormatsAreNegotiated(t *testing.T) {
	ts := server(t, nil)
	cases := []struct {
		name, path, accept string
		code               int
		contentType        string
	}{
		{"no Accept header gets HTML", "/", "", 200, "text/html; charset=utf-8"},
		{"a browser's Accept header gets HTML", "/", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200, "text/html; charset=utf-8"},
		{"Accept application/json gets JSON", "/", "application/json", 200, "application/json"},
		{"?format=json wins over the Accept header", "/tools/?format=json", "text/html", 200, "application/json"},
		{"?format=html wins over the Accept header", "/nodes/?format=html", "application/json", 200, "text/html; charset=utf-8"},
		{"any type gets HTML", "/images/", "*/*", 200, "text/html; charset=utf-8"},
		{"an unsupported ?format is not acceptable", "/?format=xml", "", 406, "text/plain; charset=utf-8"},
		{"an unsupported Accept is not acceptable", "/tools/demo/", "application/xml", 406, "text/plain; charset=utf-8"},
		{"an unsupported format for a missing page is still not acceptable", "/nope", "image/png", 406, "text/plain; charset=utf-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, ts.URL+tc.path, tc.accept)
			if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != tc.contentType {
				t.Fatalf("%d %q, want %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), tc.code, tc.contentType, body)
			}
		})
	}
}

// decodeStrict decodes body into v, refusing fields v does not have.
func decodeStrict(t *testing.T, body string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
}

func TestEveryPagesJSONDecodesIntoItsStruct(t *testing.T) {
	ts := server(t, nil)
	cases := []struct {
		path  string
		into  any
		check func(any) bool
	}{
		{"/", &wire.Overview{}, func(v any) bool { return v.(*wire.Overview).Tools.Active == 1 }},
		{"/nodes/", &wire.NodeList{}, func(v any) bool { return len(v.(*wire.NodeList).Nodes) == 1 }},
		{"/nodes/node-1/", &wire.Node{}, func(v any) bool { return len(v.(*wire.Node).PodList) == 4 }},
		{"/tools/", &wire.ToolList{}, func(v any) bool { return len(v.(*wire.ToolList).Idle) == 1 }},
		{"/tools/demo/", &wire.Tool{}, func(v any) bool { return len(v.(*wire.Tool).Jobs) == 3 }},
		{"/tools/demo/pods/demo-abc/", &wire.PodDetail{}, func(v any) bool { return v.(*wire.PodDetail).Owner == "webservice" }},
		{"/images/", &wire.Images{}, func(v any) bool { return len(v.(*wire.Images).Catalogue) > 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, ts.URL+tc.path+"?format=json", "")
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			decodeStrict(t, body, tc.into)
			if !tc.check(tc.into) || tc.into.(interface{ Observed() time.Time }).Observed().IsZero() {
				t.Errorf("unexpected content: %s", body)
			}
		})
	}
}

func TestWhatDoesNotExistIsA404NamingIt(t *testing.T) {
	ts := server(t, nil)
	cases := []struct {
		name, path, kind, what string
	}{
		{"an unknown tool", "/tools/nosuch/", "tool", "nosuch"},
		{"an unknown node", "/nodes/node-9/", "node", "node-9"},
		{"an unknown pod", "/tools/demo/pods/nosuch/", "pod", "nosuch"},
		{"an unknown page", "/nosuch/page", "page", "/nosuch/page"},
		{"a tool name with markup", "/tools/%3Cscript%3Ealert(1)%3C%2Fscript%3E/", "tool", "<script>alert(1)</script>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, ts.URL+tc.path, "application/json")
			var e wire.Error
			decodeStrict(t, body, &e)
			if resp.StatusCode != 404 || e.Status != 404 || e.Kind != tc.kind || e.Name != tc.what || !strings.Contains(e.Error, "not found") {
				t.Fatalf("%d %+v", resp.StatusCode, e)
			}
			resp, html := get(t, ts.URL+tc.path, "")
			if resp.StatusCode != 404 || !strings.Contains(html, "not found") || strings.Contains(html, "<script>alert") {
				t.Fatalf("HTML %d:\n%s", resp.StatusCode, html)
			}
		})
	}
}

func TestNoUsersURLGetsA500(t *testing.T) {
	ts := server(t, nil)
	for _, path := range []string{
		"/tools/demo/pods/", "/tools/demo/pods/x/y/", "/tools//", "/nodes//", "/tools/%00/", "/tools/demo/pods/%2e%2e/",
		"/tools/" + strings.Repeat("a", 5000) + "/", "/tools/?q=%3Cb%3E", "/tools/?q=%ff", "/?format=", "/static/nosuch.css", "/tools",
	} {
		resp, body := get(t, ts.URL+path, "")
		if resp.StatusCode >= 500 {
			t.Errorf("GET %s: %d\n%s", path, resp.StatusCode, body)
		}
	}
	resp, err := http.Post(ts.URL+"/tools/demo/", "text/plain", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

func TestMarkupFromToolsIsEscaped(t *testing.T) {
	ts := server(t, nil)
	resp, body := get(t, ts.URL+"/tools/demo/", "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "<img") {
		t.Fatalf("markup from the tool reached the page as markup:\n%s", body)
	}
	if !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("the payload is not shown as text:\n%s", body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
}

func TestRobotsAreDisallowedAndHealthFollowsTheCaches(t *testing.T) {
	ready := &atomic.Bool{}
	ts := server(t, ready)
	if resp, body := get(t, ts.URL+"/robots.txt", ""); resp.StatusCode != 200 || body != "User-agent: *\nDisallow: /\n" {
		t.Errorf("robots.txt: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, ts.URL+"/healthz", ""); resp.StatusCode != 503 {
		t.Errorf("healthz before the caches fill: %d", resp.StatusCode)
	}
	if resp, _ := get(t, ts.URL+"/tools/demo/", ""); resp.StatusCode != 503 {
		t.Errorf("a page before the caches fill: %d", resp.StatusCode)
	}
	ready.Store(true)
	if resp, _ := get(t, ts.URL+"/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("healthz once filled: %d", resp.StatusCode)
	}
}
