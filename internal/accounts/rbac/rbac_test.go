package rbac

import (
	"context"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
)

func newReconciler(objs ...client.Object) (*Reconciler, client.Client) {
	c := fake.NewClientBuilder().WithObjects(objs...).Build()
	return &Reconciler{W: account.Writer{Client: c, APIReader: c}, PlatformNS: "toolforge"}, c
}

// tools-user is bound in the tool's namespace: it must grant nothing
// that reaches beyond it or loosens the tool's own limits.
func TestToolsUserCannotChangeItsLimitsOrItsAccess(t *testing.T) {
	writes := []string{"create", "update", "patch", "delete", "deletecollection", "*"}
	for _, r := range toolsUserRules() {
		for _, res := range r.Resources {
			switch res {
			case "resourcequotas", "limitranges", "roles", "rolebindings", "networkpolicies", "namespaces", "serviceaccounts":
				for _, v := range writes {
					if slices.Contains(r.Verbs, v) {
						t.Errorf("tools-user may %s %s", v, res)
					}
				}
			case "*", "persistentvolumes", "nodes", "clusterroles", "clusterrolebindings":
				t.Errorf("tools-user grants %s", res)
			}
		}
	}
}

func TestTheAPIIdentityIsAServiceAccountAUserOrNone(t *testing.T) {
	for _, tc := range []struct {
		identity string
		want     *rbacv1.Subject
	}{
		{"", &rbacv1.Subject{Kind: "ServiceAccount", Namespace: "toolforge", Name: "toolforge-api"}},
		{"system:serviceaccount:other:api", &rbacv1.Subject{Kind: "ServiceAccount", Namespace: "other", Name: "api"}},
		{"jobs-api", &rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: "User", Name: "jobs-api"}},
		{"none", nil},
	} {
		r := &Reconciler{APIIdentity: tc.identity, PlatformNS: "toolforge"}
		got := r.apiSubject()
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%q: subject %+v, want %+v", tc.identity, got, tc.want)
		}
	}
}

// roleRef is immutable: a binding re-made with another role is replaced.
func TestAToolBindingWithAnotherRoleIsMadeAgain(t *testing.T) {
	edited := ToolBinding("alpha")
	edited.RoleRef.Name = "edit"
	r, c := newReconciler(edited)
	ctx := context.Background()
	if res, err := r.EnsureToolBinding(ctx, "alpha"); err != nil || res != ensure.Updated {
		t.Fatalf("%v %v", res, err)
	}
	var got rbacv1.RoleBinding
	if err := c.Get(ctx, client.ObjectKeyFromObject(edited), &got); err != nil || got.RoleRef.Name != ToolsUserRole {
		t.Fatalf("binding %+v, %v", got.RoleRef, err)
	}
	if res, err := r.EnsureToolBinding(ctx, "alpha"); err != nil || res != ensure.Unchanged {
		t.Fatalf("a converged binding: %v %v", res, err)
	}
}

func TestTheCatalogueReaderGetsTheCatalogueOnly(t *testing.T) {
	r, c := newReconciler()
	ctx := context.Background()
	if err := r.EnsureCatalogueReader(ctx); err != nil {
		t.Fatal(err)
	}
	var role rbacv1.Role
	if err := c.Get(ctx, client.ObjectKey{Namespace: "toolforge", Name: CatalogueReader}, &role); err != nil {
		t.Fatal(err)
	}
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Verbs, []string{"get"}) || len(role.Rules[0].ResourceNames) != 1 {
		t.Fatalf("rules %+v", role.Rules)
	}
	var b rbacv1.RoleBinding
	if err := c.Get(ctx, client.ObjectKey{Namespace: "toolforge", Name: CatalogueReader}, &b); err != nil || b.Subjects[0].Name != "toolforge" {
		t.Fatalf("binding %+v, %v", b.Subjects, err)
	}
	if err := r.EnsureClusterRoles(ctx); err != nil {
		t.Fatal(err)
	}
	var roles rbacv1.ClusterRoleList
	if err := c.List(ctx, &roles); err != nil || len(roles.Items) != 3 {
		t.Fatalf("%d cluster roles, %v", len(roles.Items), err)
	}
}
