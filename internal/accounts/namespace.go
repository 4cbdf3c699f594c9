package accounts

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/accountsource"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// annotationRemovedSince marks the namespace of a tool that left the source;
// the namespace is deleted once the removal grace period has passed.
const annotationRemovedSince = "toolforge.org/removed-since"

func namespaceLabels(t accountsource.Tool) map[string]string {
	labels := tenancy.NamespaceLabels(t.Name, t.UID)
	maps.Copy(labels, toolLabels(t.Name))
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

// ensureNamespace makes tool-<t> with its labels, and takes back a pending
// removal if the tool returned to the source.
func (r *Reconciler) ensureNamespace(ctx context.Context, t accountsource.Tool) (outcome, error) {
	want := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   tenancy.Namespace(t.Name),
		Labels: namespaceLabels(t),
	}}
	return ensureObject(ctx, r, want, func(cur *corev1.Namespace) error {
		if cur.DeletionTimestamp != nil {
			return fmt.Errorf("namespace %s is being deleted; the tool is provisioned again once it is gone", want.Name)
		}
		delete(cur.Annotations, annotationRemovedSince)
		return nil
	})
}
