// Package events writes the platform's own lines about tools' workloads
// into their log store tenants (`toolforged logs-events`): a job or web
// service created, updated, restarted or deleted; each run's start and
// its exit code; OOM kills; failed health checks and back-offs. The
// CLI shows them with `--events`, the status page the last few.
//
// Each event has an id made of what it is about (an object's uid, a
// container's run), so writing one twice is noticed: the leader writes
// what it sees, and what happened before it started leading (a restart,
// another leader) is written only when the store does not have it yet.
package events

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Event is one line to write.
type Event struct {
	Tool string
	// Of and Name are the workload (job or webservice, and its name).
	Of, Name string
	// Pod and Container, for a run's events.
	Pod, Container string
	Time           time.Time
	// Reason is what happened: created, updated, restarted, deleted,
	// started, exited, oomkilled, unhealthy, backoff, failed.
	Reason  string
	Message string
	// ID identifies the event: the same event seen again has the same.
	ID string
}

// subject is the workload an object of a tool's namespace belongs to.
func subject(meta metav1.Object) (tool, of, name string, ok bool) {
	tool, ok = tenancy.ToolOfNamespace(meta.GetNamespace())
	if !ok {
		return "", "", "", false
	}
	l := meta.GetLabels()
	switch {
	case l[tenancy.LabelManagedBy] == tenancy.ManagedByWeb && l[tenancy.LabelComponent] == tenancy.ComponentWeb:
		return tool, logs.KindWebservice, tool, true
	case l[tenancy.LabelManagedBy] == tenancy.ManagedByJobs && l[tenancy.LabelAppName] != "":
		switch l[tenancy.LabelComponent] {
		case tenancy.ComponentJobs, tenancy.ComponentCron, tenancy.ComponentDeploy:
			return tool, logs.KindJob, l[tenancy.LabelAppName], true
		}
	}
	return "", "", "", false
}

func newEvent(meta metav1.Object, reason, msg, id string, t time.Time) (Event, bool) {
	tool, of, name, ok := subject(meta)
	if !ok {
		return Event{}, false
	}
	return Event{Tool: tool, Of: of, Name: name, Time: t, Reason: reason, Message: msg, ID: id}, true
}

// workloadKind says what a job or web service object is, in words.
func workloadKind(obj metav1.Object) (string, bool) {
	switch o := obj.(type) {
	case *batchv1.CronJob:
		return fmt.Sprintf("scheduled job (schedule %q)", o.Spec.Schedule), true
	case *batchv1.Job:
		// A scheduled job's runs are Jobs too: their pods say when they
		// run, not the Job.
		for _, ref := range o.OwnerReferences {
			if ref.Kind == "CronJob" {
				return "", false
			}
		}
		return "one-off job", true
	case *appsv1.Deployment:
		if o.Labels[tenancy.LabelComponent] == tenancy.ComponentWeb {
			return "web service", true
		}
		return "continuous job", true
	}
	return "", false
}

// created is a workload's creation.
func created(obj metav1.Object) (Event, bool) {
	what, ok := workloadKind(obj)
	if !ok {
		return Event{}, false
	}
	return newEvent(obj, "created", "created: "+what, string(obj.GetUID())+"/created", obj.GetCreationTimestamp().Time)
}

// updated is a change of a workload's spec: a restart when only the
// restart annotation of its pods changed.
func updated(old, cur metav1.Object, now time.Time) (Event, bool) {
	if _, ok := workloadKind(cur); !ok || old.GetGeneration() == cur.GetGeneration() || cur.GetGeneration() == 0 {
		return Event{}, false
	}
	id := fmt.Sprintf("%s/generation/%d", cur.GetUID(), cur.GetGeneration())
	if restartedOnly(old, cur) {
		return newEvent(cur, "restarted", "restarted: its pods are replaced", id, now)
	}
	return newEvent(cur, "updated", "updated: its settings changed", id, now)
}

// restartedOnly says whether two Deployments differ only by a
// restarted-at annotation of their pods (how `webservice restart` and
// `jobs restart` restart them).
func restartedOnly(old, cur metav1.Object) bool {
	o, ok1 := old.(*appsv1.Deployment)
	c, ok2 := cur.(*appsv1.Deployment)
	if !ok1 || !ok2 {
		return false
	}
	oa, ca := o.Spec.Template.Annotations, c.Spec.Template.Annotations
	changed := false
	for k, v := range ca {
		if oa[k] != v {
			if !strings.HasSuffix(k, "/restarted-at") {
				return false
			}
			changed = true
		}
	}
	if !changed {
		return false
	}
	oc, cc := o.DeepCopy(), c.DeepCopy()
	oc.Spec.Template.Annotations, cc.Spec.Template.Annotations = nil, nil
	return equality.Semantic.DeepEqual(oc.Spec, cc.Spec)
}

// deleted is a workload's deletion.
func deleted(obj metav1.Object, now time.Time) (Event, bool) {
	if _, ok := workloadKind(obj); !ok {
		return Event{}, false
	}
	return newEvent(obj, "deleted", "deleted", string(obj.GetUID())+"/deleted", now)
}

// runs are a pod's containers' starts and ends, each once per run
// (restartCount): the current run's and the one before it.
func runs(p *corev1.Pod) []Event {
	var out []Event
	for _, cs := range p.Status.ContainerStatuses {
		add := func(e Event, ok bool) {
			if ok {
				e.Pod, e.Container = p.Name, cs.Name
				out = append(out, e)
			}
		}
		base := fmt.Sprintf("%s/%s/", p.UID, cs.Name)
		run := cs.RestartCount
		if r := cs.State.Running; r != nil {
			add(started(p, r.StartedAt.Time, run, base))
		}
		if t := cs.State.Terminated; t != nil {
			add(started(p, t.StartedAt.Time, run, base))
			add(exited(p, t, run, base))
		}
		if t := cs.LastTerminationState.Terminated; t != nil && run > 0 {
			add(started(p, t.StartedAt.Time, run-1, base))
			add(exited(p, t, run-1, base))
		}
	}
	return out
}

func started(p *corev1.Pod, at time.Time, run int32, base string) (Event, bool) {
	if at.IsZero() {
		return Event{}, false
	}
	msg := "started: pod " + p.Name
	reason := "started"
	if run > 0 {
		reason, msg = "restarted", fmt.Sprintf("restarted: pod %s, restart %d", p.Name, run)
	}
	return newEvent(p, reason, msg, fmt.Sprintf("%s%d/started", base, run), at)
}

func exited(p *corev1.Pod, t *corev1.ContainerStateTerminated, run int32, base string) (Event, bool) {
	at := t.FinishedAt.Time
	if at.IsZero() {
		return Event{}, false
	}
	reason := "exited"
	msg := fmt.Sprintf("exited with code %d", t.ExitCode)
	if t.Reason == "OOMKilled" {
		reason = "oomkilled"
		msg = fmt.Sprintf("killed: out of memory (OOMKilled, exit code %d); it needs more than its memory limit (--mem)", t.ExitCode)
	} else if t.Reason != "" && t.Reason != "Completed" && t.Reason != "Error" {
		msg += " (" + t.Reason + ")"
	}
	return newEvent(p, reason, msg+": pod "+p.Name, fmt.Sprintf("%s%d/exited", base, run), at)
}

// kubeletReasons are the Kubernetes events about a tool's pods worth its
// attention, by their reason, and what they become.
var kubeletReasons = map[string]string{
	"Unhealthy": "unhealthy", // a failed health check (probe)
	"BackOff":   "backoff",   // crash loop, or an image that cannot be pulled
	"Failed":    "failed",
}

// fromKubernetes is a Kubernetes event about pod p.
func fromKubernetes(ev *corev1.Event, p *corev1.Pod) (Event, bool) {
	reason, ok := kubeletReasons[ev.Reason]
	if !ok || p == nil {
		return Event{}, false
	}
	count := ev.Count
	if ev.Series != nil {
		count = ev.Series.Count
	}
	at := ev.LastTimestamp.Time
	if ev.Series != nil && !ev.Series.LastObservedTime.IsZero() {
		at = ev.Series.LastObservedTime.Time
	}
	if at.IsZero() {
		at = ev.EventTime.Time
	}
	if at.IsZero() {
		at = ev.CreationTimestamp.Time
	}
	// A probe failing every few seconds is one line at its 1st, 2nd, 4th,
	// 8th... failure, not one each time.
	if count > 1 && count&(count-1) != 0 {
		return Event{}, false
	}
	msg := ev.Message
	if count > 1 {
		msg = fmt.Sprintf("%s (%d times)", msg, count)
	}
	e, ok := newEvent(p, reason, msg, fmt.Sprintf("%s/%d", ev.UID, count), at)
	e.Pod = p.Name
	return e, ok
}
