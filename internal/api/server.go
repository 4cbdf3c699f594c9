// Package api is `toolforged api`: the HTTPS server of the jobs and
// envvars APIs. It routes with Go's http.ServeMux patterns from one table
// per service (which also generates the OpenAPI documents), authenticates
// every route whose pattern has a {tool} wildcard by the caller's client
// certificate (mTLS; the tool is the CN of a certificate with
// O=toolforge), refuses a path naming any other tool before looking at
// anything else, and acts in the caller's namespace only, with its own
// least-privilege identity.
package api

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// API is one service under its own prefix (/<Name>/...): its routes, and
// the public healthz, metrics and openapi.json the server adds to it.
type API struct {
	Name   string
	Routes []route.Route
}

// Public paths of a service (no certificate needed), and the root
// document merging every service's.
func HealthzPath(service string) string { return "/" + service + "/v1/healthz" }
func MetricsPath(service string) string { return "/" + service + "/v1/metrics" }
func OpenAPIPath(service string) string { return "/" + service + "/openapi.json" }

// RootOpenAPIPath is the document of every service.
const RootOpenAPIPath = "/openapi.json"

// toolParam is the wildcard that makes a route a tool's.
const toolParam = "tool"

// Access decides whether an authenticated tool may use the API at all (a
// disabled tool may not).
type Access interface {
	Allowed(ctx context.Context, tool string) (bool, error)
}

// Server routes and authenticates API requests.
type Server struct {
	mux     *http.ServeMux
	routes  []route.Route
	access  Access
	log     *slog.Logger
	metrics *metrics
}

// NewServer serves the services' routes, each service with its healthz,
// metrics and openapi.json, and the merged /openapi.json. Metrics are
// registered with reg and served from gatherer.
func NewServer(services []API, access Access, log *slog.Logger, reg prometheus.Registerer, gatherer prometheus.Gatherer) (*Server, error) {
	s := &Server{mux: http.NewServeMux(), access: access, log: log}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	metricsHandler := promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
	var all []route.Route
	for _, svc := range services {
		routes := append(slices.Clone(svc.Routes), publicRoutes(svc.Name, metricsHandler)...)
		doc, err := openAPIRoute(OpenAPIPath(svc.Name), "The "+svc.Name+" API (OpenAPI 3.1)", routes)
		if err != nil {
			return nil, err
		}
		routes = append(routes, doc)
		all = append(all, routes...)
	}
	root, err := openAPIRoute(RootOpenAPIPath, "Every API of this server (OpenAPI 3.1)", all)
	if err != nil {
		return nil, err
	}
	s.routes = append(all, root)
	if err := s.register(); err != nil {
		return nil, err
	}
	return s, nil
}

// Routes is the full route table, public routes included.
func (s *Server) Routes() []route.Route { return slices.Clone(s.routes) }

// Health is the body of healthz.
type Health struct {
	Status   string         `json:"status"`
	Messages route.Messages `json:"messages"`
}

func publicRoutes(service string, metricsHandler http.Handler) []route.Route {
	return []route.Route{
		{Method: http.MethodGet, Path: HealthzPath(service), Summary: "Whether the API server is up", Response: Health{},
			Handle: func(w http.ResponseWriter, _ *route.Request) error {
				return route.WriteJSON(w, http.StatusOK, Health{Status: "OK", Messages: route.NewMessages()})
			}},
		{Method: http.MethodGet, Path: MetricsPath(service), Summary: "Prometheus metrics", ContentType: "text/plain",
			Handle: func(w http.ResponseWriter, r *route.Request) error {
				metricsHandler.ServeHTTP(w, r.Request)
				return nil
			}},
	}
}

// openAPIRoute serves the OpenAPI document of routes, itself included.
func openAPIRoute(path, summary string, routes []route.Route) (route.Route, error) {
	rt := route.Route{Method: http.MethodGet, Path: path, Summary: summary, ContentType: "application/json"}
	doc, err := json.MarshalIndent(OpenAPI(append(slices.Clone(routes), rt)), "", "  ")
	if err != nil {
		return rt, fmt.Errorf("openapi document %s: %w", path, err)
	}
	rt.Handle = func(w http.ResponseWriter, _ *route.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(doc)
		return err
	}
	return rt, nil
}

// register turns the table into ServeMux patterns: "METHOD /path" and its
// trailing-slash form for each route; per path, a pattern without a method
// that answers 405 naming the methods it has; per tool prefix (the path up
// to {tool}), patterns that answer what has no route below it; and a
// catch-all 404. Each of those fallbacks is a route too, so one with {tool}
// is authenticated like any: another tool's path is 403 whatever follows.
func (s *Server) register() (err error) {
	defer func() {
		// ServeMux panics on conflicting patterns: a table error.
		if r := recover(); r != nil {
			err = fmt.Errorf("route table: %v", r)
		}
	}()
	methods := map[string][]string{}
	var paths, prefixes []string
	for _, rt := range s.routes {
		for _, p := range withTrailingSlash(rt.Path) {
			s.mux.Handle(rt.Method+" "+p, s.handler(rt))
		}
		if methods[rt.Path] == nil {
			paths = append(paths, rt.Path)
		}
		methods[rt.Path] = append(methods[rt.Path], rt.Method)
		if pre, _, ok := strings.Cut(rt.Path, "{"+toolParam+"}"); ok && !slices.Contains(prefixes, pre) {
			prefixes = append(prefixes, pre)
		}
	}
	for _, p := range paths {
		allowed := strings.Join(methods[p], ", ")
		rt := route.Route{Path: p, Handle: func(w http.ResponseWriter, r *route.Request) error {
			w.Header().Set("Allow", allowed)
			return route.Errorf(http.StatusMethodNotAllowed, "method %s is not allowed here; allowed: %s", r.Method, allowed)
		}}
		for _, pat := range withTrailingSlash(p) {
			s.mux.Handle(pat, s.handler(rt))
		}
	}
	notFound := func(_ http.ResponseWriter, r *route.Request) error {
		return route.NotFound("no such API path: %s", r.URL.Path)
	}
	for _, pre := range prefixes {
		// The tool's own prefix, and anything below it.
		tool := pre + "{" + toolParam + "}"
		s.mux.Handle(tool, s.handler(route.Route{Path: tool, Handle: notFound}))
		s.mux.Handle(tool+"/", s.handler(route.Route{Path: tool + "/", Handle: notFound}))
	}
	s.mux.Handle("/", s.handler(route.Route{Path: "/", Handle: notFound}))
	return nil
}

// withTrailingSlash is a path and the same path with a slash after it
// (exactly that: {$} keeps it from matching a subtree).
func withTrailingSlash(p string) []string {
	if p == "/" {
		return []string{p}
	}
	return []string{p, p + "/{$}"}
}

// paramRE is what a path parameter other than the tool may be: job and
// envvar names all fit; dots (and so "..") and encoded slashes never do.
var paramRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,253}$`)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// ServeMux would redirect a path with . or .. segments or doubled
	// slashes to its clean form; the API has no such paths. The escaped
	// path is checked, so an encoded slash stays inside its segment.
	p := r.URL.EscapedPath()
	if clean := path.Clean(p); clean != strings.TrimSuffix(p, "/") && clean != p {
		route.WriteError(w, route.NotFound("no such API path: %s", r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// handler serves one route: it authenticates a route with {tool} before
// anything else, checks the other parameters, calls the route's handler,
// and logs and counts the request under the route's template.
func (s *Server) handler(rt route.Route) http.Handler {
	params := pathParams(rt.Path)
	label := rt.Path
	if rt.Method == "" {
		label = "unmatched"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		tool := ""
		defer func() {
			took := time.Since(start)
			s.metrics.observe(label, r.Method, rec.status(), took)
			level := slog.LevelInfo
			if r.Method == http.MethodGet && rec.code < 300 {
				level = slog.LevelDebug // reads are many and change nothing
			}
			s.log.Log(r.Context(), level, "request", "method", r.Method, "route", label, "tool", tool, "status", rec.status(), "ms", took.Milliseconds())
		}()
		if slices.Contains(params, toolParam) {
			authenticate := s.authenticate
			if rt.TokenAuth != nil && !hasClientCert(r) && r.URL.Query().Has("token") {
				authenticate = func(r *http.Request) (string, error) { return s.authenticateToken(r, rt.TokenAuth) }
			}
			caller, err := authenticate(r)
			if err != nil {
				route.WriteError(rec, err)
				return
			}
			tool = caller
		}
		req := &route.Request{Request: r, Tool: tool, Params: map[string]string{}}
		for _, name := range params {
			v := r.PathValue(name)
			if name != toolParam && !paramRE.MatchString(v) {
				route.WriteError(rec, route.NotFound("no such API path: %s", r.URL.Path))
				return
			}
			req.Params[name] = v
		}
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
	})
}

// authenticate is the caller of a tool route: the tool of its verified
// client certificate, which must be the tool the path names (before
// anything else, and whatever the rest of the path is: another tool's path
// is forbidden, existing or not), and which may use the API.
func (s *Server) authenticate(r *http.Request) (string, error) {
	caller, err := callerTool(r)
	if err != nil {
		return "", err
	}
	if named := r.PathValue(toolParam); named != caller {
		return caller, route.Errorf(http.StatusForbidden, "tool %q may not act on tool %q's path", caller, named)
	}
	ok, err := s.access.Allowed(r.Context(), caller)
	if err != nil {
		s.log.Error("check tool access", "tool", caller, "err", err)
		return caller, err
	}
	if !ok {
		return caller, route.Errorf(http.StatusForbidden, "tool %q may not use the API: it is disabled or not provisioned", caller)
	}
	return caller, nil
}

// authenticateToken is the path's tool when the request's ?token= is its
// token (a push webhook's route: no certificate), and the tool may use
// the API.
func (s *Server) authenticateToken(r *http.Request, check func(ctx context.Context, tool, token string) error) (string, error) {
	tool := r.PathValue(toolParam)
	if err := tenancy.ValidateName(tool); err != nil {
		return "", route.NotFound("no such tool %q", tool)
	}
	if err := check(r.Context(), tool, r.URL.Query().Get("token")); err != nil {
		return "", err
	}
	ok, err := s.access.Allowed(r.Context(), tool)
	if err != nil {
		s.log.Error("check tool access", "tool", tool, "err", err)
		return tool, err
	}
	if !ok {
		return tool, route.Errorf(http.StatusForbidden, "tool %q may not use the API: it is disabled or not provisioned", tool)
	}
	return tool, nil
}

func hasClientCert(r *http.Request) bool {
	return r.TLS != nil && len(r.TLS.PeerCertificates) > 0
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
