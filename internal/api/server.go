// Package api is `toolforged api`: the HTTPS server of the jobs and
// envvars APIs. It authenticates tools by their client certificates
// (mTLS; the tool is the CN of a certificate with O=toolforge), refuses a
// path naming any other tool before looking at anything else, routes from
// one table (which also generates the OpenAPI document), and acts in the
// caller's namespace only, with its own least-privilege identity.
package api

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/toolforge-go/toolforge/internal/api/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Public paths (no certificate needed).
const (
	HealthzPath = "/jobs/v1/healthz"
	MetricsPath = "/jobs/v1/metrics"
	OpenAPIPath = "/jobs/openapi.json"
)

// toolPrefixes are the path prefixes whose next segment names a tool.
var toolPrefixes = [][]string{{"jobs", "v1", "tool"}, {"envvars", "v1", "tool"}}

// Access decides whether an authenticated tool may use the API at all (a
// disabled tool may not).
type Access interface {
	Allowed(ctx context.Context, tool string) (bool, error)
}

// Server routes and authenticates API requests.
type Server struct {
	routes  []compiled
	access  Access
	log     *slog.Logger
	metrics *metrics
}

type compiled struct {
	route.Route
	segs []string
}

// NewServer serves routes (plus healthz, metrics and openapi.json).
// Metrics are registered with reg and served from gatherer.
func NewServer(routes []route.Route, access Access, log *slog.Logger, reg prometheus.Registerer, gatherer prometheus.Gatherer) (*Server, error) {
	s := &Server{access: access, log: log}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	var doc []byte
	all := append(slices.Clone(routes), s.publicRoutes(gatherer)...)
	all = append(all, route.Route{Method: http.MethodGet, Path: OpenAPIPath, Summary: "This document (OpenAPI 3.1)", ContentType: "application/json",
		Handle: func(w http.ResponseWriter, _ *route.Request) error {
			w.Header().Set("Content-Type", "application/json")
			_, err := w.Write(doc)
			return err
		}})
	doc, err = json.MarshalIndent(OpenAPI(all), "", "  ")
	if err != nil {
		return nil, err
	}
	for _, rt := range all {
		s.routes = append(s.routes, compiled{Route: rt, segs: split(rt.Path)})
	}
	return s, nil
}

// Routes is the full route table, public routes included.
func (s *Server) Routes() []route.Route {
	out := make([]route.Route, len(s.routes))
	for i, c := range s.routes {
		out[i] = c.Route
	}
	return out
}

// Health is the body of healthz.
type Health struct {
	Status   string         `json:"status"`
	Messages route.Messages `json:"messages"`
}

func (s *Server) publicRoutes(gatherer prometheus.Gatherer) []route.Route {
	metricsHandler := promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
	return []route.Route{
		{Method: http.MethodGet, Path: HealthzPath, Summary: "Whether the API server is up", Response: Health{},
			Handle: func(w http.ResponseWriter, _ *route.Request) error {
				return route.WriteJSON(w, http.StatusOK, Health{Status: "OK", Messages: route.NewMessages()})
			}},
		{Method: http.MethodGet, Path: MetricsPath, Summary: "Prometheus metrics", ContentType: "text/plain",
			Handle: func(w http.ResponseWriter, r *route.Request) error {
				metricsHandler.ServeHTTP(w, r.Request)
				return nil
			}},
	}
}

func split(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// paramRE is what a path parameter may be: tool, job and envvar names
// all fit; dots (and so "..") and encoded slashes never do.
var paramRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,253}$`)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	tool, label := "", "unmatched"
	defer func() {
		took := time.Since(start)
		s.metrics.observe(label, r.Method, rec.status(), took)
		level := slog.LevelInfo
		if r.Method == http.MethodGet && rec.code < 300 {
			level = slog.LevelDebug // reads are many and change nothing
		}
		s.log.Log(r.Context(), level, "request", "method", r.Method, "route", label, "tool", tool, "status", rec.status(), "ms", took.Milliseconds())
	}()
	segs, err := pathSegments(r)
	if err != nil {
		route.WriteError(rec, route.BadRequest("malformed path"))
		return
	}
	if named, isTool := toolOfPath(segs); isTool {
		caller, err := callerTool(r)
		if err != nil {
			route.WriteError(rec, err)
			return
		}
		tool = caller
		// Before anything else, and whatever the rest of the path is:
		// another tool's path is forbidden, existing or not.
		if named != caller {
			route.WriteError(rec, route.Errorf(http.StatusForbidden, "tool %q may not act on tool %q's path", caller, named))
			return
		}
		ok, err := s.access.Allowed(r.Context(), caller)
		if err != nil {
			s.log.Error("check tool access", "tool", caller, "err", err)
			route.WriteError(rec, err)
			return
		}
		if !ok {
			route.WriteError(rec, route.Errorf(http.StatusForbidden, "tool %q may not use the API: it is disabled or not provisioned", caller))
			return
		}
	}
	rt, params, allowed := s.match(r.Method, segs)
	if rt == nil {
		if len(allowed) > 0 {
			rec.Header().Set("Allow", strings.Join(allowed, ", "))
			route.WriteError(rec, route.Errorf(http.StatusMethodNotAllowed, "method %s is not allowed here; allowed: %s", r.Method, strings.Join(allowed, ", ")))
			return
		}
		route.WriteError(rec, route.NotFound("no such API path: %s", r.URL.Path))
		return
	}
	label = rt.Path
	req := &route.Request{Request: r, Tool: tool, Params: params}
	if err := rt.Handle(rec, req); err != nil {
		var re *route.Error
		if !errors.As(err, &re) || re.Status >= 500 {
			s.log.Error("request failed", "method", r.Method, "route", label, "tool", tool, "err", err)
		}
		if rec.code != 0 {
			return // a stream had started: the client sees it end early
		}
		route.WriteError(rec, err)
	}
}

// pathSegments splits the escaped path and unescapes each segment, so an
// encoded slash stays inside its segment (and then fails paramRE). One
// trailing slash is allowed.
func pathSegments(r *http.Request) ([]string, error) {
	p := r.URL.EscapedPath()
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	raw := split(p)
	out := make([]string, len(raw))
	for i, seg := range raw {
		u, err := unescape(seg)
		if err != nil {
			return nil, err
		}
		out[i] = u
	}
	return out, nil
}

// toolOfPath is the tool a path names, if it is a tool path. A tool path
// whose tool segment is missing names the empty tool (no one's).
func toolOfPath(segs []string) (string, bool) {
	for _, pre := range toolPrefixes {
		if len(segs) >= len(pre) && slices.Equal(segs[:len(pre)], pre) {
			if len(segs) > len(pre) {
				return segs[len(pre)], true
			}
			return "", true
		}
	}
	return "", false
}

// callerTool is the tool of the request's verified client certificate.
func callerTool(r *http.Request) (string, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", route.Errorf(http.StatusUnauthorized, "a client certificate is required: use your tool's ~/.toolskube/client.crt")
	}
	return toolOfCert(r.TLS.VerifiedChains[0][0])
}

func toolOfCert(c *x509.Certificate) (string, error) {
	if !slices.Contains(c.Subject.Organization, tenancy.ToolGroup) {
		return "", route.Errorf(http.StatusForbidden, "certificate %q is not a tool's (O=%s)", c.Subject.CommonName, tenancy.ToolGroup)
	}
	if err := tenancy.ValidateName(c.Subject.CommonName); err != nil {
		return "", route.Errorf(http.StatusForbidden, "certificate names no valid tool: %v", err)
	}
	return c.Subject.CommonName, nil
}

// match finds the route for method and path; with no route for the
// method, allowed lists the methods the path has.
func (s *Server) match(method string, segs []string) (*compiled, map[string]string, []string) {
	var allowed []string
	for i := range s.routes {
		c := &s.routes[i]
		params, ok := matchSegs(c.segs, segs)
		if !ok {
			continue
		}
		if c.Method == method || (method == http.MethodHead && c.Method == http.MethodGet) {
			return c, params, nil
		}
		if !slices.Contains(allowed, c.Method) {
			allowed = append(allowed, c.Method)
		}
	}
	return nil, nil, allowed
}

func matchSegs(tmpl, segs []string) (map[string]string, bool) {
	if len(tmpl) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, t := range tmpl {
		if strings.HasPrefix(t, "{") {
			if !paramRE.MatchString(segs[i]) {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[strings.Trim(t, "{}")] = segs[i]
			continue
		}
		if t != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// recorder remembers the status written.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) status() string {
	if r.code == 0 {
		return "200"
	}
	return strconv.Itoa(r.code)
}
