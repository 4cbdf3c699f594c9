package webservice

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Spec is what a tool's web service objects are built from.
type Spec struct {
	Tool      string
	Namespace string
	Domain    string
	Type      string
	Image     string
	Replicas  int32
	Resources corev1.ResourceRequirements
	// Args go to the image's web server runner (the template's
	// extra_args).
	Args []string
	// Command replaces the image's entrypoint (a built image's launcher);
	// Mount, when set, is the pods' mount-storage (all or none).
	Command []string
	Mount   string
}

// Host is the public host name of a tool's web service.
func Host(tool, domain string) string { return tool + "." + domain }

func (sp Spec) meta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: sp.Tool, Namespace: sp.Namespace, Labels: Labels(sp.Tool)}
}

// Deployment runs the web service's pods.
func (sp Spec) Deployment() *appsv1.Deployment {
	meta := sp.meta()
	meta.Annotations = map[string]string{TypeAnnotation: sp.Type}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(sp.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector(sp.Tool)},
			// One pod at a time is replaced without a surge: a surge pod
			// needs quota headroom most tools do not have, and a rollout
			// stuck on quota never finishes.
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge:       ptr.To(intstr.FromInt32(0)),
					MaxUnavailable: ptr.To(intstr.FromInt32(1)),
				},
			},
			RevisionHistoryLimit: ptr.To(int32(2)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sp.podLabels()},
				Spec:       sp.podSpec(),
			},
		},
	}
}

func (sp Spec) podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:    ContainerName,
			Image:   sp.Image,
			Command: sp.Command,
			Args:    sp.Args,
			Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: Port, Protocol: corev1.ProtocolTCP}},
			// The web images' runner serves on $PORT.
			Env:             []corev1.EnvVar{{Name: "PORT", Value: strconv.Itoa(Port)}},
			Resources:       sp.Resources,
			SecurityContext: containerSecurity(),
			// The kubelet probes readiness once the container has
			// started, and then every period: with a 10 s period, an app
			// still loading at that first probe became ready only 10 s
			// later (a python3.11 start took 10.8 s in issue 25). Every
			// second, it is ready within a second of listening; 30
			// failures in a row still take 30 s to make it unready, as
			// 3 failures 10 s apart did. (A startup probe every second
			// measured a second slower in the common case: the readiness
			// probe then waits for the startup probe's first tick after
			// the container starts.)
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(Port)}},
				PeriodSeconds:    1,
				FailureThreshold: 30,
			},
		}},
		SecurityContext: podSecurity(),
		// Service links would put every Service of the namespace into the
		// environment, beside the tool's own variables.
		EnableServiceLinks: ptr.To(false),
	}
}

// podLabels are the pods' labels: the web service's, and its
// mount-storage when it has one.
func (sp Spec) podLabels() map[string]string {
	l := Labels(sp.Tool)
	if sp.Mount != "" {
		l[tenancy.MountStorageLabel] = sp.Mount
	}
	return l
}

// podSecurity and containerSecurity are what Pod Security "restricted"
// requires. The platform's admission also sets the tool's uid; the pods
// must pass without it too, or a Deployment in a namespace without the
// webhook would silently never get pods.
func podSecurity() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func containerSecurity() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// Service routes to the web service's pods inside the cluster.
func (sp Spec) Service() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: sp.meta(),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector(sp.Tool),
			Ports: []corev1.ServicePort{{
				Name: "http", Port: Port, TargetPort: intstr.FromInt32(Port), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// Ingress routes <tool>.<domain> to the Service.
func (sp Spec) Ingress() *networkingv1.Ingress {
	return &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: sp.meta(),
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: Host(sp.Tool, sp.Domain),
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: sp.Tool,
							Port: networkingv1.ServiceBackendPort{Number: Port},
						}},
					}},
				}},
			}},
		},
	}
}

// ShellPod is the pod of `webservice shell`: the web service's image and
// resources, a login shell on stdin (or command, when given), never
// restarted.
func (sp Spec) ShellPod(tty bool, command ...string) *corev1.Pod {
	spec := sp.podSpec()
	c := &spec.Containers[0]
	c.Name = ShellContainerName
	c.Command, c.Args = []string{"/bin/bash", "-il"}, nil
	if len(command) > 0 {
		// As kubectl run -- COMMAND: the program itself, not a shell line.
		c.Command = command
	}
	// In the tool's home, as a login on the bastion.
	c.WorkingDir = tenancy.HomeMountPath(sp.Tool)
	c.Ports, c.ReadinessProbe = nil, nil
	c.Stdin, c.StdinOnce, c.TTY = true, true, tty
	spec.RestartPolicy = corev1.RestartPolicyNever
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: sp.Tool + "-shell-",
			Namespace:    sp.Namespace,
			Labels:       shellLabels(sp.Tool),
			Annotations:  map[string]string{TypeAnnotation: sp.Type},
		},
		Spec: spec,
	}
}

// ShellContainerName is the container of a shell pod.
const ShellContainerName = "shell"
