// Package server serves the logs API (/logs/v1/tool/{tool}/...) on the
// platform's API server: a tool's job, web service and build lines, and the
// platform's events about them, read from the log store in the tool's own
// tenant (the caller's, from its certificate: the API server has refused
// any other tool's path before a handler runs). The CLI does not link it.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/logs/store"
	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Server answers from the store.
type Server struct {
	// Store is nil when the platform keeps no logs: every route then
	// answers 503, and the CLI shows the kubelet's logs.
	Store *store.Client
	// Kube reads the lines of the source's current pods from their
	// kubelets, for what the store does not have yet (the collector sends
	// lines within a second or two: a job that just ended may not be all
	// there). Nil: the store's lines only.
	Kube      kubernetes.Interface
	Retention time.Duration
	Log       *slog.Logger
	now       func() time.Time
}

// source is what a route reads: a kind of workload and its name (the
// path's {name}, or the tool for its web service).
type source struct {
	kind string
	// what names it in messages ("job 'x'").
	what func(r *route.Request) string
	name func(r *route.Request) string
	// pods selects its pods in the tool's namespace.
	pods func(r *route.Request) string
}

var (
	jobSource = source{kind: logs.KindJob,
		what: func(r *route.Request) string { return "job '" + r.Param("name") + "'" },
		name: func(r *route.Request) string { return r.Param("name") },
		pods: func(r *route.Request) string {
			return labels.SelectorFromSet(labels.Set{tenancy.LabelManagedBy: tenancy.ManagedByJobs, tenancy.LabelAppName: r.Param("name")}).String()
		}}
	webSource = source{kind: logs.KindWebservice,
		what: func(*route.Request) string { return "the web service" },
		name: func(r *route.Request) string { return r.Tool },
		pods: func(r *route.Request) string {
			return labels.SelectorFromSet(labels.Set{tenancy.LabelManagedBy: tenancy.ManagedByWeb, tenancy.LabelComponent: tenancy.ComponentWeb}).String()
		}}
	buildSource = source{kind: logs.KindBuild,
		what: func(r *route.Request) string { return "build '" + r.Param("name") + "'" },
		name: func(r *route.Request) string { return r.Param("name") }}
)

var (
	paramLines  = route.Param{Name: logs.ParamLines, Type: "integer", Description: fmt.Sprintf("the newest N lines (default %d, or up to %d with start; at most %d)", logs.DefaultLines, logs.MaxLines, logs.MaxLines)}
	paramStart  = route.Param{Name: logs.ParamStart, Type: "string", Description: "lines from then on: " + logs.TimeForms}
	paramEnd    = route.Param{Name: logs.ParamEnd, Type: "string", Description: "lines until then (default now): " + logs.TimeForms}
	paramFollow = route.Param{Name: logs.ParamFollow, Type: "boolean", Description: "keep the response open and send new lines as they arrive (as logs_stream)"}
)

// Routes is the logs API's table.
func (s *Server) Routes() []route.Route {
	if s.now == nil {
		s.now = time.Now
	}
	base := "/logs/v1/tool/{tool}"
	var out []route.Route
	for _, src := range []struct {
		path   string
		s      source
		events bool
	}{
		{base + "/job/{name}", jobSource, true},
		{base + "/webservice", webSource, true},
		{base + "/build/{name}", buildSource, false},
	} {
		out = append(out,
			route.Route{Method: http.MethodGet, Path: src.path + "/" + logs.Logs, Summary: "The lines of the " + src.s.kind + "'s containers, oldest first, from every run within the store's retention (JSON, one object a line)",
				Query: []route.Param{paramLines, paramStart, paramEnd, paramFollow}, ContentType: logs.ContentType, Handle: s.handler(src.s, false, false)},
			route.Route{Method: http.MethodGet, Path: src.path + "/" + logs.LogsStream, Summary: "The " + src.s.kind + "'s newest lines, then new ones as they arrive (JSON, one object a line)",
				Query: []route.Param{paramLines, paramStart}, ContentType: logs.ContentType, Handle: s.handler(src.s, false, true)},
		)
		if src.events {
			out = append(out, route.Route{Method: http.MethodGet, Path: src.path + "/" + logs.Events, Summary: "The platform's events about the " + src.s.kind + ": created, updated, deleted, each run's start and exit, OOM kills, failed health checks",
				Query: []route.Param{paramLines, paramStart, paramEnd}, ContentType: logs.ContentType, Handle: s.handler(src.s, true, false)})
		}
	}
	return out
}

// request is a parsed query.
type request struct {
	start, end time.Time
	limit      int
	follow     bool
}

func (s *Server) parse(r *route.Request, stream bool) (request, error) {
	q := r.URL.Query()
	now := s.now()
	req := request{end: now, follow: stream}
	if v := q.Get(logs.ParamStart); v != "" {
		t, err := logs.ParseTime(v, now)
		if err != nil {
			return req, route.BadRequest("Invalid start time: %v", err)
		}
		req.start = t
	}
	if v := q.Get(logs.ParamEnd); v != "" && !stream {
		t, err := logs.ParseTime(v, now)
		if err != nil {
			return req, route.BadRequest("Invalid end time: %v", err)
		}
		req.end = t
	}
	if !req.start.IsZero() && !req.start.Before(req.end) {
		return req, route.BadRequest("Start time must be before end time (start %s, end %s)", req.start.UTC().Format(time.RFC3339), req.end.UTC().Format(time.RFC3339))
	}
	if oldest := now.Add(-s.Retention); !req.start.IsZero() && req.start.Before(oldest.Add(-time.Minute)) {
		return req, route.BadRequest("Start time %s is further back than the log store keeps lines (%s): the oldest possible is %s",
			req.start.UTC().Format(time.RFC3339), retention(s.Retention), oldest.UTC().Format(time.RFC3339))
	}
	if v := q.Get(logs.ParamFollow); v != "" {
		f, err := strconv.ParseBool(v)
		if err != nil {
			return req, route.BadRequest("follow=%q: want true or false", v)
		}
		req.follow = req.follow || f
	}
	req.limit = logs.DefaultLines
	if !req.start.IsZero() {
		req.limit = logs.MaxLines
	}
	if v := q.Get(logs.ParamLines); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > logs.MaxLines {
			return req, route.BadRequest("lines=%q: want a number of lines from 0 to %d", v, logs.MaxLines)
		}
		if n > 0 {
			req.limit = n
		}
	}
	return req, nil
}

func retention(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func (s *Server) handler(src source, events, stream bool) func(http.ResponseWriter, *route.Request) error {
	return func(w http.ResponseWriter, r *route.Request) error {
		if s.Store == nil {
			return route.Errorf(http.StatusServiceUnavailable, "this platform keeps no logs (it has no log store)")
		}
		req, err := s.parse(r, stream)
		if err != nil {
			return err
		}
		tenant := store.TenantOf(r.Tool)
		sel := store.Stream(store.FieldKind, src.kind, store.FieldName, src.name(r))
		if events {
			sel = store.Stream(store.FieldKind, logs.KindEvent, store.FieldOf, src.kind, store.FieldName, src.name(r))
		}
		recs, err := s.Store.Select(r.Context(), tenant, store.Query{LogsQL: sel, Start: req.start, End: req.end, Limit: req.limit})
		if err != nil {
			if store.IsUnavailable(err) {
				return route.Errorf(http.StatusServiceUnavailable, "the log store cannot be reached: %v", err)
			}
			return err
		}
		if !events && !req.follow && src.pods != nil && !req.end.Before(s.now().Add(-time.Second)) {
			recs = s.withKubelet(r.Context(), r.Tool, src.pods(r), recs, req)
		}
		if len(recs) == 0 && !req.follow {
			what := "log lines"
			if events {
				what = "events"
			}
			if req.start.IsZero() {
				return route.NotFound("no %s are stored for %s", what, src.what(r))
			}
			return route.NotFound("no %s are stored for %s from %s to %s", what, src.what(r), req.start.UTC().Format(time.RFC3339), req.end.UTC().Format(time.RFC3339))
		}
		out := &ndjson{w: w}
		for _, rec := range recs {
			if err := out.write(rec); err != nil {
				return err
			}
		}
		out.flush()
		if !req.follow {
			return nil
		}
		return s.follow(r.Context(), tenant, sel, recs, out)
	}
}

// follow sends the lines that arrive after recs. The store's live tail
// starts a little before the newest line sent, so that none falls between
// the two; the lines sent already are skipped.
func (s *Server) follow(ctx context.Context, t store.Tenant, sel string, sent []store.Record, out *ndjson) error {
	from := s.now().Add(-10 * time.Second)
	if n := len(sent); n > 0 {
		if newest := sent[n-1].Time(); newest.Before(from) {
			from = newest
		}
	}
	seen := map[string]bool{}
	for _, rec := range sent {
		if !rec.Time().Before(from) {
			seen[key(rec)] = true
		}
	}
	out.flush()
	return s.Store.Tail(ctx, t, sel, s.now().Sub(from)+time.Second, time.Second, func(rec store.Record) error {
		k := key(rec)
		if seen[k] {
			delete(seen, k)
			return nil
		}
		if err := out.write(rec); err != nil {
			return err
		}
		out.flush()
		return nil
	})
}

func key(r store.Record) string {
	return r[store.FieldTime] + "\x00" + r[store.FieldPod] + "\x00" + r[store.FieldContainer] + "\x00" + r[store.FieldMsg]
}

// ndjson writes lines, the response's header with the first.
type ndjson struct {
	w       http.ResponseWriter
	started bool
}

func (o *ndjson) start() {
	if !o.started {
		o.started = true
		o.w.Header().Set("Content-Type", logs.ContentType)
		o.w.Header().Set("X-Content-Type-Options", "nosniff")
		o.w.WriteHeader(http.StatusOK)
	}
}

func (o *ndjson) write(rec store.Record) error {
	o.start()
	b, err := json.Marshal(logs.Line{Time: rec.Time(), Pod: rec[store.FieldPod], Container: rec[store.FieldContainer], Message: rec[store.FieldMsg], Event: rec[store.FieldEvent]})
	if err != nil {
		return err
	}
	_, err = o.w.Write(append(b, '\n'))
	return err
}

func (o *ndjson) flush() {
	o.start()
	_ = http.NewResponseController(o.w).Flush()
}
