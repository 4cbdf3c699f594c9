package admission

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
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

// The platform's claim metadata decides what admission mounts where, and
// what the fast path expects: a tool can neither put it on a claim of its
// own nor change it on the platform's, while the rest of its claims stays
// its own to label.
func TestOnlyThePlatformSetsItsClaimMetadata(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	claim := func(labels, annotations map[string]string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "mine", Labels: labels, Annotations: annotations},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
	}
	const denial = "claims: the label toolforge.org/platform-claim and the annotations toolforge.org/mount-path and toolforge.org/read-only (metadata) are the platform's"
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for _, tc := range []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		want  string // "": admitted
	}{
		{"a claim of its own is admitted", claim(map[string]string{"app": "db"}, nil), ""},
		{"a claim of its own labelled a platform claim is refused", claim(map[string]string{tenancy.LabelPlatformClaim: "true"}, nil), denial},
		{"a claim of its own with a mount path is refused", claim(nil, map[string]string{tenancy.AnnotationMountPath: "/data/project/beta"}), denial},
		{"a claim of its own with the read-only annotation is refused", claim(nil, map[string]string{tenancy.AnnotationReadOnly: "false"}), denial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.alphaKube.CoreV1().PersistentVolumeClaims(ns).Create(ctx, tc.claim, dry)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantDenied(t, err, tc.want)
		})
	}
	// With plain kubectl on the platform's own claims.
	for _, args := range [][]string{
		{"annotate", "pvc", "tool-dumps", tenancy.AnnotationReadOnly + "=false", "--overwrite"},
		{"annotate", "pvc", "tool-home", tenancy.AnnotationMountPath + "=/data/project/beta", "--overwrite"},
		{"label", "pvc", "tool-dumps", tenancy.LabelPlatformClaim + "-"},
	} {
		t.Run("kubectl "+strings.Join(args, " "), func(t *testing.T) {
			_, err := kubectlAs(ctx, f.alpha, append(args, "--dry-run=server")...)
			wantDenied(t, err, denial)
		})
	}
	t.Run("another label on the platform's claim is admitted", func(t *testing.T) {
		if out, err := kubectlAs(ctx, f.alpha, "label", "pvc", "tool-home", "backup=daily", "--dry-run=server"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	})
}
