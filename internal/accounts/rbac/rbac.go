// Package rbac keeps what the accounts controller grants through RBAC: the
// ClusterRoles it binds (tools-user, toolforge-sudo, tool-observer), a
// tool's binding to tools-user in its namespace, the jobs/envvars API's
// binding there, and the image catalogue reader in the platform namespace.
package rbac

import (
	"context"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/accounts/observer"
	"github.com/toolforge-go/toolforge/internal/ensure"
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
		// kubectl top pod: what its pods use (the metrics API, where the
		// cluster serves one).
		{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
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

// ClusterRoles are the roles the controller binds: tools-user in each
// tool's namespace, toolforge-sudo to each admin, tool-observer to a
// tool's observer ServiceAccount. It installs them itself
// (--install-rbac), or the Helm chart does (its copy is tested against
// these).
func ClusterRoles() []*rbacv1.ClusterRole {
	var out []*rbacv1.ClusterRole
	for _, r := range []struct {
		name  string
		rules []rbacv1.PolicyRule
	}{{ToolsUserRole, toolsUserRules()}, {SudoRole, sudoRules()}, {tenancy.ObserverRole, observer.Rules()}} {
		out = append(out, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: r.name, Labels: account.Owned()},
			Rules:      r.rules,
		})
	}
	return out
}

// Reconciler keeps the controller's RBAC objects.
type Reconciler struct {
	W account.Writer
	// APIIdentity is the user name of the jobs/envvars API server ("none":
	// no binding; "": ServiceAccount toolforge-api of PlatformNS).
	APIIdentity string
	PlatformNS  string
}

// EnsureClusterRoles keeps the ClusterRoles the controller binds.
func (r *Reconciler) EnsureClusterRoles(ctx context.Context) error {
	for _, want := range ClusterRoles() {
		if _, err := account.Ensure(ctx, r.W, want, func(cur *rbacv1.ClusterRole) error { cur.Rules = want.Rules; return nil }); err != nil {
			return err
		}
	}
	return nil
}

func toolBindingName(tool string) string { return tool + "-tool-binding" }

// ToolBinding grants the tool's certificate identity (CN=<tool>) the
// tools-user role in its namespace only.
func ToolBinding(tool string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: toolBindingName(tool), Namespace: tenancy.Namespace(tool), Labels: account.ToolLabels(tool)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ToolsUserRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: tool}},
	}
}

// EnsureToolBinding keeps the tool's access to its namespace.
func (r *Reconciler) EnsureToolBinding(ctx context.Context, tool string) (ensure.Result, error) {
	want := ToolBinding(tool)
	return account.Ensure(ctx, r.W, want,
		func(cur *rbacv1.RoleBinding) error { cur.Subjects = want.Subjects; return nil },
		// roleRef is immutable: a binding re-made by hand with another role
		// (edit, admin) can only be replaced.
		ensure.ReplaceWhen(func(cur *rbacv1.RoleBinding) bool { return cur.RoleRef != want.RoleRef }),
	)
}

// apiSubject is the API server's identity as a binding subject: a
// ServiceAccount for a user name of that form, else a user; nil for none.
func (r *Reconciler) apiSubject() *rbacv1.Subject {
	name := r.APIIdentity
	switch {
	case name == "none":
		return nil
	case name == "":
		return &rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: r.PlatformNS, Name: tenancy.APIServiceAccount}
	}
	if rest, ok := strings.CutPrefix(name, serviceAccountPrefix); ok {
		if ns, sa, ok := strings.Cut(rest, ":"); ok {
			return &rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}
		}
	}
	return &rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}
}

const serviceAccountPrefix = "system:serviceaccount:"

// apiBinding grants the API server its role (ClusterRole toolforge-api,
// installed with the API) in this tool's namespace only: the API acts
// for a tool in the tool's namespace, so that is the only place it may
// write, and a confused deputy can reach no other namespace.
func (r *Reconciler) apiBinding(tool string) *rbacv1.RoleBinding {
	subject := r.apiSubject()
	if subject == nil {
		return nil
	}
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: tenancy.APIRole, Namespace: tenancy.Namespace(tool), Labels: account.ToolLabels(tool)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: tenancy.APIRole},
		Subjects:   []rbacv1.Subject{*subject},
	}
}

// EnsureAPIBinding keeps the API server's access to the tool's namespace.
func (r *Reconciler) EnsureAPIBinding(ctx context.Context, tool string) (ensure.Result, error) {
	want := r.apiBinding(tool)
	if want == nil {
		return ensure.Unchanged, nil
	}
	return account.Ensure(ctx, r.W, want,
		func(cur *rbacv1.RoleBinding) error { cur.Subjects = want.Subjects; return nil },
		ensure.ReplaceWhen(func(cur *rbacv1.RoleBinding) bool { return cur.RoleRef != want.RoleRef }),
	)
}

// EnsureClusterRoleBinding keeps a ClusterRoleBinding, made again when
// its roleRef (immutable) was changed.
func (r *Reconciler) EnsureClusterRoleBinding(ctx context.Context, want *rbacv1.ClusterRoleBinding) (ensure.Result, error) {
	return account.Ensure(ctx, r.W, want,
		func(cur *rbacv1.ClusterRoleBinding) error { cur.Subjects = want.Subjects; return nil },
		ensure.ReplaceWhen(func(cur *rbacv1.ClusterRoleBinding) bool { return cur.RoleRef != want.RoleRef }),
	)
}

// CatalogueReader names the Role and RoleBinding in the platform namespace
// that let every tool (group toolforge, its certificate's O) get the image
// catalogue ConfigMap and nothing else there: webservice reads the
// catalogue with the tool's own credentials. tools-user cannot grant it,
// being bound in each tool's own namespace only.
const CatalogueReader = "tools-image-catalogue-reader"

// CatalogueReaderRBAC is that Role and its binding (the Helm chart's copy
// is tested against it).
func CatalogueReaderRBAC(ns string) (*rbacv1.Role, *rbacv1.RoleBinding) {
	meta := metav1.ObjectMeta{Name: CatalogueReader, Namespace: ns, Labels: account.Owned()}
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

// EnsureCatalogueReader keeps the image catalogue reader Role and binding.
func (r *Reconciler) EnsureCatalogueReader(ctx context.Context) error {
	role, binding := CatalogueReaderRBAC(r.PlatformNS)
	if _, err := account.Ensure(ctx, r.W, role, func(cur *rbacv1.Role) error { cur.Rules = role.Rules; return nil }); err != nil {
		return err
	}
	_, err := account.Ensure(ctx, r.W, binding,
		func(cur *rbacv1.RoleBinding) error { cur.Subjects = binding.Subjects; return nil },
		ensure.ReplaceWhen(func(cur *rbacv1.RoleBinding) bool { return cur.RoleRef != binding.RoleRef }),
	)
	return err
}
