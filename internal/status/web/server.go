// Package web serves the status page: server-rendered HTML (html/template,
// one small stylesheet, no script, nothing from elsewhere) and the same
// data as JSON, for every page; /healthz, /metrics and robots.txt.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/munnerz/goautoneg"

	"github.com/toolforge-go/toolforge/internal/status/pages"
	"github.com/toolforge-go/toolforge/internal/status/wire"
)

// Server is the status page's HTTP handler.
type Server struct {
	pages   *pages.Builder
	ready   func() bool
	log     *slog.Logger
	metrics *metrics
	tmpl    map[string]*template.Template
	mux     *http.ServeMux
	memo    *memo
	tools   *toolPages
}

// Options configure a Server.
type Options struct {
	Pages *pages.Builder
	// Ready says whether the caches have filled; until then pages answer
	// 503 and /healthz fails.
	Ready func() bool
	Log   *slog.Logger
	// Metrics is served on /metrics; Registerer takes the page metrics.
	Metrics    http.Handler
	Registerer Registerer
	// MaxAge bounds how old the whole-cluster pages may be when served
	// (default 1 s).
	MaxAge time.Duration
}

// New builds the server.
func New(o Options) (*Server, error) {
	tmpl, err := parsePages()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	tools, err := newToolPages()
	if err != nil {
		return nil, err
	}
	if o.MaxAge == 0 {
		o.MaxAge = time.Second
	}
	s := &Server{pages: o.Pages, ready: o.Ready, log: o.Log, metrics: m, tmpl: tmpl, mux: http.NewServeMux(), memo: newMemo(o.MaxAge), tools: tools}
	s.page("GET /{$}", "overview", func(r *http.Request) (any, string, error) {
		return s.pages.Overview(), "Cluster overview", nil
	})
	s.page("GET /nodes/{$}", "nodes", func(r *http.Request) (any, string, error) {
		return s.pages.NodeList(), "Nodes", nil
	})
	s.page("GET /nodes/{node}/{$}", "node", func(r *http.Request) (any, string, error) {
		n, err := s.pages.Node(r.PathValue("node"))
		return n, "Node " + n.Name, err
	})
	s.page("GET /tools/{$}", "tools", func(r *http.Request) (any, string, error) {
		return s.pages.ToolList(r.URL.Query().Get("q")), "Tools", nil
	})
	s.page("GET /tools/{tool}/{$}", "tool", func(r *http.Request) (any, string, error) {
		t, err := s.pages.Tool(r.PathValue("tool"))
		return t, "Tool " + t.Name, err
	})
	s.page("GET /tools/{tool}/pods/{pod}/{$}", "pod", func(r *http.Request) (any, string, error) {
		p, err := s.pages.Pod(r.PathValue("tool"), r.PathValue("pod"))
		return p, "Pod " + p.Name, err
	})
	s.page("GET /images/{$}", "images", func(r *http.Request) (any, string, error) {
		return s.pages.Images(), "Images", nil
	})
	// Anything else is a page that does not exist.
	s.page("GET /", "error", func(r *http.Request) (any, string, error) {
		return nil, "", &pages.NotFoundError{Kind: "page", Name: r.URL.Path}
	})
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /robots.txt", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("User-agent: *\nDisallow: /\n"))
	})
	if o.Metrics != nil {
		s.mux.Handle("GET /metrics", o.Metrics)
	}
	static := http.StripPrefix("/static/", http.FileServerFS(staticFiles()))
	s.mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	}))
	return s, nil
}

// ServeHTTP sets the headers every answer carries: no script may run and
// nothing may be loaded from elsewhere, whatever a page shows.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("caches not yet synced\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Formats a page comes in.
const (
	formatHTML = "text/html"
	formatJSON = "application/json"
)

// negotiate picks the format: ?format= when given, else the Accept header
// (HTML when there is none). ok is false for a format we do not serve.
func negotiate(r *http.Request) (format string, ok bool) {
	switch f := r.URL.Query().Get("format"); f {
	case "json":
		return formatJSON, true
	case "html":
		return formatHTML, true
	case "":
	default:
		return "", false
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return formatHTML, true
	}
	f := goautoneg.Negotiate(accept, []string{formatHTML, formatJSON})
	return f, f != ""
}

type builder func(r *http.Request) (data any, title string, err error)

// page registers a page: negotiation, the build, and the answer.
func (s *Server) page(pattern, name string, build builder) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := s.servePage(w, r, name, build)
		s.metrics.observe(name, code, time.Since(start))
	})
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request, name string, build builder) int {
	w.Header().Set("Vary", "Accept")
	w.Header().Set("Cache-Control", "no-cache")
	format, ok := negotiate(r)
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotAcceptable)
		_, _ = w.Write([]byte("406 Not Acceptable: pages are served as text/html or application/json (Accept header, or ?format=html|json)\n"))
		return http.StatusNotAcceptable
	}
	if !s.ready() {
		a := s.render(r, format, "error", "Starting", http.StatusServiceUnavailable,
			wire.Error{Status: http.StatusServiceUnavailable, Error: "the status page is still reading the cluster; try again in a moment"})
		defer a.release()
		return send(w, a)
	}
	if memoized[name] && r.URL.Query().Get("q") == "" {
		// A rebuild may run after this request has been answered.
		rc := r.Clone(context.WithoutCancel(r.Context()))
		return send(w, s.memo.get(name+" "+format, func() answer { return s.answer(rc, format, name, build).kept() }))
	}
	a := s.answer(r, format, name, build)
	defer a.release()
	return send(w, a)
}

// memoized are the pages of the whole cluster (see memo).
var memoized = map[string]bool{"overview": true, "nodes": true, "tools": true, "images": true}

// answer builds and renders a page.
func (s *Server) answer(r *http.Request, format, name string, build builder) answer {
	data, title, err := build(r)
	var nf *pages.NotFoundError
	switch {
	case errors.As(err, &nf):
		if nf.Kind == "tool" {
			s.tools.forget(nf.Name)
		}
		return s.render(r, format, "error", "Not found", http.StatusNotFound,
			wire.Error{Status: http.StatusNotFound, Error: nf.Error(), Kind: nf.Kind, Name: nf.Name})
	case err != nil:
		s.log.Error("build status page", "page", name, "path", r.URL.Path, "err", err)
		return s.render(r, format, "error", "Error", http.StatusInternalServerError,
			wire.Error{Status: http.StatusInternalServerError, Error: "internal error"})
	}
	return s.render(r, format, name, title, http.StatusOK, data)
}

// render renders data in format, whole, so that a failing template cannot
// leave half a page.
func (s *Server) render(r *http.Request, format, name, title string, code int, data any) answer {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	if format == formatJSON {
		if err := json.NewEncoder(buf).Encode(data); err != nil {
			buffers.Put(buf)
			return s.fail(name, err)
		}
		return answer{code: code, contentType: "application/json", body: buf.Bytes(), buf: buf}
	}
	v := view{Title: title, Nav: nav(name), Observed: time.Now().UTC().Truncate(time.Second), JSONURL: jsonURL(r.URL), Data: data}
	if p, ok := observed(data); ok {
		v.Observed = p
	}
	var err error
	if t, ok := data.(wire.Tool); ok && name == "tool" {
		err = s.tools.render(buf, v, t)
	} else {
		err = s.tmpl[name].ExecuteTemplate(buf, "layout", v)
	}
	if err != nil {
		buffers.Put(buf)
		return s.fail(name, err)
	}
	return answer{code: code, contentType: "text/html; charset=utf-8", body: buf.Bytes(), buf: buf}
}

// buffers are reused for rendering: pages are tens of kilobytes, and
// growing a new buffer for each would be most of what a request allocates.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *Server) fail(name string, err error) answer {
	s.log.Error("render status page", "page", name, "err", err)
	return answer{code: http.StatusInternalServerError, contentType: "text/plain; charset=utf-8", body: []byte("internal error\n")}
}

func send(w http.ResponseWriter, a answer) int {
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.code)
	_, _ = w.Write(a.body)
	return a.code
}

// observed is the observation time of a page's data.
func observed(data any) (time.Time, bool) {
	p, ok := data.(interface{ Observed() time.Time })
	if !ok {
		return time.Time{}, false
	}
	return p.Observed(), true
}

func nav(page string) string {
	switch page {
	case "overview":
		return "overview"
	case "nodes", "node":
		return "nodes"
	case "tools", "tool", "pod":
		return "tools"
	case "images":
		return "images"
	}
	return ""
}

// jsonURL is the page's own URL asking for JSON.
func jsonURL(u *url.URL) string {
	q := u.Query()
	q.Set("format", "json")
	return (&url.URL{Path: u.Path, RawQuery: q.Encode()}).String()
}
