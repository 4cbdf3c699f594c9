package admission

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Envvars are injected as a reference to their Secret, so admission has
// no reason to hold any Secret, and holds none: the values of a tool's
// variables never reach its memory.
func TestAdmissionCachesNoSecret(t *testing.T) {
	for obj := range cacheOptions(tenancy.PlatformNamespace).ByObject {
		if _, ok := obj.(*corev1.Secret); ok {
			t.Errorf("the cache holds Secrets")
		}
	}
	for _, obj := range cachedKinds() {
		if _, ok := obj.(*corev1.Secret); ok {
			t.Errorf("an informer for Secrets is started")
		}
	}
}
