package server

import (
	"fmt"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// status reads the state of a job's top object (and, for show, its pods;
// why says, by pod, why its container was last restarted).
func status(obj client.Object, pods []*corev1.Pod, why map[string]string) (short, long string) {
	switch o := obj.(type) {
	case *batchv1.Job:
		short, long = jobStatus(&o.Status, o.Spec.Suspend)
		if short == jobs.StatusRunning || short == jobs.StatusPending {
			// A one-off job runs one pod to completion: once one succeeded,
			// the job has, though the Job controller says so a second or
			// two later.
			for _, p := range pods {
				if p.Status.Phase == corev1.PodSucceeded {
					short, long = jobs.StatusCompleted, fmt.Sprintf("Job completed (pod %s succeeded).", p.Name)
				}
			}
		}
	case *batchv1.CronJob:
		short, long = cronStatus(o)
	case *appsv1.Deployment:
		short, long = deploymentStatus(o)
	}
	if hints := podHints(pods, why); hints != "" {
		long = strings.TrimSpace(long + " " + hints)
	}
	return short, long
}

// endCondition is the condition by which the Job controller marked the
// job complete or failed; nil until it has.
func endCondition(s *batchv1.JobStatus) *batchv1.JobCondition {
	for i, c := range s.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return &s.Conditions[i]
		}
	}
	return nil
}

func jobStatus(s *batchv1.JobStatus, suspend *bool) (string, string) {
	if c := endCondition(s); c != nil {
		if c.Type == batchv1.JobComplete {
			return jobs.StatusCompleted, fmt.Sprintf("Job completed at %s.", timeOf(s.CompletionTime))
		}
		return jobs.StatusFailed, strings.TrimSpace(fmt.Sprintf("Job failed: %s %s", c.Reason, c.Message))
	}
	switch {
	case suspend != nil && *suspend:
		return jobs.StatusSuspended, "The job is suspended (the tool may be disabled)."
	case s.Active > 0:
		return jobs.StatusRunning, fmt.Sprintf("Job is running (%d pod(s) active, %d failed).", s.Active, s.Failed)
	}
	return jobs.StatusPending, "Job is waiting for its pod to start."
}

func cronStatus(c *batchv1.CronJob) (string, string) {
	if c.Spec.Suspend != nil && *c.Spec.Suspend {
		return jobs.StatusSuspended, "The scheduled job is suspended (the tool may be disabled)."
	}
	if len(c.Status.Active) > 0 {
		return jobs.StatusRunning, fmt.Sprintf("A run started at %s is active.", timeOf(c.Status.LastScheduleTime))
	}
	if c.Status.LastScheduleTime == nil {
		return "Waiting for scheduled time", "The job has not run yet."
	}
	long := fmt.Sprintf("Last run at %s", timeOf(c.Status.LastScheduleTime))
	if c.Status.LastSuccessfulTime != nil {
		long += fmt.Sprintf("; last successful run at %s", timeOf(c.Status.LastSuccessfulTime))
	}
	return "Last schedule time: " + timeOf(c.Status.LastScheduleTime), long + "."
}

func deploymentStatus(d *appsv1.Deployment) (string, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	var problems []string
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			problems = append(problems, c.Message)
		}
	}
	switch {
	case want == 0:
		return jobs.StatusNotRun, "Scaled to zero replicas (the tool may be disabled)."
	case d.Status.ReadyReplicas >= want:
		return jobs.StatusRunning, fmt.Sprintf("%d of %d replica(s) ready.", d.Status.ReadyReplicas, want)
	case len(problems) > 0:
		return jobs.StatusNotRun, "Pods cannot be created: " + strings.Join(problems, "; ")
	}
	return jobs.StatusPending, fmt.Sprintf("%d of %d replica(s) ready; waiting for pods to start.", d.Status.ReadyReplicas, want)
}

// podHints explains pods that are stuck (image pulls, crash loops),
// failed (exit code, out of memory) or restarted (and why).
func podHints(pods []*corev1.Pod, why map[string]string) string {
	var hints []string
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" {
				hints = append(hints, strings.TrimSpace(fmt.Sprintf("Pod %s: %s %s", p.Name, w.Reason, w.Message)))
			}
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				hints = append(hints, fmt.Sprintf("Pod %s exited with code %d (%s)%s.", p.Name, t.ExitCode, t.Reason, explain(t.Reason)))
			}
			if t := cs.LastTerminationState.Terminated; t != nil && cs.RestartCount > 0 {
				h := fmt.Sprintf("Pod %s restarted %d time(s), last exit code %d (%s)%s.", p.Name, cs.RestartCount, t.ExitCode, t.Reason, explain(t.Reason))
				if w := why[p.Name]; w != "" {
					h += " " + w
				}
				hints = append(hints, h)
			}
		}
	}
	sort.Strings(hints)
	return strings.Join(hints, " ")
}

// explain says what a container's termination reason means for the job.
func explain(reason string) string {
	if reason == "OOMKilled" {
		return ": it used more memory than its limit (--mem)"
	}
	return ""
}

// exitCode is the exit status of the newest finished container of pods
// (oldest first), or nil when none finished.
func exitCode(pods []*corev1.Pod) *int32 {
	for i := len(pods) - 1; i >= 0; i-- {
		for _, cs := range pods[i].Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil {
				code := t.ExitCode
				return &code
			}
		}
	}
	return nil
}

func timeOf(t *metav1.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}
