package admission

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Admission needs the names of a tool's envvars, never their values: the
// cache drops them as Secrets arrive.
func TestTheCacheKeepsEnvvarNamesNotValues(t *testing.T) {
	var transform func(any) (any, error)
	for obj, by := range cacheOptions(tenancy.PlatformNamespace).ByObject {
		if _, ok := obj.(*corev1.Secret); ok {
			transform = by.Transform
		}
	}
	if transform == nil {
		t.Fatal("no transform for Secrets")
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: tenancy.EnvvarsSecret, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}},
		Data:       map[string][]byte{"API_TOKEN": []byte("s3cret")},
	}
	out, err := transform(secret)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Secret)
	if v, ok := got.Data["API_TOKEN"]; !ok || v != nil {
		t.Errorf("data = %q, want the key with no value", got.Data)
	}
	if got.ManagedFields != nil {
		t.Errorf("managed fields kept")
	}
}
