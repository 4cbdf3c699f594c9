package events

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var jobPodLabels = map[string]string{"app.kubernetes.io/managed-by": "toolforge-jobs-framework", "app.kubernetes.io/component": "deployments", "app.kubernetes.io/name": "bot"}

func TestARestartedContainersRunsAreEachStartedAndEndedOnce(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bot-1", Namespace: "tool-a", UID: "u1", Labels: jobPodLabels},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "bot", RestartCount: 1,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", StartedAt: at, FinishedAt: at}},
		}}}}
	got := map[string]string{}
	for _, e := range runs(p) {
		if e.Tool != "a" || e.Of != "job" || e.Name != "bot" || e.Pod != "bot-1" {
			t.Errorf("event of %+v", e)
		}
		got[e.ID] = e.Reason
	}
	want := map[string]string{"u1/bot/1/started": "restarted", "u1/bot/0/started": "started", "u1/bot/0/exited": "oomkilled"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for id, r := range want {
		if got[id] != r {
			t.Errorf("%s: %q, want %q", id, got[id], r)
		}
	}
}

func TestAFailingHealthCheckIsToldAtItsFirstSecondFourthTime(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bot-1", Namespace: "tool-a", Labels: jobPodLabels}}
	var told []int32
	for n := int32(1); n <= 9; n++ {
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{UID: "e1"}, Reason: "Unhealthy", Message: "Liveness probe failed", Count: n, LastTimestamp: metav1.Now()}
		if e, ok := fromKubernetes(ev, p); ok {
			told = append(told, n)
			if e.Reason != "unhealthy" {
				t.Errorf("reason %q", e.Reason)
			}
		}
	}
	if len(told) != 4 || told[3] != 8 {
		t.Errorf("told at %v, want 1 2 4 8", told)
	}
}

func TestARestartIsNotAnUpdate(t *testing.T) {
	dep := func(gen int64, restarted, image string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "bot", Namespace: "tool-a", UID: "d1", Generation: gen, Labels: jobPodLabels}}
		d.Spec.Template.Annotations = map[string]string{"jobs.toolforge.org/restarted-at": restarted}
		d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "bot", Image: image}}
		return d
	}
	now := time.Now()
	if e, ok := updated(dep(1, "t1", "img"), dep(2, "t2", "img"), now); !ok || e.Reason != "restarted" || e.ID != "d1/generation/2" {
		t.Errorf("a restart: %+v %v", e, ok)
	}
	if e, ok := updated(dep(2, "t2", "img"), dep(3, "t2", "other"), now); !ok || e.Reason != "updated" {
		t.Errorf("an update: %+v %v", e, ok)
	}
	if _, ok := updated(dep(3, "t2", "img"), dep(3, "t2", "img"), now); ok {
		t.Error("a status change is an event")
	}
}
