// Package notify is `toolforged notifier`: it watches the pods of tools'
// jobs and mails each tool, at most once per interval, about what its jobs
// asked to be told (--emails all, onfinish or onfailure), as the original
// Toolforge's jobs-emailer does: the same choice of events, one batched
// message per tool, the same subject lines.
package notify

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Container states of an event, as the original names them.
const (
	stateUnknown    = "unknown"
	stateRunning    = "running"
	stateTerminated = "terminated"
	stateWaiting    = "waiting"
)

// event is one observed state of a job's pod. Two events are the same
// (sent once) when pod, phase, state and exit code are: timestamps and
// messages do not make a new event.
type event struct {
	Pod      string
	Phase    string
	State    string
	ExitCode int32
	Started  time.Time
	Finished time.Time
	Reason   string
	Message  string
}

func (e event) key() string {
	return fmt.Sprintf("%s/%s/%s/%d", e.Pod, e.Phase, e.State, e.ExitCode)
}

// eventOf reads a pod's state from its first container, as the original.
func eventOf(p *corev1.Pod) event {
	e := event{Pod: p.Name, Phase: string(p.Status.Phase), State: stateUnknown}
	if len(p.Status.ContainerStatuses) == 0 {
		return e
	}
	st := p.Status.ContainerStatuses[0].State
	switch {
	case st.Running != nil:
		e.State, e.Started = stateRunning, st.Running.StartedAt.Time
	case st.Terminated != nil:
		t := st.Terminated
		e.State, e.Started, e.Finished = stateTerminated, t.StartedAt.Time, t.FinishedAt.Time
		e.ExitCode, e.Reason, e.Message = t.ExitCode, t.Reason, t.Message
	case st.Waiting != nil:
		e.State, e.Reason, e.Message = stateWaiting, st.Waiting.Reason, st.Waiting.Message
	}
	return e
}

// String is the event as a line of the message, in the original's words.
func (e event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Pod '%s'. ", e.Pod)
	if e.Phase != "" {
		fmt.Fprintf(&b, "Phase: '%s'. ", strings.ToLower(e.Phase))
	}
	fmt.Fprintf(&b, "Container state: '%s'. ", e.State)
	if !e.Started.IsZero() {
		fmt.Fprintf(&b, "Start timestamp %s. ", e.Started.UTC().Format(time.RFC3339))
	}
	if !e.Finished.IsZero() {
		fmt.Fprintf(&b, "Finish timestamp %s. ", e.Finished.UTC().Format(time.RFC3339))
	}
	if e.ExitCode != 0 {
		fmt.Fprintf(&b, "Exit code was '%d'. ", e.ExitCode)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, "With reason '%s'. ", e.Reason)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, "With message: '%s'. ", e.Message)
	}
	return strings.TrimSpace(b.String())
}

// Emails settings (jobs run --emails).
const (
	emailsNone      = "none"
	emailsAll       = "all"
	emailsOnFinish  = "onfinish"
	emailsOnFailure = "onfailure"
)

// relevant says whether a job with the emails setting wants to hear of e.
func relevant(emails string, e event) bool {
	if e.State == stateUnknown && e.Phase == string(corev1.PodPending) {
		return false // nothing to tell yet
	}
	switch emails {
	case emailsAll:
		return true
	case emailsOnFinish:
		return e.State == stateTerminated
	case emailsOnFailure:
		return e.State == stateTerminated && e.ExitCode != 0
	}
	return false
}

// jobType is the kind of job a pod belongs to, as the message names it.
func jobType(p *corev1.Pod) string {
	switch p.Labels[tenancy.LabelComponent] {
	case tenancy.ComponentJobs:
		return "normal"
	case tenancy.ComponentCron:
		return "cronjob"
	case tenancy.ComponentDeploy:
		return "continuous"
	}
	return "unknown"
}
