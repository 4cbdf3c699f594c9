package admins

import (
	"context"
	"slices"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/accounts/rbac"
)

func TestAnAdminViewsAndMaySaySudoAndNothingMore(t *testing.T) {
	b := Bindings("alice")
	if len(b) != 2 || b[0].RoleRef.Name != "view" || b[1].RoleRef.Name != rbac.SudoRole {
		t.Fatalf("bindings %+v", b)
	}
	for _, x := range b {
		if len(x.Subjects) != 1 || x.Subjects[0].Kind != "User" || x.Subjects[0].Name != "alice" {
			t.Errorf("%s binds %+v", x.Name, x.Subjects)
		}
	}
}

func TestTheAdminUserEntryIsNamedAfterTheContext(t *testing.T) {
	if User("toolforge") != "toolforge-admin" || User("eqiad") != "eqiad-admin" {
		t.Fatal(User("toolforge"), User("eqiad"))
	}
}

func TestARemovedAdminKeepsNoBinding(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	w := account.Writer{Client: c, APIReader: c}
	r := &Reconciler{W: w, RBAC: &rbac.Reconciler{W: w}, PlatformNS: "toolforge"}
	ctx := context.Background()
	for _, name := range []string{"alice", "bob"} {
		for _, b := range Bindings(name) {
			if _, err := r.RBAC.EnsureClusterRoleBinding(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	known, err := r.Known(ctx)
	slices.Sort(known)
	if err != nil || !slices.Equal(slices.Compact(known), []string{"alice", "bob"}) {
		t.Fatalf("known %v, %v", known, err)
	}
	if removed, err := r.Remove(ctx, "alice"); err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if removed, err := r.Remove(ctx, "alice"); err != nil || removed {
		t.Fatalf("removing again: %v %v", removed, err)
	}
	known, _ = r.Known(ctx)
	if slices.Contains(known, "alice") || !slices.Contains(known, "bob") {
		t.Fatalf("known after removal %v", known)
	}
}
