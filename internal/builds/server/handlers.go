package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/toolforge-go/toolforge/internal/builds"
	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/route"
)

const base = "/builds/v1/tool/{tool}"

// maxBody bounds a start request (64 variables of a few KiB each).
const maxBody = 256 << 10

// Routes are the builds API's paths, as the original's.
func (s *Service) Routes() []route.Route {
	return []route.Route{
		{Method: http.MethodPost, Path: base + "/builds", Summary: "Start a build of a git repository into the tool's image", Request: builds.Parameters{}, Response: builds.StartResponse{}, Handle: s.handleStart},
		{Method: http.MethodGet, Path: base + "/builds", Summary: "List the tool's builds, newest first", Response: builds.ListResponse{}, Handle: s.handleList},
		// "latest" is a build ID too (IDs are <tool>-…, never that).
		{Method: http.MethodGet, Path: base + "/builds/{id}", Summary: "Show a build (id latest: the tool's newest)", Response: builds.BuildResponse{}, Handle: s.handleGet},
		{Method: http.MethodDelete, Path: base + "/builds/{id}", Summary: "Delete a build, and its image unless it is the latest", Response: builds.IDResponse{}, Handle: s.handleDelete},
		{Method: http.MethodPut, Path: base + "/builds/{id}/cancel", Summary: "Cancel a running build", Response: builds.IDResponse{}, Handle: s.handleCancel},
		{Method: http.MethodGet, Path: base + "/builds/{id}/logs", Summary: "A build's log, as JSON lines ({\"line\": …}); follow=true streams it until the build ends",
			Query:       []route.Param{{Name: "follow", Type: "boolean", Description: "stream until the build ends"}},
			ContentType: "application/jsonl", Handle: s.handleLogs},
		{Method: http.MethodGet, Path: base + "/quotas", Summary: "Show the tool's registry storage quota", Response: builds.QuotaResponse{}, Handle: s.handleQuota},
		{Method: http.MethodPost, Path: base + "/clean", Summary: "Delete every image of the tool", Response: builds.CleanResponse{}, Handle: s.handleClean},
	}
}

func (s *Service) handleStart(w http.ResponseWriter, r *route.Request) error {
	var p builds.Parameters
	if err := route.DecodeJSON(r, maxBody, &p); err != nil {
		return err
	}
	b, msgs, err := s.Start(r.Context(), r.Tool, p)
	if err != nil {
		return err
	}
	rep := s.report(b)
	return route.WriteJSON(w, http.StatusOK, builds.StartResponse{NewBuild: builds.NewBuild{Name: b.Name, Parameters: rep.Parameters}, Messages: msgs})
}

func (s *Service) handleList(w http.ResponseWriter, r *route.Request) error {
	l, err := s.list(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	out := builds.ListResponse{Builds: []builds.Build{}, Messages: route.NewMessages()}
	for i := range l {
		out.Builds = append(out.Builds, s.report(&l[i]))
	}
	return route.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) handleGet(w http.ResponseWriter, r *route.Request) error {
	get := s.get
	if r.Param("id") == "latest" {
		get = func(ctx context.Context, tool, _ string) (*v1alpha1.Build, error) { return s.latest(ctx, tool) }
	}
	b, err := get(r.Context(), r.Tool, r.Param("id"))
	if err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, builds.BuildResponse{Build: s.report(b), Messages: route.NewMessages()})
}

func (s *Service) handleDelete(w http.ResponseWriter, r *route.Request) error {
	id := r.Param("id")
	if err := s.Delete(r.Context(), r.Tool, id); err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, builds.IDResponse{ID: id, Messages: route.NewMessages()})
}

func (s *Service) handleCancel(w http.ResponseWriter, r *route.Request) error {
	id := r.Param("id")
	if err := s.Cancel(r.Context(), r.Tool, id); err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, builds.IDResponse{ID: id, Messages: route.NewMessages()})
}

func (s *Service) handleQuota(w http.ResponseWriter, r *route.Request) error {
	q, err := s.Quota(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, builds.QuotaResponse{Quota: q, Messages: route.NewMessages()})
}

func (s *Service) handleClean(w http.ResponseWriter, r *route.Request) error {
	lines, err := s.Clean(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	m := route.NewMessages()
	m.Info = append(m.Info, lines...)
	return route.WriteJSON(w, http.StatusOK, builds.CleanResponse{Messages: m})
}

// logsWait is how long a followed log waits for its build pod to start.
const logsWait = 10 * time.Minute

// handleLogs streams a build's log from its pod (through the kubelet; a
// finished build keeps its pod, so its log stays until retention deletes
// the build).
func (s *Service) handleLogs(w http.ResponseWriter, r *route.Request) error {
	follow := false
	if v := r.URL.Query().Get("follow"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return route.BadRequest("follow=%q: want true or false", v)
		}
		follow = b
	}
	ctx := r.Context()
	id := r.Param("id")
	b, err := s.get(ctx, r.Tool, id)
	if err != nil {
		return err
	}
	pod, err := s.startedPod(ctx, b, follow)
	if err != nil {
		return err
	}
	stream, err := s.Kube.CoreV1().Pods(v1alpha1.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: BuildContainer, Follow: follow}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("log of build %s: %w", id, err)
	}
	defer stream.Close()
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	sc := bufio.NewScanner(stream)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if err := enc.Encode(builds.LogLine{Line: sc.Text()}); err != nil {
			return nil // the client went away
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		_ = enc.Encode(builds.LogLine{Message: fmt.Sprintf("the log of build %s ended early: %v", id, err)})
	}
	return nil
}

// startedPod is the build's pod once its build container has started
// (waiting for it when following).
func (s *Service) startedPod(ctx context.Context, b *v1alpha1.Build, follow bool) (*corev1.Pod, error) {
	var found *corev1.Pod
	check := func(ctx context.Context) (bool, error) {
		pod, err := s.pod(ctx, b.Name)
		if err != nil || pod == nil {
			return false, err
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.Name == BuildContainer && (cs.State.Running != nil || cs.State.Terminated != nil) {
				found = pod
				return true, nil
			}
		}
		return false, nil
	}
	if ok, err := check(ctx); err != nil {
		return nil, err
	} else if ok {
		return found, nil
	}
	var cur v1alpha1.Build
	if b.Status.Finished() {
		return nil, route.NotFound("build %s has no log: %s", b.Name, b.Status.Message)
	}
	if !follow {
		return nil, route.NotFound("build %s has not started yet; follow its log with `toolforge build logs -f %s`", b.Name, b.Name)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, logsWait, true, func(ctx context.Context) (bool, error) {
		if ok, err := check(ctx); ok || err != nil {
			return ok, err
		}
		if err := s.Reader.Get(ctx, clientKey(b), &cur); err == nil && cur.Status.Finished() {
			return false, route.NotFound("build %s ended without a log: %s", b.Name, cur.Status.Message)
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// Disabled are the builds API's routes on a platform without a build
// service: each says so (503) rather than "no such path".
func Disabled(reason string) []route.Route {
	routes := (&Service{}).Routes()
	for i := range routes {
		routes[i].Handle = func(http.ResponseWriter, *route.Request) error {
			return route.Errorf(http.StatusServiceUnavailable, "%s", reason)
		}
	}
	return routes
}
