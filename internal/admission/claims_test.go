package admission

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// A tool may make its own PVCs, but naming another tool's pre-bound PV
// gets it nothing: the PV stays bound to the other tool's claim.
func TestAToolCannotClaimAnotherToolsVolume(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "steal-beta-home"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			VolumeName:       "tool-beta-home",
			StorageClassName: ptr.To(""),
		},
	}
	if _, err := f.alphaKube.CoreV1().PersistentVolumeClaims(f.alpha.Namespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.alphaKube.CoreV1().PersistentVolumeClaims(f.alpha.Namespace).Delete(ctx, pvc.Name, metav1.DeleteOptions{})
	})
	// The PV controller tries to bind a new claim at once and again every 15 s.
	deadline := time.Now().Add(16 * time.Second)
	for time.Now().Before(deadline) {
		got, err := f.alphaKube.CoreV1().PersistentVolumeClaims(f.alpha.Namespace).Get(ctx, pvc.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase == corev1.ClaimBound {
			t.Fatalf("alpha's claim bound beta's home volume")
		}
		time.Sleep(time.Second)
	}
	pv, err := cluster.Client.CoreV1().PersistentVolumes().Get(ctx, "tool-beta-home", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != f.beta.Namespace || ref.Name != "tool-home" {
		t.Fatalf("beta's home volume is claimed by %+v", ref)
	}
}
