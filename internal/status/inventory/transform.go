package inventory

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// The transforms below are applied to every object before the caches keep
// it: each builds a new object holding only what the pages show, so an
// environment variable's value, an annotation (which may carry anything),
// managedFields, a container's termination message (its own output) or a
// volume's source never reach memory past the decoder. They must be
// idempotent: client-go may pass an already transformed object again.

// workloadLabels are the labels the pages read (SPEC §6, §7).
var workloadLabels = []string{
	tenancy.LabelToolforge, tenancy.LabelManagedBy, tenancy.LabelComponent,
	tenancy.LabelAppName, tenancy.LabelCreatedBy,
}

var namespaceLabels = []string{tenancy.LabelTenancy, tenancy.LabelTool}

// transformer strips objects, sharing equal resource lists.
type transformer struct{ in *interner }

func newTransformer() *transformer { return &transformer{in: newInterner(10000)} }

func (t *transformer) transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return t.stripPod(o), nil
	case *corev1.Node:
		return stripNode(o), nil
	case *corev1.Namespace:
		return &corev1.Namespace{ObjectMeta: stripMeta(o.ObjectMeta, namespaceLabels), Status: corev1.NamespaceStatus{Phase: o.Status.Phase}}, nil
	case *corev1.ResourceQuota:
		return &corev1.ResourceQuota{ObjectMeta: stripMeta(o.ObjectMeta, nil), Status: corev1.ResourceQuotaStatus{Hard: t.in.list(o.Status.Hard), Used: t.in.list(o.Status.Used)}}, nil
	case *corev1.ConfigMap:
		// Only the image catalogue and what the platform publishes are
		// watched; keep the keys the pages read.
		data := map[string]string{}
		for _, k := range []string{images.ConfigMapKey, tenancy.APIConfigWebURL} {
			if v, ok := o.Data[k]; ok {
				data[k] = v
			}
		}
		return &corev1.ConfigMap{ObjectMeta: stripMeta(o.ObjectMeta, nil), Data: data}, nil
	case *appsv1.Deployment:
		return t.stripDeployment(o), nil
	case *batchv1.Job:
		return t.stripJob(o), nil
	case *batchv1.CronJob:
		return t.stripCronJob(o), nil
	case *networkingv1.Ingress:
		return stripIngress(o), nil
	}
	return obj, nil
}

// stripMeta keeps identity, times and the named labels.
func stripMeta(m metav1.ObjectMeta, labels []string) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
	}
	for _, k := range labels {
		if v, ok := m.Labels[k]; ok {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k] = v
		}
	}
	return out
}

func (t *transformer) stripPod(p *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		ObjectMeta: stripMeta(p.ObjectMeta, workloadLabels),
		Spec: corev1.PodSpec{
			NodeName:       p.Spec.NodeName,
			InitContainers: t.stripContainers(p.Spec.InitContainers, false),
			Containers:     t.stripContainers(p.Spec.Containers, false),
		},
		Status: corev1.PodStatus{
			Phase: p.Status.Phase, Reason: p.Status.Reason, StartTime: p.Status.StartTime,
			InitContainerStatuses: stripStatuses(p.Status.InitContainerStatuses),
			ContainerStatuses:     stripStatuses(p.Status.ContainerStatuses),
		},
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady || c.Type == corev1.PodScheduled {
			out.Status.Conditions = append(out.Status.Conditions, corev1.PodCondition{
				Type: c.Type, Status: c.Status, Reason: c.Reason, LastTransitionTime: c.LastTransitionTime,
			})
		}
	}
	return out
}

// stripContainers keeps name, image, resources and mounts (and, for the
// templates of jobs, the command the job runs): never env or envFrom.
func (t *transformer) stripContainers(cs []corev1.Container, command bool) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{
			Name: c.Name, Image: c.Image,
			Resources: corev1.ResourceRequirements{Requests: t.in.list(c.Resources.Requests), Limits: t.in.list(c.Resources.Limits)},
		}
		for _, m := range c.VolumeMounts {
			out[i].VolumeMounts = append(out[i].VolumeMounts, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly})
		}
		if command {
			out[i].Command, out[i].Args = c.Command, c.Args
		}
	}
	return out
}

func stripStatuses(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
	if ss == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(ss))
	for i, s := range ss {
		out[i] = corev1.ContainerStatus{
			Name: s.Name, Image: s.Image, Ready: s.Ready, RestartCount: s.RestartCount,
			State: stripState(s.State), LastTerminationState: stripState(s.LastTerminationState),
		}
	}
	return out
}

// stripState drops messages: a terminated container's message is what it
// wrote to its termination log, which may be anything it knows.
func stripState(s corev1.ContainerState) corev1.ContainerState {
	var out corev1.ContainerState
	if w := s.Waiting; w != nil {
		out.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason}
	}
	if r := s.Running; r != nil {
		out.Running = &corev1.ContainerStateRunning{StartedAt: r.StartedAt}
	}
	if t := s.Terminated; t != nil {
		out.Terminated = &corev1.ContainerStateTerminated{Reason: t.Reason, ExitCode: t.ExitCode, Signal: t.Signal, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
	}
	return out
}

func stripNode(n *corev1.Node) *corev1.Node {
	out := &corev1.Node{
		ObjectMeta: stripMeta(n.ObjectMeta, nil),
		Spec:       corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable, Taints: n.Spec.Taints},
		Status: corev1.NodeStatus{
			Capacity: n.Status.Capacity, Allocatable: n.Status.Allocatable,
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: n.Status.NodeInfo.KubeletVersion},
		},
	}
	// A node's labels are the platform's (roles, zones), shown on its page.
	out.Labels = n.Labels
	for _, c := range n.Status.Conditions {
		// The heartbeat time changes every few seconds and is never shown.
		out.Status.Conditions = append(out.Status.Conditions, corev1.NodeCondition{
			Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime,
		})
	}
	return out
}

func (t *transformer) stripTemplate(p corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: t.stripContainers(p.Spec.Containers, true)}}
}

func (t *transformer) stripDeployment(d *appsv1.Deployment) *appsv1.Deployment {
	out := &appsv1.Deployment{
		ObjectMeta: stripMeta(d.ObjectMeta, workloadLabels),
		Spec:       appsv1.DeploymentSpec{Replicas: d.Spec.Replicas, Template: t.stripTemplate(d.Spec.Template)},
		Status: appsv1.DeploymentStatus{
			Replicas: d.Status.Replicas, ReadyReplicas: d.Status.ReadyReplicas,
			AvailableReplicas: d.Status.AvailableReplicas, UpdatedReplicas: d.Status.UpdatedReplicas,
		},
	}
	// The one annotation shown: the web service's type.
	if t, ok := d.Annotations[webservice.TypeAnnotation]; ok {
		out.Annotations = map[string]string{webservice.TypeAnnotation: t}
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure {
			out.Status.Conditions = append(out.Status.Conditions, appsv1.DeploymentCondition{Type: c.Type, Status: c.Status, Reason: c.Reason})
		}
	}
	return out
}

func (t *transformer) stripJob(j *batchv1.Job) *batchv1.Job {
	out := &batchv1.Job{
		ObjectMeta: stripMeta(j.ObjectMeta, workloadLabels),
		Spec:       batchv1.JobSpec{Suspend: j.Spec.Suspend, Template: t.stripTemplate(j.Spec.Template)},
		Status: batchv1.JobStatus{
			Active: j.Status.Active, Succeeded: j.Status.Succeeded, Failed: j.Status.Failed,
			StartTime: j.Status.StartTime, CompletionTime: j.Status.CompletionTime,
		},
	}
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed {
			out.Status.Conditions = append(out.Status.Conditions, batchv1.JobCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, LastTransitionTime: c.LastTransitionTime})
		}
	}
	return out
}

func (t *transformer) stripCronJob(c *batchv1.CronJob) *batchv1.CronJob {
	out := &batchv1.CronJob{
		ObjectMeta: stripMeta(c.ObjectMeta, workloadLabels),
		Spec: batchv1.CronJobSpec{
			Schedule: c.Spec.Schedule, Suspend: c.Spec.Suspend,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t.stripTemplate(c.Spec.JobTemplate.Spec.Template)}},
		},
		Status: batchv1.CronJobStatus{LastScheduleTime: c.Status.LastScheduleTime, LastSuccessfulTime: c.Status.LastSuccessfulTime},
	}
	for _, a := range c.Status.Active {
		out.Status.Active = append(out.Status.Active, corev1.ObjectReference{Name: a.Name})
	}
	return out
}

func stripIngress(i *networkingv1.Ingress) *networkingv1.Ingress {
	out := &networkingv1.Ingress{ObjectMeta: stripMeta(i.ObjectMeta, workloadLabels)}
	for _, r := range i.Spec.Rules {
		out.Spec.Rules = append(out.Spec.Rules, networkingv1.IngressRule{Host: r.Host})
	}
	return out
}
