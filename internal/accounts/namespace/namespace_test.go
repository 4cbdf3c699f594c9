package namespace

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
)

var alpha = account.Tool{Name: "alpha", UID: 50001, Home: "/data/project/alpha"}

func reconciler(objs ...client.Object) (*Reconciler, client.Client) {
	c := fake.NewClientBuilder().WithObjects(objs...).Build()
	return &Reconciler{W: account.Writer{Client: c, APIReader: c}}, c
}

func TestAToolsNamespaceIsATenantEnforcingPodSecurityRestricted(t *testing.T) {
	r, c := reconciler()
	if res, err := r.Ensure(context.Background(), alpha); err != nil || res != ensure.Created {
		t.Fatalf("ensure: %v %v", res, err)
	}
	var ns corev1.Namespace
	if err := c.Get(context.Background(), client.ObjectKey{Name: "tool-alpha"}, &ns); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"tenancy": "tool", "toolforge.org/tool": "alpha", "toolforge.org/uid": "50001",
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/audit": "restricted",
		"app.kubernetes.io/managed-by": "toolforge-accounts",
	} {
		if ns.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, ns.Labels[k], v)
		}
	}
	if _, ok := ns.Labels["pod-security.kubernetes.io/warn"]; ok {
		t.Errorf("warn would flag every workload template before admission completes it")
	}
}

func TestAToolBackInTheSourceLosesItsPendingRemoval(t *testing.T) {
	pending := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tool-alpha", Labels: Labels(alpha),
		Annotations: map[string]string{AnnotationRemovedSince: time.Now().UTC().Format(time.RFC3339), "kept": "yes"}}}
	r, c := reconciler(pending)
	if res, err := r.Ensure(context.Background(), alpha); err != nil || res != ensure.Updated {
		t.Fatalf("ensure: %v %v", res, err)
	}
	var ns corev1.Namespace
	if err := c.Get(context.Background(), client.ObjectKey{Name: "tool-alpha"}, &ns); err != nil {
		t.Fatal(err)
	}
	if _, ok := ns.Annotations[AnnotationRemovedSince]; ok || ns.Annotations["kept"] != "yes" {
		t.Fatalf("annotations %v: want the removal mark gone and the rest kept", ns.Annotations)
	}
	if res, err := r.Ensure(context.Background(), alpha); err != nil || res != ensure.Unchanged {
		t.Fatalf("a converged namespace: %v %v, want unchanged", res, err)
	}
}

func TestANamespaceBeingDeletedIsNotProvisioned(t *testing.T) {
	now := metav1.Now()
	going := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tool-alpha", DeletionTimestamp: &now, Finalizers: []string{"kubernetes"}}}
	r, _ := reconciler(going)
	_, err := r.Ensure(context.Background(), alpha)
	if err == nil || !strings.Contains(err.Error(), "namespace tool-alpha is being deleted; the tool is provisioned again once it is gone") {
		t.Fatalf("err = %v", err)
	}
}
