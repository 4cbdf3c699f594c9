package notify

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(name string, phase corev1.PodPhase, st corev1.ContainerState) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{State: st}}},
	}
}

var (
	running   = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	succeeded = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
	failed    = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}
)

func TestEachEmailsSettingHearsOfItsEvents(t *testing.T) {
	cases := []struct {
		name   string
		emails string
		pod    *corev1.Pod
		want   bool
	}{
		{"none hears of nothing", emailsNone, pod("a", corev1.PodFailed, failed), false},
		{"onfailure hears of a failed run", emailsOnFailure, pod("a", corev1.PodFailed, failed), true},
		{"onfailure does not hear of a successful run", emailsOnFailure, pod("a", corev1.PodSucceeded, succeeded), false},
		{"onfailure does not hear of a start", emailsOnFailure, pod("a", corev1.PodRunning, running), false},
		{"onfinish hears of a successful run", emailsOnFinish, pod("a", corev1.PodSucceeded, succeeded), true},
		{"onfinish hears of a failed run", emailsOnFinish, pod("a", corev1.PodFailed, failed), true},
		{"onfinish does not hear of a start", emailsOnFinish, pod("a", corev1.PodRunning, running), false},
		{"all hears of a start", emailsAll, pod("a", corev1.PodRunning, running), true},
		{"all does not hear of a pod with nothing to tell yet", emailsAll, pod("a", corev1.PodPending, corev1.ContainerState{}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := relevant(tc.emails, eventOf(tc.pod)); got != tc.want {
				t.Fatalf("relevant = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOneMessagePerToolNamesItsJobsAndSkipsRepeats(t *testing.T) {
	b := newBatch()
	e := eventOf(pod("fails-x1", corev1.PodFailed, failed))
	if !b.add("alpha", "fails", "normal", emailsOnFailure, e) {
		t.Fatal("first event refused")
	}
	// A later status write of the same pod repeats its state.
	if b.add("alpha", "fails", "normal", emailsOnFailure, e) {
		t.Fatal("a repeated event was queued again")
	}
	b.add("beta", "one", "normal", emailsAll, eventOf(pod("one-x", corev1.PodRunning, running)))
	b.add("beta", "two", "cronjob", emailsAll, eventOf(pod("two-x", corev1.PodRunning, running)))
	got := b.take()
	if s := subject("alpha", got["alpha"]); s != "[Toolforge] [alpha] notification about job fails" {
		t.Errorf("subject %q", s)
	}
	if s := subject("beta", got["beta"]); s != "[Toolforge] [beta] notification about 2 jobs" {
		t.Errorf("subject %q", s)
	}
	text := body("alpha", got["alpha"])
	for _, want := range []string{"in the 'alpha' Toolforge tool", "* Job 'fails' (normal) (emails: onfailure) had 1 events:", "Pod 'fails-x1'. Phase: 'failed'. Container state: 'terminated'. Exit code was '3'. With reason 'Error'."} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q:\n%s", want, text)
		}
	}
	if len(b.take()) != 0 {
		t.Error("take did not empty the batch")
	}
	if b.add("alpha", "fails", "normal", emailsOnFailure, e) {
		t.Error("an event sent before was queued again")
	}
	b.forget("alpha", "fails-x1")
	if !b.add("alpha", "fails", "normal", emailsOnFailure, e) {
		t.Error("a pod's events are remembered after the pod is gone")
	}
}

func TestTheMessageIsPlainTextWithItsHeaders(t *testing.T) {
	msg := string(message("root@toolforge.org", "tools.alpha@tools.wmflabs.org", "[Toolforge] [alpha] notification about job x", "line one\nline two\n", time.Unix(0, 0)))
	for _, want := range []string{"From: root@toolforge.org\r\n", "To: tools.alpha@tools.wmflabs.org\r\n", "Subject: [Toolforge] [alpha] notification about job x\r\n", "Content-Type: text/plain; charset=utf-8\r\n", "\r\n\r\nline one\r\nline two\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}
