package api

import (
	"context"
	"fmt"
	componentsv1 "github.com/toolforge-go/toolforge/internal/components/v1alpha1"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// RoleName names the API server's ClusterRole of what it does in a tool
// namespace (bound there by the accounts controller, RoleBinding
// toolforge-api in tool-<t>) and its Role in the platform namespace.
const RoleName = tenancy.APIRole

// WatchRoleName names the API server's ClusterRole of what it reads across
// tool namespaces (its caches watch every namespace: a watch cannot be
// limited to a set of namespaces). Bind it cluster-wide; it writes nothing.
const WatchRoleName = "toolforge-api-watch"

// readerRole lets every tool read the ConfigMap publishing the API's URL
// and CA.
const readerRole = "toolforge-api-reader"

// TLSSecret keeps the API's serving CA and certificate in the platform
// namespace, shared by every replica (servingcert.SecretStore).
const TLSSecret = "toolforge-api-tls" //nolint:gosec // G101: the name of a Secret, not a credential

const managedBy = "toolforge-api"

var (
	read  = []string{"get", "list", "watch"}
	write = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
)

// ClusterRole is everything the API server does in a tool's namespace,
// and nothing more: the jobs framework's objects, reading pods, their
// logs, limits and quotas, the one envvars Secret. It reads no other
// Secret, and changes no quota, role or namespace. It is bound per tool
// namespace, never cluster-wide.
func ClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: write},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: write},
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: write},
			// Published jobs' Ingresses; every Ingress of the namespace is
			// read to refuse a second route for the tool's host.
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: write},
			// Events say why a job's container was restarted (a failed
			// health check) for `jobs show`.
			{APIGroups: []string{""}, Resources: []string{"pods", "limitranges", "resourcequotas", "events"}, Verbs: read},
			{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
			// What a job's pods use, for `jobs show` (the metrics API).
			{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods"}, Verbs: []string{"list"}},
			// A create names no object to authorize against; every other
			// verb is limited to the envvars Secret.
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update"}, ResourceNames: []string{tenancy.EnvvarsSecret}},
			// The components service: its file, its deployments (whose
			// status the executor writes) and the deploy token's Secret.
			{APIGroups: []string{componentsv1.Group}, Resources: []string{"componentconfigs", "componentdeployments"}, Verbs: write},
			{APIGroups: []string{componentsv1.Group}, Resources: []string{"componentdeployments/status"}, Verbs: []string{"get", "update", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update", "delete"}, ResourceNames: []string{componentsv1.TokenSecret}},
		},
	}
}

// WatchClusterRole is what the API server reads cluster-wide, for its
// informer caches (which select the framework's objects and tool
// namespaces by label), and asking whether a tool may act
// (SubjectAccessReview). Reads only, and no Secret.
func WatchClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: WatchRoleName, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: read},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: read},
			{APIGroups: []string{""}, Resources: []string{"services", "pods", "limitranges", "resourcequotas", "namespaces"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: read},
			{APIGroups: []string{componentsv1.Group}, Resources: []string{"componentdeployments"}, Verbs: read},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		},
	}
}

// PlatformRole is what the API server does in the platform namespace:
// read the image catalogue, publish its URL and CA (and the role letting
// tools read them), keep its serving certificate in the Secret made for it, hold its leader lease.
func PlatformRole(ns string) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName, Namespace: ns, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update"}},
			// Its own certificate's Secret only: InstallRBAC makes it, so
			// the API needs no create, which could not be limited by name.
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update"}, ResourceNames: []string{TLSSecret}},
			{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}, Verbs: []string{"get", "create", "update"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		},
	}
}

// readerRBAC lets group toolforge (every tool certificate) get exactly the
// API ConfigMap.
func readerRBAC(ns string) (*rbacv1.Role, *rbacv1.RoleBinding) {
	meta := metav1.ObjectMeta{Name: readerRole, Namespace: ns, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}}
	role := &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}, ResourceNames: []string{tenancy.APIConfigMap},
	}}}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: readerRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: tenancy.ToolGroup}},
	}
	return role, binding
}

// InstallRBAC creates or updates the ClusterRoles and the platform Role,
// and makes the (empty) Secret of the API's serving certificate in the
// platform namespace (an admin's step; the API server tries it at start and carries on when
// its identity may not). Binding them is the admin's too: WatchClusterRole
// cluster-wide and PlatformRole in the platform namespace to the API's
// identity; ClusterRole in each tool namespace is bound by the accounts
// controller (--api-identity).
func InstallRBAC(ctx context.Context, kube kubernetes.Interface, ns string) error {
	for _, cr := range []*rbacv1.ClusterRole{ClusterRole(), WatchClusterRole()} {
		if _, err := ensure.Typed(ctx, kube.RbacV1().ClusterRoles(), cr,
			func(cur *rbacv1.ClusterRole) error { cur.Rules = cr.Rules; return nil }); err != nil {
			return fmt.Errorf("install ClusterRole %s: %w", cr.Name, err)
		}
	}
	if err := ensureRole(ctx, kube, PlatformRole(ns)); err != nil {
		return err
	}
	// The serving certificate's Secret, empty: the API fills it.
	tlsSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: TLSSecret, Namespace: ns, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}}}
	if _, err := ensure.Typed(ctx, kube.CoreV1().Secrets(ns), tlsSecret, func(*corev1.Secret) error { return nil }); err != nil {
		return fmt.Errorf("make Secret %s/%s: %w", ns, TLSSecret, err)
	}
	return nil
}

func ensureRole(ctx context.Context, kube kubernetes.Interface, want *rbacv1.Role) error {
	_, err := ensure.Typed(ctx, kube.RbacV1().Roles(want.Namespace), want,
		func(cur *rbacv1.Role) error { cur.Rules = want.Rules; return nil })
	return err
}

func ensureRoleBinding(ctx context.Context, kube kubernetes.Interface, want *rbacv1.RoleBinding) error {
	_, err := ensure.Typed(ctx, kube.RbacV1().RoleBindings(want.Namespace), want,
		func(cur *rbacv1.RoleBinding) error { cur.Subjects = want.Subjects; return nil },
		ensure.ReplaceWhen(func(cur *rbacv1.RoleBinding) bool { return cur.RoleRef != want.RoleRef }))
	return err
}
