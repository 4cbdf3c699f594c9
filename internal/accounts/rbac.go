package accounts

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// ClusterRoles installed by this controller.
const (
	ToolsUserRole = "tools-user"
	SudoRole      = "toolforge-sudo"
)

var allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
var readVerbs = []string{"get", "list", "watch"}

// toolsUserRules is what a tool may do in its own namespace (the role is
// bound per namespace): run its workloads; read, not change, its limits.
// Nothing here is cluster-scoped, and role bindings, quotas, limit ranges
// and the namespace itself are read-only.
func toolsUserRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers"}, Verbs: allVerbs},
		{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach", "pods/portforward"}, Verbs: []string{"get", "create"}},
		// kubectl debug; admission holds ephemeral containers to the same rules.
		{APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log", "events", "endpoints", "serviceaccounts", "resourcequotas", "limitranges"}, Verbs: readVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets", "statefulsets"}, Verbs: allVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale", "replicasets/scale", "statefulsets/scale"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: allVerbs},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: allVerbs},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: readVerbs},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: allVerbs},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: allVerbs},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: readVerbs},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}, Verbs: readVerbs},
	}
}

// sudoRules let an admin act as a cluster admin explicitly: kubectl sudo
// impersonates the group system:masters (and the admin's own name, which
// impersonation requires); without it admins only have `view`.
func sudoRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}},
		{APIGroups: []string{""}, Resources: []string{"groups"}, Verbs: []string{"impersonate"}, ResourceNames: []string{"system:masters"}},
	}
}

func (r *Reconciler) ensureClusterRoles(ctx context.Context) error {
	for name, rules := range map[string][]rbacv1.PolicyRule{ToolsUserRole: toolsUserRules(), SudoRole: sudoRules()} {
		want := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": managedBy}},
			Rules:      rules,
		}
		if _, err := ensure(ctx, r, want,
			func(cur *rbacv1.ClusterRole) bool { return equality.Semantic.DeepEqual(cur.Rules, want.Rules) },
			func(cur *rbacv1.ClusterRole) { cur.Rules = want.Rules },
		); err != nil {
			return err
		}
	}
	return nil
}

// CatalogueReader names the Role and RoleBinding in the platform namespace
// that let every tool (group toolforge, its certificate's O) get the image
// catalogue ConfigMap and nothing else there: webservice reads the
// catalogue with the tool's own credentials. tools-user cannot grant it,
// being bound in each tool's own namespace only.
const CatalogueReader = "tools-image-catalogue-reader"

func catalogueReaderRBAC(ns string) (*rbacv1.Role, *rbacv1.RoleBinding) {
	meta := metav1.ObjectMeta{Name: CatalogueReader, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": managedBy}}
	role := &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}, ResourceNames: []string{tenancy.ImagesConfigMap},
	}}}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: CatalogueReader},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: tenancy.ToolGroup}},
	}
	return role, binding
}

func (r *Reconciler) ensureCatalogueReader(ctx context.Context) error {
	role, binding := catalogueReaderRBAC(r.platformNS)
	if _, err := ensure(ctx, r, role,
		func(cur *rbacv1.Role) bool { return equality.Semantic.DeepEqual(cur.Rules, role.Rules) },
		func(cur *rbacv1.Role) { cur.Rules = role.Rules },
	); err != nil {
		return err
	}
	_, err := ensure(ctx, r, binding,
		func(cur *rbacv1.RoleBinding) bool {
			return cur.RoleRef == binding.RoleRef && equality.Semantic.DeepEqual(cur.Subjects, binding.Subjects)
		},
		// A roleRef cannot change: the update fails, and the binding is
		// made again.
		func(cur *rbacv1.RoleBinding) { cur.RoleRef, cur.Subjects = binding.RoleRef, binding.Subjects },
	)
	if apierrors.IsInvalid(err) {
		_, err = r.recreate(ctx, &rbacv1.RoleBinding{ObjectMeta: binding.ObjectMeta}, binding)
	}
	return err
}

func toolBindingName(tool string) string { return tool + "-tool-binding" }

// toolBinding grants the tool's certificate identity (CN=<tool>) the
// tools-user role in its namespace only.
func toolBinding(tool string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: toolBindingName(tool), Namespace: tenancy.Namespace(tool), Labels: toolLabels(tool)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ToolsUserRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: tool}},
	}
}

func (r *Reconciler) ensureToolBinding(ctx context.Context, tool string) (outcome, error) {
	want := toolBinding(tool)
	wrongRole := false
	out, err := ensure(ctx, r, want,
		func(cur *rbacv1.RoleBinding) bool {
			wrongRole = cur.RoleRef != want.RoleRef
			return !wrongRole && equality.Semantic.DeepEqual(cur.Subjects, want.Subjects)
		},
		func(cur *rbacv1.RoleBinding) { cur.Subjects = want.Subjects },
	)
	if err != nil && wrongRole {
		return r.recreate(ctx, &rbacv1.RoleBinding{ObjectMeta: want.ObjectMeta}, want)
	}
	return out, err
}

func (r *Reconciler) ensureClusterRoleBinding(ctx context.Context, want *rbacv1.ClusterRoleBinding) (outcome, error) {
	wrongRole := false
	out, err := ensure(ctx, r, want,
		func(cur *rbacv1.ClusterRoleBinding) bool {
			wrongRole = cur.RoleRef != want.RoleRef
			return !wrongRole && equality.Semantic.DeepEqual(cur.Subjects, want.Subjects)
		},
		func(cur *rbacv1.ClusterRoleBinding) { cur.Subjects = want.Subjects },
	)
	if err != nil && wrongRole {
		return r.recreate(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: want.ObjectMeta}, want)
	}
	return out, err
}

// recreate replaces a binding whose roleRef (immutable) is wrong.
func (r *Reconciler) recreate(ctx context.Context, old, want client.Object) (outcome, error) {
	if _, err := deleteIfExists(ctx, r, old); err != nil {
		return unchanged, err
	}
	if err := r.client.Create(ctx, want); err != nil {
		return unchanged, fmt.Errorf("recreate %s: %w", want.GetName(), err)
	}
	return updated, nil
}
