package admission

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// mutateEnvvars injects the tool's environment variables (SPEC §7) into
// every container under review that does not define the name itself. They
// are references to the Secret, not values: the values never pass through
// admission, and a variable deleted later is simply absent (optional).
func mutateEnvvars(t *podTarget) {
	if len(t.envvars) == 0 {
		return
	}
	for _, c := range t.reviewedContainers() {
		for _, name := range t.envvars {
			if definesEnv(*c.env, name) {
				continue
			}
			*c.env = append(*c.env, corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: tenancy.EnvvarsSecret},
					Key:                  name,
					Optional:             ptr.To(true),
				},
			}})
		}
	}
}
