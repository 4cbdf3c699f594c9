package observer

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

func TestObserverAccessFollowsTheNamespaceLabel(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tool-alpha", Labels: map[string]string{tenancy.LabelObserver: tenancy.ObserverEnabled}}}
	c := fake.NewClientBuilder().WithObjects(ns).Build()
	r := &Reconciler{W: account.Writer{Client: c, APIReader: c}}
	ctx := context.Background()
	if _, err := r.Ensure(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	var crb rbacv1.ClusterRoleBinding
	if err := c.Get(ctx, client.ObjectKey{Name: tenancy.ObserverBinding("alpha")}, &crb); err != nil {
		t.Fatal(err)
	}
	if crb.RoleRef.Name != tenancy.ObserverRole || len(crb.Subjects) != 1 || crb.Subjects[0].Name != "alpha-obs" || crb.Subjects[0].Namespace != "tool-alpha" {
		t.Fatalf("binding %+v", crb)
	}
	var sa corev1.ServiceAccount
	if err := c.Get(ctx, client.ObjectKey{Namespace: "tool-alpha", Name: "alpha-obs"}, &sa); err != nil {
		t.Fatal(err)
	}

	ns.Labels = nil
	if err := c.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ensure(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: tenancy.ObserverBinding("alpha")}, &crb); !apierrors.IsNotFound(err) {
		t.Fatalf("binding after the label went: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "tool-alpha", Name: "alpha-obs"}, &sa); !apierrors.IsNotFound(err) {
		t.Fatalf("ServiceAccount after the label went: %v", err)
	}
}

func TestTheObserverRoleNeverReadsSecretsOrLogs(t *testing.T) {
	for _, r := range Rules() {
		for _, res := range []string{"secrets", "pods/log", "pods/exec", "pods/attach", "*"} {
			if slices.Contains(r.Resources, res) {
				t.Errorf("rule %+v grants %s", r, res)
			}
		}
		if !slices.Equal(r.Verbs, readVerbs) {
			t.Errorf("rule %+v is not read-only", r)
		}
	}
}
