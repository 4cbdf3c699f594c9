package storage

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
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
