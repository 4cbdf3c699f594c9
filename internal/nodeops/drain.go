package nodeops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// DrainOptions are the cookbook's: kubectl drain --ignore-daemonsets
// --delete-emptydir-data --grace-period=1 --timeout=60s --force, then up
// to 300 s for the node's non-daemon pods to be gone.
type DrainOptions struct {
	GracePeriod time.Duration // given to each evicted pod
	Timeout     time.Duration // for the evictions, PodDisruptionBudgets permitting
	WaitGone    time.Duration // for the evicted pods to be gone
	// RetryEvery is how often an eviction refused for now (a budget) is
	// tried again.
	RetryEvery time.Duration
}

// DefaultDrainOptions are the cookbook's values.
func DefaultDrainOptions() DrainOptions {
	return DrainOptions{GracePeriod: time.Second, Timeout: 60 * time.Second, WaitGone: 300 * time.Second, RetryEvery: 2 * time.Second}
}

// Pod results of a drain.
const (
	ResultEvicted   = "evicted"   // and gone
	ResultDaemonSet = "daemonset" // stays: its DaemonSet runs it on every node
	ResultMirror    = "static"    // stays: the kubelet runs it from a file
	ResultFinished  = "finished"  // had already ended; deleted
	ResultLeft      = "left"      // could not be moved: see Reason
)

// PodResult is what a drain did with one pod.
type PodResult struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Result    string `json:"result"`
	// Reason says why a pod was left, or a warning (a bare pod that no
	// controller re-creates).
	Reason string `json:"reason,omitempty"`
}

// DrainReport is the per-pod report of a drain.
type DrainReport struct {
	Node     string      `json:"node"`
	Complete bool        `json:"complete"`
	Pods     []PodResult `json:"pods"`
}

// Left are the pods that could not be moved.
func (r DrainReport) Left() []PodResult {
	var out []PodResult
	for _, p := range r.Pods {
		if p.Result == ResultLeft {
			out = append(out, p)
		}
	}
	return out
}

// ErrIncomplete is returned (wrapped) by a drain that left pods behind.
var ErrIncomplete = errors.New("drain incomplete")

// pending is a pod to evict, at its place in the report.
type pending struct {
	idx int
	pod corev1.Pod
}

// classify says what a drain does with a pod.
func classify(p *corev1.Pod) (result, warning string) {
	if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return ResultMirror, ""
	}
	if c := metav1.GetControllerOf(p); c != nil && c.Kind == "DaemonSet" {
		return ResultDaemonSet, ""
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return ResultFinished, ""
	}
	if metav1.GetControllerOf(p) == nil {
		// --force: evicted all the same, but nothing brings it back.
		return ResultEvicted, "not managed by a controller: it is not re-created elsewhere"
	}
	return ResultEvicted, ""
}

// Drain cordons the node and evicts its pods as the cookbook does: every
// pod but DaemonSet and static ones, emptyDir data included, bare pods too
// (--force), each with the grace period, through the Eviction API, so
// PodDisruptionBudgets are honoured: a refused eviction is tried again
// until the timeout, then reported. Once every eviction is accepted it
// waits for the pods to be gone. The node stays cordoned either way.
func (o *Ops) Drain(ctx context.Context, node string, opts DrainOptions) (DrainReport, error) {
	report := DrainReport{Node: node}
	if err := nodeExists(ctx, o.Write, node); err != nil {
		return report, err
	}
	if changed, err := o.SetSchedulable(ctx, node, false); err != nil {
		return report, err
	} else if changed {
		o.say("node %s cordoned", node)
	}
	pods, err := o.podsOn(ctx, node)
	if err != nil {
		return report, err
	}
	var todo []pending
	for _, p := range pods {
		result, warning := classify(&p)
		report.Pods = append(report.Pods, PodResult{Namespace: p.Namespace, Name: p.Name, Result: result, Reason: warning})
		if result == ResultEvicted || result == ResultFinished {
			todo = append(todo, pending{len(report.Pods) - 1, p})
		}
	}
	o.say("evicting %d pods from node %s (%d stay: DaemonSet or static)", len(todo), node, len(pods)-len(todo))

	deadline := o.clock().Add(opts.Timeout)
	var accepted []pending
	for len(todo) > 0 {
		var again []pending
		for _, t := range todo {
			reason, err := o.evict(ctx, t.pod, opts.GracePeriod)
			switch {
			case err != nil:
				return report, err
			case reason == "":
				o.say("evicted pod %s/%s", t.pod.Namespace, t.pod.Name)
				accepted = append(accepted, t)
			default:
				report.Pods[t.idx].Reason = reason
				again = append(again, t)
			}
		}
		todo = again
		if len(todo) == 0 {
			break
		}
		if !o.clock().Before(deadline) {
			for _, t := range todo {
				report.Pods[t.idx].Result = ResultLeft
			}
			break
		}
		o.say("%d pods cannot be evicted yet (%s); trying again", len(todo), report.Pods[todo[0].idx].Reason)
		if err := wait(ctx, opts.RetryEvery); err != nil {
			return report, err
		}
	}
	if left := report.Left(); len(left) > 0 {
		return report, fmt.Errorf("%w: %d pods of node %s could not be evicted within %s; the node stays cordoned", ErrIncomplete, len(left), node, opts.Timeout)
	}

	// Accepted evictions end the pods after their grace period.
	o.say("waiting up to %s for %d evicted pods to be gone", opts.WaitGone, len(accepted))
	goneBy := o.clock().Add(opts.WaitGone)
	for {
		still, err := o.stillThere(ctx, node, accepted)
		if err != nil {
			return report, err
		}
		if len(still) == 0 {
			break
		}
		if !o.clock().Before(goneBy) {
			for _, t := range still {
				report.Pods[t.idx].Result = ResultLeft
				report.Pods[t.idx].Reason = "evicted but still on the node after " + opts.WaitGone.String()
			}
			return report, fmt.Errorf("%w: %d evicted pods still on node %s after %s; the node stays cordoned", ErrIncomplete, len(still), node, opts.WaitGone)
		}
		if err := wait(ctx, time.Second); err != nil {
			return report, err
		}
	}
	report.Complete = true
	o.say("node %s drained", node)
	return report, nil
}

// evict asks for one pod's eviction. A refusal that may pass later (a
// disruption budget) comes back as its reason; a pod already gone counts
// as evicted.
func (o *Ops) evict(ctx context.Context, p corev1.Pod, grace time.Duration) (string, error) {
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(grace.Seconds())), Preconditions: &metav1.Preconditions{UID: &p.UID}},
	}
	err := o.Write.CoreV1().Pods(p.Namespace).EvictV1(ctx, ev)
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return "", nil
	case apierrors.IsConflict(err):
		return "", nil // the UID precondition failed: the pod was replaced, ours is gone
	case apierrors.IsTooManyRequests(err):
		return "eviction refused: " + budgetReason(err), nil
	case apierrors.IsInternalError(err) && strings.Contains(err.Error(), "PodDisruptionBudget"):
		return "eviction refused: " + err.Error(), nil
	}
	return "", fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
}

// budgetReason is the API server's word on a refused eviction, which names
// the budget ("The disruption budget web needs 1 healthy pods and has 1
// currently").
func budgetReason(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if d := status.Status().Details; d != nil {
			for _, c := range d.Causes {
				if c.Type == policyv1.DisruptionBudgetCause {
					return c.Message
				}
			}
		}
	}
	return err.Error()
}

// stillThere are the evicted pods that still exist on the node (the same
// pod, by UID: a StatefulSet may re-create one of the same name).
func (o *Ops) stillThere(ctx context.Context, node string, evicted []pending) ([]pending, error) {
	pods, err := o.podsOn(ctx, node)
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, p := range pods {
		present[string(p.UID)] = true
	}
	var out []pending
	for _, e := range evicted {
		if present[string(e.pod.UID)] {
			out = append(out, e)
		}
	}
	return out, nil
}

func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
