package webservice

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// errNotReady is a web service whose pods did not all become ready in
// time. It is a warning, not a failure: images can take long to pull.
var errNotReady = errors.New("webservice is not ready yet")

// errBeingDeleted is an object of a previous instance found on its way
// out between the check and the write; start waits and tries again.
var errBeingDeleted = errors.New("a previous webservice is still being deleted")

// waitPrevious waits until a previous instance has gone: its objects
// deleted and its pods terminated. This is what the original got wrong
// ("object is being deleted: deployments "x" already exists").
func (c *Client) waitPrevious(ctx context.Context) error {
	said := false
	var left []string
	err := c.until(ctx, func(ctx context.Context) (bool, error) {
		cur, err := c.current(ctx)
		if err != nil {
			return false, err
		}
		left = left[:0]
		cur.each(func(kind string, obj metav1.Object) {
			if managed(obj.GetLabels()) && obj.GetDeletionTimestamp() != nil {
				left = append(left, kind+" "+obj.GetName())
			}
		})
		if !cur.running() {
			pods, err := c.pods(ctx)
			if err != nil {
				return false, err
			}
			for _, p := range pods {
				left = append(left, "pod "+p.Name)
			}
		}
		if len(left) > 0 && !said {
			fmt.Fprintln(c.ErrOut, "Waiting for the previous webservice to finish stopping...")
			said = true
		}
		return len(left) == 0, nil
	})
	if wait.Interrupted(err) {
		return fmt.Errorf("the previous webservice is still stopping after %s (%s); try again in a few moments, or remove stuck pods with `kubectl delete pod NAME --grace-period=0 --force`",
			c.timeout(), strings.Join(left, ", "))
	}
	return err
}

// waitReady waits until the Deployment has rolled out: every replica
// updated and available, no old pods left. Pods the cluster refuses
// (quota, admission) end the wait at once with the cluster's reason.
func (c *Client) waitReady(ctx context.Context, replicas int32) error {
	var dep *appsv1.Deployment
	err := c.until(ctx, func(ctx context.Context) (bool, error) {
		var err error
		if dep, err = c.Kube.AppsV1().Deployments(c.Namespace).Get(ctx, c.Tool, metav1.GetOptions{}); err != nil {
			return false, fmt.Errorf("get deployment %s/%s: %w", c.Namespace, c.Tool, err)
		}
		for _, cond := range dep.Status.Conditions {
			if cond.Type == appsv1.DeploymentReplicaFailure && cond.Status == corev1.ConditionTrue {
				return false, fmt.Errorf("the cluster refused its pods: %s", cond.Message)
			}
		}
		st := dep.Status
		return st.ObservedGeneration >= dep.Generation && st.UpdatedReplicas == replicas &&
			st.AvailableReplicas == replicas && st.Replicas == replicas, nil
	})
	if wait.Interrupted(err) {
		return fmt.Errorf("%w after %s: %s", errNotReady, c.timeout(), c.podSummary(ctx, dep, replicas))
	}
	return err
}

// podSummary says why pods are not ready, for the not-ready warning.
func (c *Client) podSummary(ctx context.Context, dep *appsv1.Deployment, replicas int32) string {
	var ready int32
	if dep != nil {
		ready = dep.Status.AvailableReplicas
	}
	out := []string{fmt.Sprintf("%d/%d pods ready", ready, replicas)}
	pods, err := c.pods(context.WithoutCancel(ctx))
	if err != nil {
		return out[0]
	}
	for _, p := range pods {
		if why := podProblem(p); why != "" {
			out = append(out, fmt.Sprintf("pod %s: %s", p.Name, why))
		}
	}
	return strings.Join(out, "; ")
}

func podProblem(p corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return strings.TrimSpace(w.Reason + " " + w.Message)
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("exited with code %d (%s)", t.ExitCode, t.Reason)
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse {
			return strings.TrimSpace(cond.Reason + " " + cond.Message)
		}
	}
	if p.Status.Phase != corev1.PodRunning {
		return string(p.Status.Phase)
	}
	return ""
}

// waitPodsGone waits until the web service's pods have terminated.
func (c *Client) waitPodsGone(ctx context.Context) error {
	var left []string
	err := c.until(ctx, func(ctx context.Context) (bool, error) {
		pods, err := c.pods(ctx)
		if err != nil {
			return false, err
		}
		left = left[:0]
		for _, p := range pods {
			left = append(left, p.Name)
		}
		return len(left) == 0, nil
	})
	if wait.Interrupted(err) {
		return fmt.Errorf("pods still terminating after %s: %s", c.timeout(), strings.Join(left, ", "))
	}
	return err
}

// pods are the web service's pods, oldest first.
func (c *Client) pods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: c.podSelector()})
	if err != nil {
		return nil, fmt.Errorf("list pods of the webservice in %s: %w", c.Namespace, err)
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool {
		ti, tj := pods[i].CreationTimestamp, pods[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return pods[i].Name < pods[j].Name
	})
	return pods, nil
}

// until polls cond at once and then every Poll, up to Timeout.
func (c *Client) until(ctx context.Context, cond wait.ConditionWithContextFunc) error {
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, c.poll(), c.timeout(), true, cond)
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // the caller gave up (an interrupt), not a timeout
	}
	// At the deadline a request may fail rather than the poll time out:
	// client-go's rate limiter refuses to wait past the deadline ("would
	// exceed context deadline") when the API server is busy. That is the
	// timeout, not a failure of the web service.
	if err != nil && !wait.Interrupted(err) && time.Since(start) >= c.timeout()-c.poll() {
		return wait.ErrorInterrupted(err)
	}
	return err
}
