// Package namespace keeps a tool's namespace, tool-<t>: its tenancy labels
// and Pod Security level, and the mark of a pending removal.
package namespace

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// AnnotationRemovedSince marks the namespace of a tool that left the
// source; the namespace is deleted once the removal grace period has
// passed.
const AnnotationRemovedSince = "toolforge.org/removed-since"

// Labels are the labels of a tool's namespace.
func Labels(t account.Tool) map[string]string {
	labels := tenancy.NamespaceLabels(t.Name, t.UID)
	maps.Copy(labels, account.ToolLabels(t.Name))
	// Pod Security Admission in the API server itself refuses privileged
	// pods, root, escalation, host namespaces and ports, added capabilities
	// and every hostPath volume: no webhook outage can weaken it. No "warn":
	// it would flag every workload template, which admission completes
	// before any pod is made.
	for _, mode := range []string{"enforce", "audit"} {
		labels["pod-security.kubernetes.io/"+mode] = "restricted"
		labels["pod-security.kubernetes.io/"+mode+"-version"] = "latest"
	}
	return labels
}

// Reconciler keeps tool namespaces.
type Reconciler struct{ W account.Writer }

// Ensure makes tool-<t> with its labels, and takes back a pending removal
// if the tool returned to the source.
func (r *Reconciler) Ensure(ctx context.Context, t account.Tool) (ensure.Result, error) {
	want := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   t.Namespace(),
		Labels: Labels(t),
	}}
	return account.Ensure(ctx, r.W, want, func(cur *corev1.Namespace) error {
		if cur.DeletionTimestamp != nil {
			return fmt.Errorf("namespace %s is being deleted; the tool is provisioned again once it is gone", want.Name)
		}
		delete(cur.Annotations, AnnotationRemovedSince)
		return nil
	})
}
