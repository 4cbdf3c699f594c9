package server

import (
	"context"
	"encoding/json"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"net/http"
	"strconv"

	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// maxJobBody bounds a job definition's JSON.
const maxJobBody = 64 << 10

const (
	base  = "/jobs/v1/tool/{tool}"
	byJob = base + "/jobs/{name}"
)

// Routes are the jobs API's paths (SPEC §6).
func (s *Store) Routes() []route.Route {
	return []route.Route{
		{Method: http.MethodGet, Path: base + "/jobs", Summary: "List the tool's jobs", Response: jobs.JobList{}, Handle: s.handleList},
		{Method: http.MethodPost, Path: base + "/jobs", Summary: "Create a job", Request: jobs.Job{}, Response: jobs.JobResponse{}, Status: http.StatusCreated, Handle: s.handleCreate},
		{Method: http.MethodPatch, Path: base + "/jobs", Summary: "Create or update a job to match a definition; an unchanged job is left alone", Request: jobs.Job{}, Response: jobs.ApplyResponse{},
			Query: []route.Param{{Name: "dry_run", Type: "boolean", Description: "check the definition (catalogue, limits, quota) and say what would be done, changing nothing"}}, Handle: s.handleApply},
		{Method: http.MethodDelete, Path: base + "/jobs", Summary: "Delete every job of the tool", Response: jobs.FlushResponse{}, Handle: s.handleFlush},
		{Method: http.MethodGet, Path: byJob, Summary: "Show a job", Response: jobs.JobResponse{}, Handle: s.handleGet},
		{Method: http.MethodDelete, Path: byJob, Summary: "Delete a job", Response: route.Envelope{}, Handle: s.handleDelete},
		{Method: http.MethodGet, Path: byJob + "/logs", Summary: "Stream the logs of a job's pods", ContentType: "text/plain",
			Query: []route.Param{
				{Name: "follow", Type: "boolean", Description: "keep streaming new lines"},
				{Name: "lines", Type: "integer", Description: "only the last N lines of each pod"},
			}, Handle: s.handleLogs},
		{Method: http.MethodPost, Path: byJob + "/restart", Summary: "Restart a job: roll a continuous job's pods, run a scheduled job now, run a one-off job again", Response: route.Envelope{}, Handle: s.handleRestart},
		{Method: http.MethodGet, Path: base + "/images", Summary: "List the images jobs can run", Response: jobs.ImageList{}, Handle: s.handleImages},
		{Method: http.MethodGet, Path: base + "/quotas", Summary: "Show the tool's quota and per-job limits", Response: jobs.QuotaResponse{}, Handle: s.handleQuota},
	}
}

func (s *Store) handleList(w http.ResponseWriter, r *route.Request) error {
	body, err := s.ListJSON(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(body)
	return err
}

// ListJSON is the encoded list response of the tool's jobs, made again
// only when something in its namespace (or the catalogue) changed: lists
// are frequent (scripts poll them), changes rare.
func (s *Store) ListJSON(ctx context.Context, tool string) ([]byte, error) {
	ns := tenancy.Namespace(tool)
	s.fence(ctx, ns)
	gen, _ := s.changes.current(ns) // before reading: a change after it invalidates
	cat, err := s.Images(ctx)
	if err != nil {
		return nil, err
	}
	s.listMu.Lock()
	c := s.lists[ns]
	s.listMu.Unlock()
	if c != nil && c.gen == gen && c.cat == cat {
		return c.body, nil
	}
	list, err := s.List(ctx, tool)
	if err != nil {
		return nil, err
	}
	m := route.NewMessages()
	for _, j := range list {
		for _, d := range j.Drift {
			m.Warnf("job '%s': %s", j.Name, d)
		}
	}
	body, err := json.Marshal(jobs.JobList{Jobs: list, Messages: m})
	if err != nil {
		return nil, err
	}
	body = append(body, '\n')
	s.listMu.Lock()
	if s.lists == nil || len(s.lists) > maxCachedLists {
		s.lists = map[string]*cachedList{}
	}
	s.lists[ns] = &cachedList{gen: gen, cat: cat, body: body}
	s.listMu.Unlock()
	return body, nil
}

// maxCachedLists bounds the memory the list cache takes.
const maxCachedLists = 5000

func (s *Store) handleCreate(w http.ResponseWriter, r *route.Request) error {
	var j jobs.Job
	if err := route.DecodeJSON(r, maxJobBody, &j); err != nil {
		return err
	}
	info, warnings, err := s.Create(r.Context(), r.Tool, &j)
	if err != nil {
		return err
	}
	m := route.NewMessages()
	m.Warning = append(m.Warning, warnings...)
	m.Infof("Job '%s' created", info.Name)
	return route.WriteJSON(w, http.StatusCreated, jobs.JobResponse{Job: *info, Messages: m})
}

func (s *Store) handleApply(w http.ResponseWriter, r *route.Request) error {
	var j jobs.Job
	if err := route.DecodeJSON(r, maxJobBody, &j); err != nil {
		return err
	}
	apply := s.Apply
	dryRun := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		var err error
		if dryRun, err = strconv.ParseBool(v); err != nil {
			return route.BadRequest("dry_run=%q: want true or false", v)
		}
	}
	if dryRun {
		apply = s.CheckApply
	}
	result, info, warnings, err := apply(r.Context(), r.Tool, &j)
	if err != nil {
		return err
	}
	m := route.NewMessages()
	m.Warning = append(m.Warning, warnings...)
	switch {
	case dryRun:
		m.Infof("Job '%s' would be %s", info.Name, result)
	case result == jobs.Unchanged:
		m.Infof("Job '%s' is already up to date", info.Name)
	default:
		m.Infof("Job '%s' %s", info.Name, result)
	}
	return route.WriteJSON(w, http.StatusOK, jobs.ApplyResponse{Job: *info, Result: result, Messages: m})
}

func (s *Store) handleFlush(w http.ResponseWriter, r *route.Request) error {
	n, err := s.Flush(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	m := route.NewMessages()
	m.Infof("%d job(s) deleted", n)
	return route.WriteJSON(w, http.StatusOK, jobs.FlushResponse{Deleted: n, Messages: m})
}

func (s *Store) handleGet(w http.ResponseWriter, r *route.Request) error {
	info, err := s.Get(r.Context(), r.Tool, r.Param("name"))
	if err != nil {
		return err
	}
	m := route.NewMessages()
	for _, d := range info.Drift {
		m.Warnf("job '%s': %s", info.Name, d)
	}
	return route.WriteJSON(w, http.StatusOK, jobs.JobResponse{Job: *info, Messages: m})
}

func (s *Store) handleDelete(w http.ResponseWriter, r *route.Request) error {
	name := r.Param("name")
	if err := s.Delete(r.Context(), r.Tool, name); err != nil {
		return err
	}
	m := route.NewMessages()
	m.Infof("Job '%s' deleted", name)
	return route.WriteJSON(w, http.StatusOK, route.Envelope{Messages: m})
}

func (s *Store) handleRestart(w http.ResponseWriter, r *route.Request) error {
	msg, err := s.Restart(r.Context(), r.Tool, r.Param("name"))
	if err != nil {
		return err
	}
	m := route.NewMessages()
	m.Infof("%s", msg)
	return route.WriteJSON(w, http.StatusOK, route.Envelope{Messages: m})
}

func (s *Store) handleLogs(w http.ResponseWriter, r *route.Request) error {
	var o LogOptions
	q := r.URL.Query()
	if v := q.Get("follow"); v != "" {
		f, err := strconv.ParseBool(v)
		if err != nil {
			return route.BadRequest("follow=%q: want true or false", v)
		}
		o.Follow = f
	}
	if v := q.Get("lines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return route.BadRequest("lines=%q: want a number of lines (-l N)", v)
		}
		o.Lines = n
	}
	return s.Logs(r.Context(), r.Tool, r.Param("name"), o, &lazyStream{w: w})
}

// lazyStream sends the response header with the first line, so that a job
// whose pods say nothing still gets a JSON error rather than an empty 200.
type lazyStream struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyStream) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		l.w.Header().Set("X-Content-Type-Options", "nosniff")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

func (l *lazyStream) Flush() {
	if l.started {
		_ = http.NewResponseController(l.w).Flush()
	}
}

func (s *Store) handleImages(w http.ResponseWriter, r *route.Request) error {
	cat, err := s.Images(r.Context())
	if err != nil {
		return err
	}
	out := jobs.ImageList{Images: []jobs.ImageInfo{}, Messages: route.NewMessages()}
	for _, img := range cat.All() {
		// Every other name that resolves to the image: its aliases and
		// image names, as `toolforge jobs images` shows them.
		out.Images = append(out.Images, jobs.ImageInfo{Shortname: img.Name, Image: img.JobImage(), Aliases: img.Names()[1:], State: img.State})
	}
	if s.BuiltImages != nil {
		own, err := s.BuiltImages(r.Context(), r.Tool)
		if err != nil {
			out.Messages.Warnf("the tool's own images cannot be listed: %v", err)
		}
		out.Images = append(out.Images, own...)
	}
	return route.WriteJSON(w, http.StatusOK, out)
}

func (s *Store) handleQuota(w http.ResponseWriter, r *route.Request) error {
	q, err := s.Quota(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, jobs.QuotaResponse{Quota: *q, Messages: route.NewMessages()})
}
