package admission

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// toolInfo is the tenant a request is for, from its namespace's labels.
type toolInfo struct {
	Name string
	UID  int64
}

// podTarget is one pod spec under review: a Pod's own or a workload's
// template.
type podTarget struct {
	tool     toolInfo
	settings *Effective
	// labels of the pod or of the template.
	labels map[string]string
	spec   *corev1.PodSpec
	// path of spec in the object under review (spec, spec.template.spec).
	path *field.Path
	// podLevel says the pod-level fields are under review: on creation and
	// in templates, not when a running pod changes (they are immutable).
	podLevel bool
	// reviewed says which containers are under review: all of them, or on
	// an update only those that changed.
	reviewed func(c container) bool

	// The platform claims of the namespace, from the informer cache.
	claims []platformClaim
}

// rule is one of the SPEC's admission rules. check names each problem (the
// field, what is allowed, the fix) in a sentence; mutate, when the rule
// mutates, makes a compliant pod what the platform wants it to be.
type rule struct {
	name   string
	check  func(t *podTarget) []string
	mutate func(t *podTarget)
}

// podRules are applied in this order: identity before volumes so the
// volume mounts are made for the final security context. (HOME set by
// volumes wins over an envvar of that name whatever the order: env entries
// take precedence over envFrom.)
var podRules = []rule{
	{name: "identity", check: checkIdentity, mutate: mutateIdentity},
	{name: "volumes", check: checkVolumes, mutate: mutateVolumes},
	{name: "volumes", check: checkReadOnlyClaims},
	{name: "envvars", mutate: mutateEnvvars},
	{name: "registry", check: checkRegistry},
	{name: "serviceaccount", check: checkServiceAccount},
}

// denial lists every problem of a pod spec, each prefixed by its rule.
type denial []string

func (d denial) Error() string { return strings.Join(d, "; ") }

// review runs every rule's check on t; with mutate, and when nothing is
// wrong, it then applies every rule's mutation to t.spec.
func review(t *podTarget, mutate bool) error {
	var problems denial
	for _, r := range podRules {
		if r.check != nil {
			problems = append(problems, prefixed(r.name, r.check(t))...)
		}
	}
	if len(problems) > 0 {
		return problems
	}
	if mutate {
		for _, r := range podRules {
			if r.mutate != nil {
				r.mutate(t)
			}
		}
	}
	return nil
}

// prefixed names the rule in each of its problems.
func prefixed(rule string, problems []string) []string {
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = rule + ": " + p
	}
	return out
}

// container is a view of a container, an init container or an ephemeral
// container (a different Go type with the same fields).
type container struct {
	kind    string // container, init container, ephemeral container
	name    string
	field   string // initContainers, containers, ephemeralContainers
	index   int
	path    *field.Path
	image   string
	sc      **corev1.SecurityContext
	env     *[]corev1.EnvVar
	envFrom *[]corev1.EnvFromSource
	mounts  *[]corev1.VolumeMount
	ports   []corev1.ContainerPort
}

func (c container) String() string { return fmt.Sprintf("%s %q", c.kind, c.name) }

// containers lists every container of spec.
func containers(spec *corev1.PodSpec, path *field.Path) []container {
	var out []container
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		out = append(out, container{kind: "init container", name: c.Name, field: "initContainers", index: i, path: path.Child("initContainers").Index(i),
			image: c.Image, sc: &c.SecurityContext, env: &c.Env, envFrom: &c.EnvFrom, mounts: &c.VolumeMounts, ports: c.Ports})
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		out = append(out, container{kind: "container", name: c.Name, field: "containers", index: i, path: path.Child("containers").Index(i),
			image: c.Image, sc: &c.SecurityContext, env: &c.Env, envFrom: &c.EnvFrom, mounts: &c.VolumeMounts, ports: c.Ports})
	}
	for i := range spec.EphemeralContainers {
		c := &spec.EphemeralContainers[i]
		out = append(out, container{kind: "ephemeral container", name: c.Name, field: "ephemeralContainers", index: i, path: path.Child("ephemeralContainers").Index(i),
			image: c.Image, sc: &c.SecurityContext, env: &c.Env, envFrom: &c.EnvFrom, mounts: &c.VolumeMounts})
	}
	return out
}

// reviewedContainers are t's containers under review.
func (t *podTarget) reviewedContainers() []container {
	all := containers(t.spec, t.path)
	if t.reviewed == nil {
		return all
	}
	var out []container
	for _, c := range all {
		if t.reviewed(c) {
			out = append(out, c)
		}
	}
	return out
}

// oldImages maps "<kind>/<name>" to the image in spec, to tell which
// containers an update changed.
func oldImages(spec *corev1.PodSpec) map[string]string {
	out := map[string]string{}
	for _, c := range containers(spec, field.NewPath("spec")) {
		out[c.kind+"/"+c.name] = c.image
	}
	return out
}
