package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenService follows the Docker Registry v2 token specification: a
// registry answers 401 with a Bearer challenge naming the realm and the
// service, and the realm hands out tokens for scopes to authenticated
// clients (HTTP Basic), refusing scopes the client may not have.
type tokenService struct {
	user, password string
	mu             sync.Mutex
	requests       []url.Values
}

func (ts *tokenService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	ts.requests = append(ts.requests, r.URL.Query())
	ts.mu.Unlock()
	user, pass, ok := r.BasicAuth()
	if !ok || user != ts.user || pass != ts.password {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
		return
	}
	for _, scope := range r.URL.Query()["scope"] {
		parts := strings.Split(scope, ":")
		if len(parts) != 3 || parts[0] != "repository" || !strings.HasPrefix(parts[1], "tool-") || strings.Count(parts[1], "/") != 1 {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"scope not allowed"}]}`, http.StatusForbidden)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": "tok-" + strings.Join(r.URL.Query()["scope"], "+"), "expires_in": 3600, "issued_at": time.Now().UTC().Format(time.RFC3339)})
}

// newTokenRegistry serves a registry and its token service on one
// address, as devcluster does: go-containerregistry trusts a realm on a
// private address only on the registry's own host and port.
func newTokenRegistry(t *testing.T, ts *tokenService) *Registry {
	t.Helper()
	var realm string
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			ts.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="test-registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(reg.Close)
	realm = reg.URL + "/token"
	u, _ := url.Parse(reg.URL)
	return &Registry{Host: "registry.example", Endpoint: u}
}

func writeCredentials(t *testing.T, line string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "builds")
	if err := os.WriteFile(f, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestABuildsTokenIsMintedForItsOwnRepositoryThroughTheChallengesRealm(t *testing.T) {
	ts := &tokenService{user: "builds", password: "s3cret"}
	reg := newTokenRegistry(t, ts)
	var err error
	if reg.Credentials, err = ReadCredentials(writeCredentials(t, "builds:s3cret")); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	tok, exp, err := reg.Token(context.Background(), PushScopes("tool-demo/web"))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "tok-repository:tool-demo/web:push,pull" {
		t.Errorf("token %q", tok)
	}
	if exp.Before(before.Add(59*time.Minute)) || exp.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("expiry %s, want in an hour", exp)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.requests) != 1 {
		t.Fatalf("token requests: %v", ts.requests)
	}
	q := ts.requests[0]
	if q.Get("service") != "test-registry" || strings.Join(q["scope"], " ") != "repository:tool-demo/web:push,pull" {
		t.Errorf("the token request asked for %v", q)
	}
}

func TestTokenMintingFailsClearly(t *testing.T) {
	ts := &tokenService{user: "builds", password: "s3cret"}
	for _, tc := range []struct {
		name, creds string
		scopes      []string
		want        string
	}{
		{"wrong credentials", "builds:wrong", PushScopes("tool-demo/web"), "token for repository:tool-demo/web:push,pull from http://"},
		{"a scope beyond tools' repositories", "builds:s3cret", []string{"repository:toolforge:push,pull"}, "scope not allowed"},
		{"no credentials", "", PushScopes("tool-demo/web"), "no credentials for it (--builds-registry-credentials)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newTokenRegistry(t, ts)
			if tc.creds != "" {
				var err error
				if reg.Credentials, err = ReadCredentials(writeCredentials(t, tc.creds)); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := reg.Token(context.Background(), tc.scopes)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestARegistryWithoutAuthenticationNeedsNoToken(t *testing.T) {
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer reg.Close()
	u, _ := url.Parse(reg.URL)
	tok, _, err := (&Registry{Host: "x", Endpoint: u}).Token(context.Background(), PushScopes("tool-demo/web"))
	if err != nil || tok != "" {
		t.Fatalf("token %q, %v; want none", tok, err)
	}
}

func TestCredentialsFilesAreOneLineUserColonPassword(t *testing.T) {
	for _, bad := range []string{"", "builds", ":pw", "builds:"} {
		if _, err := ReadCredentials(writeCredentials(t, bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestABuildsTokenPushesItsOwnRepositoryAndPullsOnlyItsBases(t *testing.T) {
	got := PushScopes("tool-demo/web",
		"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest",
		"docker-registry.tools.wmflabs.org/toolforge-node18-sssd-web:latest",
		"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web@sha256:"+strings.Repeat("a", 64))
	want := []string{
		"repository:tool-demo/web:push,pull",
		"repository:toolforge-python311-sssd-web:pull",
		"repository:toolforge-node18-sssd-web:pull",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("scopes %v, want %v", got, want)
	}
}
