package admission

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
	t.Run("another label on the platform's claim is refused too", func(t *testing.T) {
		_, err := kubectlAs(ctx, f.alpha, "label", "pvc", "tool-home", "backup=daily", "--dry-run=server")
		wantDenied(t, err, `claims: PVC "tool-home" is one of the platform's claims (the tool's home or its shared data, label toolforge.org/platform-claim): it cannot be changed but by the platform`)
	})
}

// A tool cannot delete or change the platform's claims (deleting the
// read-only shared data and making it again without the platform's marks
// would turn it writable), nor take a platform claim's name; its own
// claims stay its own. Kubernetes' controllers and the platform may.
func TestAToolCannotDeleteOrReplaceThePlatformsClaims(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	deleted := func(claim, verb string) string {
		return `claims: PVC "` + claim + `" is one of the platform's claims (the tool's home or its shared data, label toolforge.org/platform-claim): it cannot be ` + verb + ` but by the platform`
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"delete", "pvc", "tool-dumps"}, deleted("tool-dumps", "deleted")},
		{[]string{"delete", "pvc", "tool-dumps", "--dry-run=server"}, deleted("tool-dumps", "deleted")},
		{[]string{"delete", "pvc", "tool-home", "--dry-run=server"}, deleted("tool-home", "deleted")},
		{[]string{"delete", "pvc", "--all", "--dry-run=server"}, "is one of the platform's claims (the tool's home or its shared data, label toolforge.org/platform-claim): it cannot be deleted"},
		{[]string{"annotate", "pvc", "tool-dumps", "backup=daily", "--dry-run=server"}, deleted("tool-dumps", "changed")},
		{[]string{"create", "-f", writeClaim(t, "tool-dumps2"), "--dry-run=server"}, `claims: the name "tool-dumps2" (metadata.name) is reserved: names beginning with tool- are the platform's claims' (tool-home, tool-<shared data>); choose another name`},
	} {
		t.Run("kubectl "+strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := kubectlAs(ctx, f.alpha, tc.args...)
			wantDenied(t, err, tc.want)
		})
	}
	for _, claim := range []string{"tool-home", "tool-dumps"} {
		if _, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{}); err != nil {
			t.Fatalf("%s after the tool's attempts: %v", claim, err)
		}
	}

	t.Run("its own claims are its own to make, change and delete", func(t *testing.T) {
		for _, args := range [][]string{
			{"create", "-f", writeClaim(t, "scratch")},
			{"label", "pvc", "scratch", "backup=daily"},
			{"delete", "pvc", "scratch"},
		} {
			if out, err := kubectlAs(ctx, f.alpha, args...); err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
	t.Run("the platform may delete them", func(t *testing.T) {
		err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "tool-dumps", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Fatal(err)
		}
	})
	// Kubernetes' own controllers act on them: the namespace controller
	// deletes them with their namespace, the volume binder writes them.
	// Impersonated (dry run): the policy sees the user a request carries.
	for _, sa := range []struct{ name, verb string }{{"namespace-controller", "delete"}, {"persistent-volume-binder", "update"}} {
		t.Run("Kubernetes' "+sa.name+" may "+sa.verb+" them", func(t *testing.T) {
			cfg := rest.CopyConfig(cluster.Config)
			cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:kube-system:" + sa.name,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
			kube, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			claims := kube.CoreV1().PersistentVolumeClaims(ns)
			if sa.verb == "delete" {
				err = claims.Delete(ctx, "tool-dumps", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
			} else {
				var pvc *corev1.PersistentVolumeClaim
				if pvc, err = claims.Get(ctx, "tool-dumps", metav1.GetOptions{}); err == nil {
					pvc.Annotations["pv.kubernetes.io/bind-completed"] = "yes"
					_, err = claims.Update(ctx, pvc, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// writeClaim writes a PVC manifest of a claim of the tool's own.
func writeClaim(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	manifest := "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: " + name + "}\n" +
		"spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n"
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
