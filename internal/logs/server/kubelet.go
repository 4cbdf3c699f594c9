package server

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/logs/store"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// kubeletOverlap is how far before a container's newest stored line the
// kubelet's lines are read too: one pod's lines can reach the store out of
// order across the collector's batches (each flushed within a second), so
// a stored line does not prove that every earlier one is stored.
const kubeletOverlap = 5 * time.Second

// withKubelet adds to the stored lines what the source's current pods'
// kubelets have beyond them: each container's lines from shortly before
// the newest stored one of it, those already stored left out. Both carry
// the container runtime's timestamp of the line, so the two meet exactly.
// Best effort: a kubelet that does not answer leaves the store's lines as
// they are.
func (s *Server) withKubelet(ctx context.Context, tool, selector string, recs []store.Record, req request) []store.Record {
	if s.Kube == nil {
		return recs
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ns := tenancy.Namespace(tool)
	pods, err := s.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		s.Log.Debug("list the pods of a logs source", "tool", tool, "err", err)
		return recs
	}
	newest := map[string]time.Time{}
	stored := map[string]bool{}
	for _, r := range recs {
		k := r[store.FieldPod] + "/" + r[store.FieldContainer]
		t := r.Time()
		if t.After(newest[k]) {
			newest[k] = t
		}
		stored[k+"/"+strconv.FormatInt(t.UnixNano(), 10)] = true
	}
	added := false
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil && cs.LastTerminationState.Terminated == nil {
				continue
			}
			k := p.Name + "/" + cs.Name
			after := newest[k]
			if !after.IsZero() {
				after = after.Add(-kubeletOverlap)
			}
			opts := &corev1.PodLogOptions{Container: cs.Name, Timestamps: true}
			if !after.IsZero() {
				opts.SinceTime = &metav1.Time{Time: after}
			} else if !req.start.IsZero() {
				opts.SinceTime = &metav1.Time{Time: req.start}
			}
			if req.limit > 0 {
				n := int64(req.limit)
				opts.TailLines = &n
			}
			rc, err := s.Kube.CoreV1().Pods(ns).GetLogs(p.Name, opts).Stream(ctx)
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
			for sc.Scan() {
				ts, msg, ok := strings.Cut(sc.Text(), " ")
				if !ok {
					continue
				}
				t, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil || !t.After(after) || t.Before(req.start) || t.After(req.end) || stored[k+"/"+strconv.FormatInt(t.UnixNano(), 10)] {
					continue
				}
				recs = append(recs, store.Record{store.FieldTime: t.UTC().Format(time.RFC3339Nano), store.FieldMsg: msg, store.FieldPod: p.Name, store.FieldContainer: cs.Name})
				added = true
			}
			rc.Close()
		}
	}
	if !added {
		return recs
	}
	store.SortByTime(recs)
	if req.limit > 0 && len(recs) > req.limit {
		recs = recs[len(recs)-req.limit:]
	}
	return recs
}
