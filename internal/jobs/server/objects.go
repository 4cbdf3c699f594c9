package server

import (
	"encoding/json"
	"fmt"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"path"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
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
	// AnnotationRestartedAt on a pod template rolls a continuous job: the
	// original's annotation, which its tests read from the Deployment.
	AnnotationRestartedAt = "app.kubernetes.io/restartedAt"
)

// OneOffTTL is how long a finished one-off job (and its pods, with their
// logs) is kept before Kubernetes removes it.
const OneOffTTL = 3600

// Target is where a job's objects go: the tool, its namespace and uid,
// the resolved image and resources, and the domain a published job is
// routed under.
type Target struct {
	Tool  string
	UID   int64
	Image string
	// Built says Image is a tool's built image: its command runs through
	// the image's launcher, in the app's directory.
	Built  bool
	Limits Limits
	Domain string
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
// CronJob or Deployment) and, for a continuous job with a port, a Service,
// and for a published one an Ingress.
type Objects struct {
	Top     client.Object
	Service *corev1.Service
	Ingress *networkingv1.Ingress
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
		if j.Publish {
			objs.Ingress = ingress(j, t)
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

// PublishedHost is the host a published job of tool answers at.
func PublishedHost(tool, domain string) string { return tool + "." + domain }

// ingress routes <tool>.<domain>/ to a published job's Service, as the
// original's published jobs do (Ingress named after the job).
func ingress(j *jobs.Job, t Target) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: j.Name, Namespace: tenancy.Namespace(t.Tool), Labels: Labels(t.Tool, j.Name, jobs.Continuous)},
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: PublishedHost(t.Tool, t.Domain),
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: j.Name,
							Port: networkingv1.ServiceBackendPort{Number: int32(j.Port)},
						}},
					}},
				}},
			}},
		},
	}
}

// TerminationGrace is how long a job's process has to stop after SIGTERM
// (the original's 15 s: a restart or a failed health check does not wait
// the default 30 s).
const TerminationGrace = 15

// DrainSeconds is how long a replaced replica of a continuous job with a
// TCP port keeps running before it is told to stop (within
// TerminationGrace).
const DrainSeconds = 3

// podTemplate is the pod of a job. Its security settings are those Pod
// Security "restricted" demands, so pods start even before (or without)
// the admission webhooks that also set them.
func podTemplate(j *jobs.Job, t Target, kind jobs.Kind) corev1.PodTemplateSpec {
	labels := Labels(t.Tool, j.Name, kind)
	labels[tenancy.MountStorageLabel] = j.Mount
	labels[tenancy.EmailsLabel] = j.Emails
	restart := corev1.RestartPolicyNever
	if kind == jobs.Continuous {
		restart = corev1.RestartPolicyAlways
	}
	c := corev1.Container{
		// Named after the job: `logs` and the kwok log fixtures find the
		// container by it.
		Name:      j.Name,
		Image:     t.Image,
		Command:   []string{"/bin/sh", "-c", "--", wrapCommand(j, t)},
		Resources: resources(j, t.Limits),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	if j.Mount == "all" && !t.Built {
		c.WorkingDir = HomeDir(t.Tool)
	}
	if j.Port != 0 {
		proto := corev1.ProtocolTCP
		if j.PortProtocol == "udp" {
			proto = corev1.ProtocolUDP
		}
		c.Ports = []corev1.ContainerPort{{ContainerPort: int32(j.Port), Protocol: proto}}
		// The port to listen on, as web services get theirs.
		c.Env = []corev1.EnvVar{{Name: "PORT", Value: strconv.Itoa(j.Port)}}
		if kind == jobs.Continuous && proto == corev1.ProtocolTCP {
			// A replaced replica keeps serving while the ingress and the
			// Service drop it (they learn of it from the same deletion):
			// without the pause, a rollout's requests meet a closed port.
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: DrainSeconds}}}
		}
	}
	c.StartupProbe, c.LivenessProbe = probes(j)
	pod := corev1.PodSpec{
		RestartPolicy:                 restart,
		TerminationGracePeriodSeconds: ptr.To[int64](TerminationGrace),
		Containers:                    []corev1.Container{c},
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

// probes are a continuous job's startup and liveness probes, with the
// original's timings: the check may fail for two minutes while the job
// starts (every second, so a quick start is seen at once), then three
// failures ten seconds apart restart the container. A job with a tcp port
// and no health check is checked by connecting to the port, as the
// original does.
func probes(j *jobs.Job) (startup, liveness *corev1.Probe) {
	var h corev1.ProbeHandler
	switch hc := j.HealthCheck; {
	case hc != nil && hc.Type == jobs.HealthScript:
		h.Exec = &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "--", hc.Script}}
	case hc != nil && hc.Type == jobs.HealthHTTP:
		h.HTTPGet = &corev1.HTTPGetAction{Path: hc.Path, Port: intstr.FromInt32(int32(j.Port))}
	case hc == nil && j.Continuous && j.Port != 0 && j.PortProtocol == "tcp":
		h.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(j.Port))}
	default:
		return nil, nil
	}
	startup = &corev1.Probe{ProbeHandler: h, PeriodSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 120}
	liveness = &corev1.Probe{ProbeHandler: *h.DeepCopy(), PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}
	return startup, liveness
}

// wrapCommand appends the job's output to its log files when asked, and
// runs a built image's command through its launcher (as the original:
// `launcher <command>`, a Procfile process type or a command line).
func wrapCommand(j *jobs.Job, t Target) string {
	cmd := j.Command
	if t.Built {
		cmd = jobs.LauncherCommand(cmd)
	}
	if !j.FileLogs() {
		return cmd
	}
	if t.Built {
		// Relative log files are in the home, where a built image's job
		// does not run (it runs in the app's directory).
		home := HomeDir(t.Tool)
		return jobs.FileLogCommand(cmd, inHome(home, j.FilelogStdout), inHome(home, j.FilelogStderr))
	}
	return jobs.FileLogCommand(cmd, j.FilelogStdout, j.FilelogStderr)
}

// inHome is p in home when relative.
func inHome(home, p string) string {
	if path.IsAbs(p) {
		return p
	}
	return path.Join(home, p)
}

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
	if j.Filelog == nil {
		// Stored before file logs had a default by image kind, when an
		// absent filelog meant none.
		j.Filelog = new(bool)
	}
	return &j, true
}
