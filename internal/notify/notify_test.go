package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
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
	n := newTestNotifier(t, nil)
	e := eventOf(pod("fails-x1", corev1.PodFailed, failed))
	n.post(observation{tool: "alpha", q: queued{Job: "fails", Type: "normal", Emails: emailsOnFailure, Event: e}})
	// A later status write of the same pod repeats its state.
	n.post(observation{tool: "alpha", q: queued{Job: "fails", Type: "normal", Emails: emailsOnFailure, Event: e}})
	n.post(observation{tool: "beta", q: queued{Job: "one", Type: "normal", Emails: emailsAll, Event: eventOf(pod("one-x", corev1.PodRunning, running))}})
	n.post(observation{tool: "beta", q: queued{Job: "two", Type: "cronjob", Emails: emailsAll, Event: eventOf(pod("two-x", corev1.PodRunning, running))}})
	n.drain()
	if got := len(n.tools["alpha"].state.Pending); got != 1 {
		t.Fatalf("alpha has %d pending events, want 1 (a repeat was queued)", got)
	}
	alpha, beta := group(n.tools["alpha"].state.Pending), group(n.tools["beta"].state.Pending)
	if s := subject("alpha", alpha); s != "[Toolforge] [alpha] notification about job fails" {
		t.Errorf("subject %q", s)
	}
	if s := subject("beta", beta); s != "[Toolforge] [beta] notification about 2 jobs" {
		t.Errorf("subject %q", s)
	}
	text := body("alpha", alpha, 0)
	for _, want := range []string{"in the 'alpha' Toolforge tool", "* Job 'fails' (normal) (emails: onfailure) had 1 events:", "Pod 'fails-x1'. Phase: 'failed'. Container state: 'terminated'. Exit code was '3'. With reason 'Error'."} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q:\n%s", want, text)
		}
	}
	// Once the pod is gone, its events are forgotten.
	n.post(observation{tool: "alpha", gone: "fails-x1"})
	n.post(observation{tool: "alpha", q: queued{Job: "fails", Type: "normal", Emails: emailsOnFailure, Event: e}})
	n.drain()
	if got := len(n.tools["alpha"].state.Pending); got != 2 {
		t.Errorf("a pod's events are remembered after the pod is gone: %d pending", got)
	}
}

// sent is a fake SMTP server: what it took, and whether it takes.
type sentMail struct {
	down bool
	msgs []string
}

func (s *sentMail) send(_ string, _ string, _ []string, msg []byte) error {
	if s.down {
		return &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	s.msgs = append(s.msgs, string(msg))
	return nil
}

func newTestNotifier(t *testing.T, mail *sentMail) *notifier {
	t.Helper()
	return newTestNotifierOn(t, versioned(), mail)
}

// versioned is a fake clientset whose ConfigMaps have resource versions,
// and refuse a write at another version, as the API server does.
func versioned() *fake.Clientset {
	kube := fake.NewClientset()
	rv := 0
	kube.PrependReactor("*", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		switch a.GetVerb() {
		case "create":
			rv++
			a.(k8stesting.CreateAction).GetObject().(*corev1.ConfigMap).ResourceVersion = strconv.Itoa(rv)
		case "update":
			cm := a.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap)
			cur, err := kube.Tracker().Get(a.GetResource(), a.GetNamespace(), cm.Name)
			if err != nil {
				return true, nil, err
			}
			if cur.(*corev1.ConfigMap).ResourceVersion != cm.ResourceVersion {
				return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), cm.Name, errors.New("changed"))
			}
			rv++
			cm.ResourceVersion = strconv.Itoa(rv)
		}
		return false, nil, nil
	})
	return kube
}

func newTestNotifierOn(t *testing.T, kube *fake.Clientset, mail *sentMail) *notifier {
	t.Helper()
	if mail == nil {
		mail = &sentMail{}
	}
	n := &notifier{
		kube: kube, opts: Options{From: "root@toolforge.org", To: "tools.{tool}@toolforge.test", Interval: time.Minute, RetryMax: 10 * time.Minute},
		server: "smtp:25", store: &stateStore{kube: kube, ns: "toolforge-system"},
		log: slog.New(slog.DiscardHandler), metrics: &metrics{
			events: prometheus.NewCounter(prometheus.CounterOpts{Name: "e"}), sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "s"}),
			failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "f"}), pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "p"}),
		},
		send: mail.send, now: func() time.Time { return clock },
		kick: make(chan struct{}, 1),
	}
	var err error
	if n.tools, err = n.store.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

var clock = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func stateOf(t *testing.T, kube *fake.Clientset, tool string) *toolState {
	t.Helper()
	cm, err := kube.CoreV1().ConfigMaps("toolforge-system").Get(context.Background(), StateConfigMap(tool), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no state of %s in the cluster: %v", tool, err)
	}
	var st toolState
	if err := json.Unmarshal([]byte(cm.Data[stateKey]), &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func TestWhatTheServerDoesNotTakeStaysInTheClusterAndIsSentOnceWhenItDoes(t *testing.T) {
	kube := versioned()
	mail := &sentMail{down: true}
	n := newTestNotifierOn(t, kube, mail)
	n.post(observation{tool: "alpha", q: queued{Job: "fails", Type: "normal", Emails: emailsOnFailure, Event: eventOf(pod("fails-x1", corev1.PodFailed, failed))}})
	n.drain()
	n.persist(context.Background())
	if st := stateOf(t, kube, "alpha"); len(st.Pending) != 1 {
		t.Fatalf("the event is not kept in the cluster: %+v", st)
	}
	n.flush(context.Background())
	n.persist(context.Background())
	st := stateOf(t, kube, "alpha")
	if len(st.Pending) != 1 || st.Failures != 1 || !st.Next.Equal(clock.Add(time.Minute)) || st.Sending == nil {
		t.Fatalf("after a refused attempt: %+v", st)
	}
	id := st.Sending.MessageID

	// The notifier restarts (or another leads): what it finds is the same.
	n = newTestNotifierOn(t, kube, mail)
	n.flush(context.Background())
	if len(mail.msgs) != 0 || n.tools["alpha"].state.Failures != 1 {
		t.Fatal("a message was tried again before its backoff was over")
	}
	mail.down = false
	clock = clock.Add(time.Minute)
	n.flush(context.Background())
	n.flush(context.Background())
	n.persist(context.Background())
	if len(mail.msgs) != 1 || !strings.Contains(mail.msgs[0], "Message-ID: "+id+"\r\n") || !strings.Contains(mail.msgs[0], "Job 'fails'") {
		t.Fatalf("sent %d messages, want the one recorded (%s): %q", len(mail.msgs), id, mail.msgs)
	}
	if st := stateOf(t, kube, "alpha"); len(st.Pending) != 0 || st.Sending != nil || st.Failures != 0 {
		t.Fatalf("after it was sent: %+v", st)
	}
}

func TestAMessageRecordedAsSendingIsSentAgainWithItsIDAndNewEventsApart(t *testing.T) {
	kube := versioned()
	n := newTestNotifierOn(t, kube, nil)
	n.post(observation{tool: "alpha", q: queued{Job: "first", Type: "normal", Emails: emailsOnFailure, Event: eventOf(pod("first-x", corev1.PodFailed, failed))}})
	n.drain()
	st := n.tools["alpha"]
	// As a notifier that died after recording the sending: the server
	// may or may not have the message.
	st.state.Sending = &sending{MessageID: "<recorded@toolforge.org>", Events: 1, Since: clock}
	st.dirty = true
	n.persist(context.Background())

	mail := &sentMail{}
	next := newTestNotifierOn(t, kube, mail)
	next.post(observation{tool: "alpha", q: queued{Job: "second", Type: "normal", Emails: emailsOnFailure, Event: eventOf(pod("second-x", corev1.PodFailed, failed))}})
	next.drain()
	next.flush(context.Background())
	clock = clock.Add(time.Minute)
	next.flush(context.Background())
	if len(mail.msgs) != 2 {
		t.Fatalf("%d messages, want the recorded one again and one of the new event", len(mail.msgs))
	}
	if !strings.Contains(mail.msgs[0], "Message-ID: <recorded@toolforge.org>") || !strings.Contains(mail.msgs[0], "Job 'first'") || strings.Contains(mail.msgs[0], "Job 'second'") {
		t.Errorf("the recorded message was not sent again as it was:\n%s", mail.msgs[0])
	}
	if strings.Contains(mail.msgs[1], "<recorded@toolforge.org>") || !strings.Contains(mail.msgs[1], "Job 'second'") {
		t.Errorf("the new event did not go in a message of its own:\n%s", mail.msgs[1])
	}
}

func TestTheWaitAfterFailuresDoublesUpToItsCap(t *testing.T) {
	n := &notifier{opts: Options{Interval: time.Minute, RetryMax: 5 * time.Minute}}
	var got []time.Duration
	for f := 1; f <= 5; f++ {
		got = append(got, n.backoff(f))
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

func TestAToolsKeptEventsAreBounded(t *testing.T) {
	var st toolState
	for i := range maxPending + 10 {
		e := event{Pod: fmt.Sprintf("p-%d", i), State: stateTerminated, ExitCode: 1, Message: strings.Repeat("m", 2*maxMessage)}
		st.queue(queued{Job: "j", Event: e})
	}
	if len(st.Pending) != maxPending || st.Dropped != 10 || st.Pending[0].Event.Pod != "p-10" || len(st.Pending[0].Event.Message) > maxMessage+4 {
		t.Fatalf("%d pending, %d dropped, first %s, message %d bytes", len(st.Pending), st.Dropped, st.Pending[0].Event.Pod, len(st.Pending[0].Event.Message))
	}
	data, _ := json.Marshal(&st)
	if len(data) > 900<<10 {
		t.Fatalf("the state takes %d bytes: too near a ConfigMap's 1 MiB", len(data))
	}
}

func TestTheMessageIsPlainTextWithItsHeaders(t *testing.T) {
	msg := string(message("root@toolforge.org", "tools.alpha@tools.wmflabs.org", "[Toolforge] [alpha] notification about job x", "line one\nline two\n", "<x@toolforge.org>", time.Unix(0, 0)))
	for _, want := range []string{"From: root@toolforge.org\r\n", "To: tools.alpha@tools.wmflabs.org\r\n", "Subject: [Toolforge] [alpha] notification about job x\r\n", "Message-ID: <x@toolforge.org>\r\n", "Content-Type: text/plain; charset=utf-8\r\n", "\r\n\r\nline one\r\nline two\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestAWriteAfterAnotherNotifiersKeepsBothTheirEvents(t *testing.T) {
	kube := versioned()
	first := newTestNotifierOn(t, kube, nil)
	first.post(observation{tool: "alpha", q: queued{Job: "a", Type: "normal", Emails: emailsOnFailure, Event: eventOf(pod("a-x", corev1.PodFailed, failed))}})
	first.drain()
	first.persist(context.Background())
	// A second notifier read the state before the first wrote it (one
	// that did not notice it no longer leads).
	second := newTestNotifierOn(t, kube, nil)
	second.tools = map[string]*stored{}
	second.post(observation{tool: "alpha", q: queued{Job: "b", Type: "normal", Emails: emailsOnFailure, Event: eventOf(pod("b-x", corev1.PodFailed, failed))}})
	second.drain()
	second.persist(context.Background())
	st := stateOf(t, kube, "alpha")
	if len(st.Pending) != 2 || st.Pending[0].Job != "a" || st.Pending[1].Job != "b" {
		t.Fatalf("after the conflict: %+v", st.Pending)
	}
}
