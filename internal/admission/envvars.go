package admission

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// mutateEnvvars gives every container under review the tool's environment
// variables (SPEC §7) as one reference to their Secret. The values are read
// when the container starts: they never pass through admission, a variable
// created later reaches every new container, and admission needs no lookup
// at all. A variable the container defines in env wins (Kubernetes gives
// env precedence over envFrom), and the Secret comes first among envFrom so
// that the container's own sources win over it too.
func mutateEnvvars(t *podTarget) {
	for _, c := range t.reviewedContainers() {
		if !hasEnvvarsRef(*c.envFrom) {
			*c.envFrom = slices.Insert(*c.envFrom, 0, envvarsRef())
		}
	}
}

// envvarsRef is the reference to the tool's envvars Secret; optional, so a
// tool without variables (no Secret) starts its containers all the same.
func envvarsRef() corev1.EnvFromSource {
	return corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: tenancy.EnvvarsSecret},
		Optional:             ptr.To(true),
	}}
}

func hasEnvvarsRef(from []corev1.EnvFromSource) bool {
	return slices.ContainsFunc(from, func(e corev1.EnvFromSource) bool {
		return e.SecretRef != nil && e.SecretRef.Name == tenancy.EnvvarsSecret
	})
}
