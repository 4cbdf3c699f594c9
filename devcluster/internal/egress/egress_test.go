package egress

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// The proxy serves only allowed clients with its credentials, and only to
// the allowed hosts.
func TestTheProxyServesBuildPodsWithCredentialsToAllowedHostsOnly(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "package") }))
	defer target.Close()
	var refuseClient atomic.Bool
	px, err := Start("127.0.0.1:0", "s3cret-s3cret-s3cret", []string{"127.0.0.1"}, func(string) bool { return !refuseClient.Load() }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	get := func(proxy, target string) (int, string) {
		t.Helper()
		u, _ := url.Parse(proxy)
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}}
		resp, err := c.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	withCreds := URL(px.Addr(), "s3cret-s3cret-s3cret")
	if code, body := get(withCreds, target.URL); code != http.StatusOK || body != "package" {
		t.Errorf("a build pod with credentials: %d %q", code, body)
	}
	if code, _ := get("http://"+px.Addr(), target.URL); code != http.StatusProxyAuthRequired {
		t.Errorf("no credentials: %d, want 407", code)
	}
	if code, _ := get(URL(px.Addr(), "wrong"), target.URL); code != http.StatusProxyAuthRequired {
		t.Errorf("wrong credentials: %d, want 407", code)
	}
	if code, body := get(withCreds, strings.Replace(target.URL, "127.0.0.1", "localhost", 1)); code != http.StatusForbidden || !strings.Contains(body, "reaches only 127.0.0.1") {
		t.Errorf("a host not allowed: %d %q", code, body)
	}
	refuseClient.Store(true)
	if code, body := get(withCreds, target.URL); code != http.StatusForbidden || !strings.Contains(body, "build service's pods only") {
		t.Errorf("credentials from a pod that is not a build's: %d %q", code, body)
	}
}
