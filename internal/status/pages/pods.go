package pages

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/status/wire"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Problem reasons beside the container runtime's own (CrashLoopBackOff,
// ImagePullBackOff, OOMKilled, …).
const (
	ReasonPending       = "Pending"
	ReasonUnschedulable = "Unschedulable"
)

// troubled are the waiting reasons that mean a container will not run
// without someone acting.
var troubled = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "InvalidImageName": true,
	"RunContainerError": true,
}

// problems of a pod: containers crash looping, killed for memory, images
// that do not pull; a pod not yet scheduled or started.
func problems(p *corev1.Pod, tool string) []wire.Problem {
	var out []wire.Problem
	ref := podRef(p, tool)
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Waiting != nil && troubled[cs.State.Waiting.Reason]:
			var since *time.Time
			if t := cs.LastTerminationState.Terminated; t != nil {
				since = timeOf(t.FinishedAt)
			}
			out = append(out, wire.Problem{Pod: ref, Container: cs.Name, Reason: cs.State.Waiting.Reason, Since: since})
		case oomKilled(cs.State.Terminated):
			out = append(out, wire.Problem{Pod: ref, Container: cs.Name, Reason: "OOMKilled", Since: timeOf(cs.State.Terminated.FinishedAt)})
		case oomKilled(cs.LastTerminationState.Terminated) && !finished(p):
			out = append(out, wire.Problem{Pod: ref, Container: cs.Name, Reason: "OOMKilled", Since: timeOf(cs.LastTerminationState.Terminated.FinishedAt)})
		}
	}
	if len(out) == 0 && p.Status.Phase == corev1.PodPending && p.DeletionTimestamp == nil {
		reason := ReasonPending
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == ReasonUnschedulable {
				reason = ReasonUnschedulable
			}
		}
		out = append(out, wire.Problem{Pod: ref, Reason: reason, Since: timeOf(p.CreationTimestamp)})
	}
	return out
}

// timeOf is t in UTC, or nil when unset.
func timeOf(t metav1.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func oomKilled(t *corev1.ContainerStateTerminated) bool { return t != nil && t.Reason == "OOMKilled" }

// owner is what runs a pod, by the platform's labels.
func owner(p *corev1.Pod) string {
	l := p.Labels
	switch {
	case l[tenancy.LabelManagedBy] == tenancy.ManagedByWeb && l[tenancy.LabelComponent] == tenancy.ComponentWeb:
		return "webservice"
	case l[tenancy.LabelComponent] == tenancy.ComponentShell:
		return "webservice shell"
	case l[tenancy.LabelManagedBy] == tenancy.ManagedByJobs && l[tenancy.LabelAppName] != "":
		return "job " + l[tenancy.LabelAppName]
	}
	return ""
}

func readyCount(p *corev1.Pod) string {
	ready := 0
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
	}
	return fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers))
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

func podSummary(p *corev1.Pod) wire.Pod {
	out := wire.Pod{
		Name: p.Name, Owner: owner(p), Phase: string(p.Status.Phase), Ready: readyCount(p),
		Restarts: restarts(p), Created: p.CreationTimestamp.UTC(), Node: p.Spec.NodeName,
	}
	if len(p.Spec.Containers) > 0 {
		out.Image = p.Spec.Containers[0].Image
	}
	if p.DeletionTimestamp != nil {
		out.Phase = "Terminating"
	}
	return out
}

// Pod is /tools/<t>/pods/<pod>/.
func (b *Builder) Pod(tool, name string) (wire.PodDetail, error) {
	ns, err := b.toolNamespace(tool)
	if err != nil {
		return wire.PodDetail{}, err
	}
	p, ok := b.Src.Pod(ns.Name, name)
	if !ok {
		return wire.PodDetail{}, &NotFoundError{Kind: "pod", Name: name}
	}
	out := wire.PodDetail{
		Page: b.page(), Tool: tool, Name: p.Name, Phase: string(p.Status.Phase), Reason: p.Status.Reason,
		Node: p.Spec.NodeName, Created: p.CreationTimestamp.UTC(), Owner: owner(p),
		InitContainers: containers(p.Spec.InitContainers, p.Status.InitContainerStatuses),
		Containers:     containers(p.Spec.Containers, p.Status.ContainerStatuses),
	}
	if p.Status.StartTime != nil {
		t := p.Status.StartTime.UTC()
		out.Started = &t
	}
	return out, nil
}

func containers(spec []corev1.Container, statuses []corev1.ContainerStatus) []wire.Container {
	if len(spec) == 0 {
		return nil
	}
	byName := map[string]corev1.ContainerStatus{}
	for _, s := range statuses {
		byName[s.Name] = s
	}
	out := make([]wire.Container, 0, len(spec))
	for _, c := range spec {
		s, seen := byName[c.Name]
		wc := wire.Container{
			Name: c.Name, Image: c.Image, Ready: s.Ready, Restarts: s.RestartCount,
			Requests: quantities(c.Resources.Requests), Limits: quantities(c.Resources.Limits),
			State: wire.ContainerState{State: "waiting", Reason: "not started"},
		}
		if seen {
			wc.State = containerState(s.State)
			if s.LastTerminationState.Terminated != nil {
				last := containerState(s.LastTerminationState)
				wc.LastState = &last
			}
		}
		for _, m := range c.VolumeMounts {
			wc.Mounts = append(wc.Mounts, wire.Mount{Volume: m.Name, Path: m.MountPath, ReadOnly: m.ReadOnly})
		}
		out = append(out, wc)
	}
	return out
}

func containerState(s corev1.ContainerState) wire.ContainerState {
	switch {
	case s.Running != nil:
		return wire.ContainerState{State: "running", Since: timeOf(s.Running.StartedAt)}
	case s.Terminated != nil:
		code := s.Terminated.ExitCode
		return wire.ContainerState{State: "terminated", Reason: s.Terminated.Reason, ExitCode: &code, Since: timeOf(s.Terminated.FinishedAt)}
	case s.Waiting != nil:
		return wire.ContainerState{State: "waiting", Reason: s.Waiting.Reason}
	}
	return wire.ContainerState{State: "unknown"}
}

func quantities(l corev1.ResourceList) map[string]string {
	if len(l) == 0 {
		return nil
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[string(k)] = v.String()
	}
	return out
}

// requests sums the CPU (cores) and memory (bytes) requests of pods that
// hold resources on a node.
func requests(pods []*corev1.Pod) (cpu, mem float64) {
	for _, p := range pods {
		if finished(p) || p.Spec.NodeName == "" {
			continue
		}
		for _, c := range p.Spec.Containers {
			cpu += quantity(c.Resources.Requests, corev1.ResourceCPU)
			mem += quantity(c.Resources.Requests, corev1.ResourceMemory)
		}
	}
	return cpu, mem
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) float64 {
	if q, ok := l[name]; ok {
		return q.AsApproximateFloat64()
	}
	return 0
}

func fraction(used, hard resource.Quantity) float64 {
	h := hard.AsApproximateFloat64()
	if h <= 0 {
		if used.Sign() > 0 {
			return 1
		}
		return 0
	}
	return min(used.AsApproximateFloat64()/h, 1)
}

// sortPods orders a tool's pods by owner, then name.
func sortPods(pods []wire.Pod) {
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Owner != pods[j].Owner {
			return pods[i].Owner < pods[j].Owner
		}
		return strings.Compare(pods[i].Name, pods[j].Name) < 0
	})
}
