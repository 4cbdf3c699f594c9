package accounts

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// A PV's source is compared as the API server stores it: the same source
// built again (new pointers) is no drift, another path or server is.
func TestAVolumeSourceDriftsOnlyWhenItsValueDiffers(t *testing.T) {
	r := &Reconciler{opts: &Options{Storage: "hostpath"}}
	c := claim{Name: "tool-home", PV: "tool-a-home", Path: "/data/project/a"}
	pv := func(src corev1.PersistentVolumeSource) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: c.PV}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: src}}
	}
	moved := c
	moved.Path = "/data/project/b"
	nfs := &Reconciler{opts: &Options{Storage: "nfs", NFSServer: "nfs.example"}}
	for _, tc := range []struct {
		name  string
		live  corev1.PersistentVolumeSource
		drift bool
	}{
		{"the same source built again", r.volumeSource(c), false},
		{"another path", r.volumeSource(moved), true},
		{"another kind of volume", nfs.volumeSource(c), true},
		{"another host path type", func() corev1.PersistentVolumeSource {
			s := r.volumeSource(c)
			typ := corev1.HostPathDirectory
			s.HostPath.Type = &typ
			return s
		}(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.client = fake.NewClientBuilder().WithObjects(pv(tc.live)).Build()
			err := r.checkVolumeSource(context.Background(), pv(r.volumeSource(c)))
			if got := err != nil; got != tc.drift {
				t.Fatalf("drift reported: %v (%v), want %v", got, err, tc.drift)
			}
			if tc.drift && !strings.Contains(err.Error(), "PV tool-a-home has another source than configured") {
				t.Fatalf("message %q", err)
			}
		})
	}
}
