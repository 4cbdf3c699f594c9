package server

import (
	"encoding/json"
	"fmt"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

const (
	componentJobs   = tenancy.ComponentJobs
	componentCron   = tenancy.ComponentCron
	componentDeploy = tenancy.ComponentDeploy
)

// Annotations on a job's top object.
const (
	// AnnotationDefinition holds the Job definition (JSON) the object was
	// made from.
	AnnotationDefinition = "jobs.toolforge.org/definition"
	// AnnotationRestartedAt on a pod template rolls a continuous job.
	AnnotationRestartedAt = "jobs.toolforge.org/restarted-at"
)

// OneOffTTL is how long a finished one-off job (and its pods, with their
// logs) is kept before Kubernetes removes it.
const OneOffTTL = 3600

// Target is where a job's objects go: the tool, its namespace and uid,
// and the resolved image and resources.
type Target struct {
	Tool   string
	UID    int64
	Image  string
	Limits Limits
}

// Labels are the labels of every object of job name of tool (SPEC §6).
func Labels(tool, name string, kind jobs.Kind) map[string]string {
	return map[string]string{
		tenancy.LabelToolforge: tenancy.ToolforgeTool,
		tenancy.LabelManagedBy: tenancy.ManagedByJobs,
		tenancy.LabelCreatedBy: tool,
		tenancy.LabelComponent: kind.Component(),
		tenancy.LabelAppName:   name,
	}
}

// selector picks a continuous job's pods; it leaves out the component so
// it stays valid whatever else changes (selectors are immutable).
func selector(tool, name string) map[string]string {
	return map[string]string{
		tenancy.LabelManagedBy: tenancy.ManagedByJobs,
		tenancy.LabelCreatedBy: tool,
		tenancy.LabelAppName:   name,
	}
}

// HomeDir is where the tool's home is mounted in its pods (SPEC §5).
func HomeDir(tool string) string { return "/data/project/" + tool }

// Objects are the Kubernetes objects of a job: the top object (Job,
// CronJob or Deployment) and, for a continuous job with a port, a Service.
type Objects struct {
	Top     client.Object
	Service *corev1.Service
}

// Build makes the objects of job j (normalized and validated).
func Build(j *jobs.Job, t Target) (Objects, error) {
	def, err := json.Marshal(j)
	if err != nil {
		return Objects{}, err
	}
	kind := j.Kind()
	meta := metav1.ObjectMeta{
		Name:        j.Name,
		Namespace:   tenancy.Namespace(t.Tool),
		Labels:      Labels(t.Tool, j.Name, kind),
		Annotations: map[string]string{AnnotationDefinition: string(def)},
	}
	tmpl := podTemplate(j, t, kind)
	switch kind {
	case jobs.Scheduled:
		return Objects{Top: &batchv1.CronJob{
			ObjectMeta: meta,
			Spec: batchv1.CronJobSpec{
				Schedule:                   jobs.ActualSchedule(t.Tool, j.Name, j.Schedule),
				ConcurrencyPolicy:          batchv1.ForbidConcurrent,
				SuccessfulJobsHistoryLimit: ptr.To[int32](1),
				FailedJobsHistoryLimit:     ptr.To[int32](1),
				JobTemplate: batchv1.JobTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: Labels(t.Tool, j.Name, kind)},
					Spec:       jobSpec(j, tmpl),
				},
			},
		}}, nil
	case jobs.Continuous:
		objs := Objects{Top: &appsv1.Deployment{
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(j.Replicas)),
				Selector: &metav1.LabelSelector{MatchLabels: selector(t.Tool, j.Name)},
				Template: tmpl,
			},
		}}
		if j.Port != 0 {
			objs.Service = service(j, t)
		}
		return objs, nil
	}
	return Objects{Top: &batchv1.Job{ObjectMeta: meta, Spec: jobSpec(j, tmpl)}}, nil
}

func jobSpec(j *jobs.Job, tmpl corev1.PodTemplateSpec) batchv1.JobSpec {
	spec := batchv1.JobSpec{
		BackoffLimit:            ptr.To(int32(j.Retry)),
		TTLSecondsAfterFinished: ptr.To[int32](OneOffTTL),
		Template:                tmpl,
	}
	if j.Timeout > 0 {
		spec.ActiveDeadlineSeconds = ptr.To(int64(j.Timeout))
	}
	return spec
}

func service(j *jobs.Job, t Target) *corev1.Service {
	proto := corev1.ProtocolTCP
	if j.PortProtocol == "udp" {
		proto = corev1.ProtocolUDP
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: j.Name, Namespace: tenancy.Namespace(t.Tool), Labels: Labels(t.Tool, j.Name, jobs.Continuous)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector(t.Tool, j.Name),
			Ports: []corev1.ServicePort{{
				Name: fmt.Sprintf("%s-%d", j.PortProtocol, j.Port), Port: int32(j.Port), Protocol: proto,
				TargetPort: intstr.FromInt32(int32(j.Port)),
			}},
		},
	}
}

// podTemplate is the pod of a job. Its security settings are those Pod
// Security "restricted" demands, so pods start even before (or without)
// the admission webhooks that also set them.
func podTemplate(j *jobs.Job, t Target, kind jobs.Kind) corev1.PodTemplateSpec {
	labels := Labels(t.Tool, j.Name, kind)
	labels[tenancy.MountStorageLabel] = j.Mount
	restart := corev1.RestartPolicyNever
	if kind == jobs.Continuous {
		restart = corev1.RestartPolicyAlways
	}
	c := corev1.Container{
		// Named after the job: `logs` and the kwok log fixtures find the
		// container by it.
		Name:      j.Name,
		Image:     t.Image,
		Command:   []string{"/bin/sh", "-c", "--", wrapCommand(j)},
		Resources: resources(j, t.Limits),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	if j.Mount == "all" {
		c.WorkingDir = HomeDir(t.Tool)
	}
	if j.Port != 0 {
		proto := corev1.ProtocolTCP
		if j.PortProtocol == "udp" {
			proto = corev1.ProtocolUDP
		}
		c.Ports = []corev1.ContainerPort{{ContainerPort: int32(j.Port), Protocol: proto}}
	}
	if probe := healthProbe(j); probe != nil {
		startup := probe.DeepCopy()
		startup.FailureThreshold = 30 // up to 5 minutes to start
		c.StartupProbe, c.LivenessProbe = startup, probe
	}
	pod := corev1.PodSpec{
		RestartPolicy: restart,
		Containers:    []corev1.Container{c},
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		EnableServiceLinks: ptr.To(false),
	}
	if t.UID > 0 {
		pod.SecurityContext.RunAsUser = ptr.To(t.UID)
		pod.SecurityContext.RunAsGroup = ptr.To(t.UID)
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod}
}

func healthProbe(j *jobs.Job) *corev1.Probe {
	hc := j.HealthCheck
	if hc == nil {
		return nil
	}
	p := &corev1.Probe{PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}
	switch hc.Type {
	case jobs.HealthScript:
		p.Exec = &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "--", hc.Script}}
	case jobs.HealthHTTP:
		p.HTTPGet = &corev1.HTTPGetAction{Path: hc.Path, Port: intstr.FromInt32(int32(j.Port))}
	default:
		return nil
	}
	return p
}

// wrapCommand appends the job's output to its log files when asked.
func wrapCommand(j *jobs.Job) string {
	if !j.Filelog {
		return j.Command
	}
	if j.FilelogStdout == j.FilelogStderr {
		return fmt.Sprintf("exec 1>>%s 2>&1; %s", shellQuote(j.FilelogStdout), j.Command)
	}
	return fmt.Sprintf("exec 1>>%s 2>>%s; %s", shellQuote(j.FilelogStdout), shellQuote(j.FilelogStderr), j.Command)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Definition reads the stored definition of a job's top object. ok is
// false for an object without one (made by hand, or by another version).
func Definition(obj client.Object) (*jobs.Job, bool) {
	raw, found := obj.GetAnnotations()[AnnotationDefinition]
	if !found {
		return nil, false
	}
	var j jobs.Job
	if err := json.Unmarshal([]byte(raw), &j); err != nil {
		return nil, false
	}
	return &j, true
}
