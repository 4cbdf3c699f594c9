// Package observer keeps a tool's observer access when an admin granted it
// (the namespace label toolforge.org/observer=enabled): the ServiceAccount
// <t>-obs and its ClusterRoleBinding to the read-only ClusterRole
// tool-observer, the original's tool-observer role.
package observer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

var readVerbs = []string{"get", "list", "watch"}

// Rules are the original's tool-observer role: read-only access to what a
// status page (k8s-status) shows, cluster-wide. Never Secrets, pods/log,
// pods/exec or anything else that holds a tool's data or acts in its pods:
// those subresources and kinds are simply not listed.
func Rules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/status", "nodes", "nodes/status", "namespaces", "services", "endpoints", "events", "configmaps", "limitranges", "resourcequotas", "persistentvolumeclaims", "serviceaccounts", "replicationcontrollers"}, Verbs: readVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, Verbs: readVerbs},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: readVerbs},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: readVerbs},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: readVerbs},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: readVerbs},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: readVerbs},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: readVerbs},
		{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: readVerbs},
	}
}

// Reconciler keeps tools' observer access.
type Reconciler struct{ W account.Writer }

// enabled says whether an admin granted the tool observer access: the
// label on its namespace (read from the cache; a namespace the cache does
// not hold yet was just made, without it).
func (r *Reconciler) enabled(ctx context.Context, tool string) (bool, error) {
	var ns corev1.Namespace
	if err := r.W.Client.Get(ctx, client.ObjectKey{Name: tenancy.Namespace(tool)}, &ns); apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return ns.DeletionTimestamp == nil && ns.Labels[tenancy.LabelObserver] == tenancy.ObserverEnabled, nil
}

func objects(tool string) (*corev1.ServiceAccount, *rbacv1.ClusterRoleBinding) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Name: tenancy.ObserverServiceAccount(tool), Namespace: tenancy.Namespace(tool), Labels: account.ToolLabels(tool),
	}}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: tenancy.ObserverBinding(tool), Labels: account.ToolLabels(tool)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: tenancy.ObserverRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name}},
	}
	return sa, crb
}

// Ensure makes the tool's observer ServiceAccount and its binding when its
// namespace asks for them, and removes both when it does not.
func (r *Reconciler) Ensure(ctx context.Context, tool string) (ensure.Result, error) {
	on, err := r.enabled(ctx, tool)
	if err != nil {
		return ensure.Unchanged, err
	}
	if !on {
		return ensure.Unchanged, r.Remove(ctx, tool, true)
	}
	sa, crb := objects(tool)
	// A ServiceAccount has nothing this controller sets but its labels,
	// which ensure keeps.
	if _, err := account.Ensure(ctx, r.W, sa, func(*corev1.ServiceAccount) error { return nil }); err != nil {
		return ensure.Unchanged, err
	}
	return account.Ensure(ctx, r.W, crb,
		func(cur *rbacv1.ClusterRoleBinding) error { cur.Subjects = crb.Subjects; return nil },
		ensure.ReplaceWhen(func(cur *rbacv1.ClusterRoleBinding) bool { return cur.RoleRef != crb.RoleRef }),
	)
}

// Remove takes the tool's observer access away: the binding, and with all
// the ServiceAccount too (a disabled tool keeps it, with no rights, for
// when it comes back).
func (r *Reconciler) Remove(ctx context.Context, tool string, all bool) error {
	sa, crb := objects(tool)
	if _, err := r.W.DeleteIfExists(ctx, crb); err != nil {
		return fmt.Errorf("observer access of %s: %w", tool, err)
	}
	if all {
		if _, err := r.W.DeleteIfExists(ctx, sa); err != nil {
			return fmt.Errorf("observer access of %s: %w", tool, err)
		}
	}
	return nil
}
