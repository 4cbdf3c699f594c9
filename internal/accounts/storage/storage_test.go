package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
)

// A PV's source is compared as the API server stores it: the same source
// built again (new pointers) is no drift, another path or server is.
func TestAVolumeSourceDriftsOnlyWhenItsValueDiffers(t *testing.T) {
	r := &Reconciler{Config: Config{Storage: "hostpath"}}
	c := Claim{Name: "tool-home", PV: "tool-a-home", Path: "/data/project/a"}
	pv := func(src corev1.PersistentVolumeSource) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: c.PV}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: src}}
	}
	moved := c
	moved.Path = "/data/project/b"
	nfs := &Reconciler{Config: Config{Storage: "nfs", NFSServer: "nfs.example"}}
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
			cl := fake.NewClientBuilder().WithObjects(pv(tc.live)).Build()
			r.W = account.Writer{Client: cl, APIReader: cl}
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

func TestSharedDataIsNamePathAndMountPath(t *testing.T) {
	got, err := ParseSharedData([]string{"dumps=/public/dumps", "scratch=/srv/scratch:/data/scratch"})
	if err != nil {
		t.Fatal(err)
	}
	want := []SharedData{{"dumps", "/public/dumps", "/public/dumps"}, {"scratch", "/srv/scratch", "/data/scratch"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v", got)
	}
	for _, tc := range []struct{ spec, want string }{
		{"dumps", "want name=path[:mountPath]"},
		{"dumps=public", "paths must be absolute"},
		{"home=/srv/home", `name "home" is taken`},
	} {
		if _, err := ParseSharedData([]string{tc.spec}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.spec, err, tc.want)
		}
	}
	if _, err := ParseSharedData([]string{"a=/x", "a=/y"}); err == nil || !strings.Contains(err.Error(), `name "a" is taken`) {
		t.Errorf("a name twice: %v", err)
	}
}

func TestEveryToolGetsItsHomeAndTheSharedDataReadOnly(t *testing.T) {
	r := &Reconciler{Config: Config{Storage: "hostpath", Shared: []SharedData{{"dumps", "/public/dumps", "/public/dumps"}}}}
	claims := r.Claims(account.Tool{Name: "alpha", Home: "/srv/homes/alpha"})
	want := []Claim{
		{Name: "tool-home", PV: "tool-alpha-home", Path: "/srv/homes/alpha", MountPath: "/data/project/alpha"},
		{Name: "tool-dumps", PV: "tool-alpha-dumps", Path: "/public/dumps", MountPath: "/public/dumps", ReadOnly: true},
	}
	if len(claims) != 2 || claims[0] != want[0] || claims[1] != want[1] {
		t.Fatalf("claims %+v", claims)
	}
	if r.Count() != 2 {
		t.Fatalf("count %d", r.Count())
	}
	nfs := &Reconciler{Config: Config{Storage: "nfs", StoragePath: "/exports/project", NFSServer: "nfs"}}
	if got := nfs.Claims(account.Tool{Name: "alpha", Home: "/srv/homes/alpha"})[0].Path; got != "/exports/project/alpha" {
		t.Fatalf("an NFS home volume is %s", got)
	}
	if none := (&Reconciler{Config: Config{Storage: "none"}}); len(none.Claims(account.Tool{Name: "alpha"})) != 0 || none.Count() != 0 {
		t.Fatal("storage none makes claims")
	}
}

// newStorage is a reconciler over a fake API that gives every created
// object a UID, as the API server does, and reads through a cache that,
// like the controller's, holds only what carries its labels.
func newStorage(t *testing.T, objs ...client.Object) (*Reconciler, client.Client) {
	t.Helper()
	n := 0
	api := interceptor.NewClient(fake.NewClientBuilder().WithObjects(objs...).WithStatusSubresource(&corev1.PersistentVolumeClaim{}).Build(), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			n++
			obj.SetUID(types.UID(fmt.Sprintf("made-%d", n)))
			return c.Create(ctx, obj, opts...)
		},
	})
	owned := labels.SelectorFromSet(account.Owned())
	cache := interceptor.NewClient(api, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			if !owned.Matches(labels.Set(obj.GetLabels())) {
				return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
			}
			return nil
		},
	})
	r := &Reconciler{W: account.Writer{Client: cache, APIReader: api}, Config: Config{Storage: "hostpath", Shared: []SharedData{{"dumps", "/public/dumps", "/public/dumps"}}}}
	return r, api
}

var alpha = account.Tool{Name: "alpha", UID: 50001, Home: "/data/project/alpha"}

func getClaim(t *testing.T, c client.Client, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var pvc corev1.PersistentVolumeClaim
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "tool-alpha", Name: name}, &pvc); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	return &pvc
}

func getVolume(t *testing.T, c client.Client, name string) *corev1.PersistentVolume {
	t.Helper()
	var pv corev1.PersistentVolume
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, &pv); err != nil {
		t.Fatal(err)
	}
	return &pv
}

func TestEachVolumeIsBoundAheadToTheClaimMadeForIt(t *testing.T) {
	r, c := newStorage(t)
	ctx := context.Background()
	if res, err := r.Ensure(ctx, alpha); err != nil || res != ensure.Created {
		t.Fatalf("%v %v", res, err)
	}
	for claim, volume := range map[string]string{"tool-home": "tool-alpha-home", "tool-dumps": "tool-alpha-dumps"} {
		pvc, pv := getClaim(t, c, claim), getVolume(t, c, volume)
		if ref := pv.Spec.ClaimRef; ref == nil || ref.UID == "" || ref.UID != pvc.UID || ref.Name != claim || ref.Namespace != "tool-alpha" {
			t.Errorf("%s is bound ahead to %+v, want %s (uid %s)", volume, ref, claim, pvc.UID)
		}
		if pvc.Spec.VolumeName != volume || pvc.Labels["toolforge.org/platform-claim"] != "true" {
			t.Errorf("%s: volume %q, labels %v", claim, pvc.Spec.VolumeName, pvc.Labels)
		}
	}
	if res, err := r.Ensure(ctx, alpha); err != nil || res != ensure.Unchanged {
		t.Fatalf("a converged tool: %v %v", res, err)
	}
}

// The attack: the read-only claim deleted and made again by the
// tool without the platform's marks, asking for its volume. The volume is
// never bound to it: the claim is deleted and the platform's made instead.
func TestAClaimThePlatformDidNotMakeNeverGetsItsVolume(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"without the platform's labels", nil},
		{"with the platform's labels forged", map[string]string{"app.kubernetes.io/managed-by": "toolforge-accounts", "toolforge.org/tool": "alpha", "toolforge.org/platform-claim": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, c := newStorage(t)
			ctx := context.Background()
			if _, err := r.Ensure(ctx, alpha); err != nil {
				t.Fatal(err)
			}
			platform := getClaim(t, c, "tool-dumps")
			if err := c.Delete(ctx, platform); err != nil {
				t.Fatal(err)
			}
			impostor := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "tool-dumps", Namespace: "tool-alpha", Labels: tc.labels},
				Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "tool-alpha-dumps", AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}},
			}
			if err := c.Create(ctx, impostor); err != nil {
				t.Fatal(err)
			}
			var removed []error
			r.Removed = func(err error) { removed = append(removed, err) }
			if _, err := r.Ensure(ctx, alpha); err != nil {
				t.Fatal(err)
			}
			if len(removed) != 1 || !errors.Is(removed[0], ErrForeignClaim) ||
				!strings.Contains(removed[0].Error(), "PVC tool-alpha/tool-dumps (uid "+string(impostor.UID)+") is not the claim its volume was made for (tool-alpha-dumps): deleted it, unbound, and made the platform's") {
				t.Fatalf("removed %v", removed)
			}
			mine := getClaim(t, c, "tool-dumps")
			if mine == nil || mine.UID == impostor.UID || mine.Annotations["toolforge.org/read-only"] != "true" {
				t.Fatalf("the platform's claim: %+v", mine)
			}
			if ref := getVolume(t, c, "tool-alpha-dumps").Spec.ClaimRef; ref.UID != mine.UID {
				t.Fatalf("the volume is bound ahead to %s, want the platform's new claim %s", ref.UID, mine.UID)
			}
		})
	}
}

// A claim made by a controller that stopped before binding the volume
// ahead to it (killed between the two writes) is replaced the same way.
func TestAClaimWhoseVolumeWasNeverMadeIsReplaced(t *testing.T) {
	r, c := newStorage(t, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "tool-home", Namespace: "tool-alpha", UID: "orphan", Labels: account.ToolLabels("alpha")},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "tool-alpha-home"}})
	if _, err := r.Ensure(context.Background(), alpha); err != nil {
		t.Fatal(err)
	}
	if pvc := getClaim(t, c, "tool-home"); pvc.UID == "orphan" || getVolume(t, c, "tool-alpha-home").Spec.ClaimRef.UID != pvc.UID {
		t.Fatalf("claim %s, volume bound ahead to %s", pvc.UID, getVolume(t, c, "tool-alpha-home").Spec.ClaimRef.UID)
	}
}

func TestAForeignClaimBoundToAnotherVolumeIsLeftToTheAdmin(t *testing.T) {
	other := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "tool-home", Namespace: "tool-alpha", UID: "theirs"},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "somewhere"},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
	}
	r, c := newStorage(t, other)
	_, err := r.Ensure(context.Background(), alpha)
	if !errors.Is(err, ErrForeignClaim) || !strings.Contains(err.Error(), "PVC tool-alpha/tool-home (uid theirs) is not the claim its volume was made for (tool-alpha-home) and is bound to somewhere: delete it for the platform's claim to be made") {
		t.Fatalf("err = %v", err)
	}
	if getClaim(t, c, "tool-home") == nil {
		t.Fatal("a claim bound to another volume was deleted")
	}
}
