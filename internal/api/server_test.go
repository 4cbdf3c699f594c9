package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolforge-go/toolforge/internal/route"
)

// testPKI is a CA issuing client certificates, as the cluster's signer
// issues tools' certificates.
type testPKI struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	pool  *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: key, pool: pool}
}

func (p *testPKI) client(t *testing.T, cn string, orgs ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fixedAccess allows the tools in the set.
type fixedAccess map[string]bool

func (f fixedAccess) Allowed(_ context.Context, tool string) (bool, error) { return f[tool], nil }

// echoRoutes answer with the tool and parameters they were called with,
// so tests see what reached a handler.
func echoRoutes() []API {
	echo := func(w http.ResponseWriter, r *route.Request) error {
		return route.WriteJSON(w, http.StatusOK, map[string]any{"tool": r.Tool, "params": r.Params, "messages": route.NewMessages()})
	}
	return []API{{Name: "jobs", Routes: []route.Route{
		{Method: http.MethodGet, Path: "/jobs/v1/tool/{tool}/jobs", Summary: "list", Response: route.Envelope{}, Handle: echo},
		{Method: http.MethodPost, Path: "/jobs/v1/tool/{tool}/jobs", Summary: "create", Response: route.Envelope{}, Handle: echo},
		{Method: http.MethodGet, Path: "/jobs/v1/tool/{tool}/jobs/{name}", Summary: "show", Response: route.Envelope{}, Handle: echo},
		{Method: http.MethodGet, Path: "/jobs/v1/tool/{tool}/boom", Summary: "fails", Response: route.Envelope{},
			Handle: func(http.ResponseWriter, *route.Request) error { return io.ErrUnexpectedEOF }},
	}}, {Name: "envvars", Routes: []route.Route{
		{Method: http.MethodGet, Path: "/envvars/v1/tool/{tool}/envvars", Summary: "envvars", Response: route.Envelope{}, Handle: echo},
	}}}
}

type testServer struct {
	url string
	pki *testPKI
	srv *Server
}

func startTestServer(t *testing.T, services []API, access Access) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := NewServer(services, access, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	pki := newTestPKI(t)
	ts := httptest.NewUnstartedServer(srv)
	ts.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pki.pool}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return &testServer{url: ts.URL, pki: pki, srv: srv}
}

// do sends a request with cert (none when nil) and returns the status and
// the decoded JSON body.
func (s *testServer) do(t *testing.T, cert *tls.Certificate, method, path string) (int, map[string]any) {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	req, _ := http.NewRequest(method, s.url+path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	data, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, data)
		}
	}
	return resp.StatusCode, body
}

func TestAToolPathNeedsACertificateAndNamesTheCallerOnly(t *testing.T) {
	s := startTestServer(t, echoRoutes(), fixedAccess{"alpha": true, "beta": true})
	alpha := s.pki.client(t, "alpha", "toolforge")
	admin := s.pki.client(t, "alice", "admins")
	cases := []struct {
		name   string
		cert   *tls.Certificate
		method string
		path   string
		want   int
	}{
		{"no certificate on a tool path is 401", nil, "GET", "/jobs/v1/tool/alpha/jobs", 401},
		{"no certificate on an unknown tool path is 401", nil, "GET", "/jobs/v1/tool/alpha/nothing/here", 401},
		{"no certificate on an envvars path is 401", nil, "GET", "/envvars/v1/tool/alpha/envvars", 401},
		{"the caller's own path reaches the handler", &alpha, "GET", "/jobs/v1/tool/alpha/jobs", 200},
		{"a trailing slash is the same path", &alpha, "GET", "/jobs/v1/tool/alpha/jobs/", 200},
		{"another tool's path is 403", &alpha, "GET", "/jobs/v1/tool/beta/jobs", 403},
		{"another tool's envvars are 403", &alpha, "GET", "/envvars/v1/tool/beta/envvars", 403},
		{"a tool that does not exist is 403", &alpha, "GET", "/jobs/v1/tool/nosuchtool/jobs", 403},
		{"another tool's unknown path is 403, not 404", &alpha, "GET", "/jobs/v1/tool/beta/no/such/route", 403},
		{"another tool's path with a wrong method is 403, not 405", &alpha, "PUT", "/jobs/v1/tool/beta/jobs", 403},
		{"a malformed tool name is 403", &alpha, "GET", "/jobs/v1/tool/BE..TA/jobs", 403},
		{"an encoded slash does not smuggle another tool", &alpha, "GET", "/jobs/v1/tool/alpha%2F..%2Fbeta/jobs", 403},
		{"a tool path without a tool is 404", &alpha, "GET", "/jobs/v1/tool/", 404},
		{"another tool's prefix is 403", &alpha, "GET", "/jobs/v1/tool/beta", 403},
		{"the caller's own prefix is 404", &alpha, "GET", "/jobs/v1/tool/alpha/", 404},
		{"a path with a dot segment is 404, not a redirect", &alpha, "GET", "/jobs/v1/tool/alpha/jobs/./x", 404},
		{"a path with a doubled slash is 404, not a redirect", &alpha, "GET", "/jobs/v1/tool/alpha//jobs", 404},
		{"an unknown path outside the services is 404", nil, "GET", "/nothing", 404},
		{"a non-tool certificate is 403", &admin, "GET", "/jobs/v1/tool/alice/jobs", 403},
		{"the caller's unknown path is 404", &alpha, "GET", "/jobs/v1/tool/alpha/nothing", 404},
		{"a dotted job name matches no route", &alpha, "GET", "/jobs/v1/tool/alpha/jobs/..", 404},
		{"the caller's path with a wrong method is 405", &alpha, "PUT", "/jobs/v1/tool/alpha/jobs", 405},
		{"healthz needs no certificate", nil, "GET", HealthzPath("jobs"), 200},
		{"metrics need no certificate", nil, "GET", MetricsPath("jobs"), 200},
		{"openapi.json needs no certificate", nil, "GET", OpenAPIPath("jobs"), 200},
		{"envvars' healthz needs no certificate", nil, "GET", HealthzPath("envvars"), 200},
		{"envvars' metrics need no certificate", nil, "GET", MetricsPath("envvars"), 200},
		{"envvars' openapi.json needs no certificate", nil, "GET", OpenAPIPath("envvars"), 200},
		{"the merged openapi.json needs no certificate", nil, "GET", RootOpenAPIPath, 200},
		{"healthz with a trailing slash", nil, "GET", HealthzPath("jobs") + "/", 200},
		{"healthz with a wrong method is 405", nil, "POST", HealthzPath("jobs"), 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, body := s.do(t, tc.cert, tc.method, tc.path)
			if got != tc.want {
				t.Fatalf("%s %s = %d, want %d (%v)", tc.method, tc.path, got, tc.want, body)
			}
			if !strings.Contains(tc.path, "metrics") && !strings.Contains(tc.path, "openapi.json") {
				if _, ok := body["messages"]; !ok {
					t.Fatalf("response has no messages envelope: %v", body)
				}
			}
		})
	}
}

func TestTheHandlerGetsTheCallerAndPathParameters(t *testing.T) {
	s := startTestServer(t, echoRoutes(), fixedAccess{"alpha": true})
	alpha := s.pki.client(t, "alpha", "toolforge")
	_, body := s.do(t, &alpha, "GET", "/jobs/v1/tool/alpha/jobs/my-job/")
	if body["tool"] != "alpha" {
		t.Fatalf("tool = %v", body["tool"])
	}
	if p := body["params"].(map[string]any); p["name"] != "my-job" || p["tool"] != "alpha" {
		t.Fatalf("params = %v", p)
	}
}

func TestADisabledToolIsRefusedOnItsOwnPath(t *testing.T) {
	s := startTestServer(t, echoRoutes(), fixedAccess{"alpha": true})
	gamma := s.pki.client(t, "gamma", "toolforge")
	code, body := s.do(t, &gamma, "GET", "/jobs/v1/tool/gamma/jobs")
	if code != 403 {
		t.Fatalf("disabled tool got %d", code)
	}
	if msg := body["messages"].(map[string]any)["error"].([]any)[0].(string); !strings.Contains(msg, "disabled") {
		t.Fatalf("message %q does not say why", msg)
	}
}

func TestAnInternalErrorIsA500WithoutDetails(t *testing.T) {
	s := startTestServer(t, echoRoutes(), fixedAccess{"alpha": true})
	alpha := s.pki.client(t, "alpha", "toolforge")
	code, body := s.do(t, &alpha, "GET", "/jobs/v1/tool/alpha/boom")
	if code != 500 {
		t.Fatalf("code = %d", code)
	}
	msg := body["messages"].(map[string]any)["error"].([]any)[0].(string)
	if strings.Contains(msg, "unexpected EOF") {
		t.Fatalf("internal detail leaked to the client: %q", msg)
	}
}

func TestEveryErrorCarriesTheMessagesEnvelope(t *testing.T) {
	s := startTestServer(t, echoRoutes(), fixedAccess{"alpha": true})
	_, body := s.do(t, nil, "GET", "/jobs/v1/tool/alpha/jobs")
	m, ok := body["messages"].(map[string]any)
	if !ok {
		t.Fatalf("no messages: %v", body)
	}
	for _, k := range []string{"info", "warning", "error"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("messages.%s is not a list: %v", k, m)
		}
	}
}

// A route with TokenAuth (the components webhook) also takes a request
// without a certificate whose ?token= its check accepts, as the path's
// tool; anything else is as on any tool route.
func TestATokenRouteTakesTheToolsTokenWithoutACertificate(t *testing.T) {
	echo := func(w http.ResponseWriter, r *route.Request) error {
		return route.WriteJSON(w, http.StatusOK, map[string]any{"tool": r.Tool, "messages": route.NewMessages()})
	}
	check := func(_ context.Context, tool, token string) error {
		if tool == "alpha" && token == "good" {
			return nil
		}
		return route.Errorf(http.StatusUnauthorized, "The given token does not match the tool's token")
	}
	s := startTestServer(t, []API{{Name: "components", Routes: []route.Route{
		{Method: http.MethodPost, Path: "/components/v1/tool/{tool}/deployment", Summary: "deploy", Response: route.Envelope{}, TokenAuth: check, Handle: echo},
		{Method: http.MethodGet, Path: "/components/v1/tool/{tool}/deployment", Summary: "list", Response: route.Envelope{}, Handle: echo},
	}}}, fixedAccess{"alpha": true, "beta": true, "gamma": false})
	beta := s.pki.client(t, "beta", "toolforge")
	for _, tc := range []struct {
		name     string
		cert     *tls.Certificate
		method   string
		path     string
		want     int
		wantTool string
	}{
		{"the tool's token is the tool", nil, "POST", "/components/v1/tool/alpha/deployment?token=good", 200, "alpha"},
		{"a wrong token is 401", nil, "POST", "/components/v1/tool/alpha/deployment?token=bad", 401, ""},
		{"a tool's token is not another tool's", nil, "POST", "/components/v1/tool/beta/deployment?token=good", 401, ""},
		{"no token and no certificate is 401", nil, "POST", "/components/v1/tool/alpha/deployment", 401, ""},
		{"a route without TokenAuth ignores a token", nil, "GET", "/components/v1/tool/alpha/deployment?token=good", 401, ""},
		{"a certificate still decides when given", &beta, "POST", "/components/v1/tool/alpha/deployment?token=good", 403, ""},
		{"a certificate works without a token", &beta, "POST", "/components/v1/tool/beta/deployment", 200, "beta"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := s.do(t, tc.cert, tc.method, tc.path)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %v", code, tc.want, body)
			}
			if tc.wantTool != "" && body["tool"] != tc.wantTool {
				t.Fatalf("handler got tool %v, want %s", body["tool"], tc.wantTool)
			}
			if code == 401 && tc.path == "/components/v1/tool/alpha/deployment?token=bad" && !strings.Contains(fmt.Sprint(body["messages"]), "does not match the tool's token") {
				t.Fatalf("body %v does not say the token does not match", body)
			}
		})
	}
}
