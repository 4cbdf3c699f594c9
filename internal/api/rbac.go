package api

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// RoleName names the API server's ClusterRole (for tool namespaces) and
// Role (in the platform namespace). Bind them to the API server's
// identity, e.g. ServiceAccount toolforge-api in the platform namespace.
const RoleName = "toolforge-api"

// readerRole lets every tool read the ConfigMap publishing the API's URL
// and CA.
const readerRole = "toolforge-api-reader"

const managedBy = "toolforge-api"

var (
	read  = []string{"get", "list", "watch"}
	write = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
)

// ClusterRole is everything the API server does in tool namespaces, and
// nothing more: the jobs framework's objects, reading pods, their logs,
// limits and quotas, the one envvars Secret, and asking whether a tool may
// act (SubjectAccessReview). It reads no other Secret, and changes no
// quota, role or namespace.
func ClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: write},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: write},
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: write},
			{APIGroups: []string{""}, Resources: []string{"pods", "limitranges", "resourcequotas", "namespaces"}, Verbs: read},
			{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
			// A create names no object to authorize against; every other
			// verb is limited to the envvars Secret.
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update"}, ResourceNames: []string{tenancy.EnvvarsSecret}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		},
	}
}

// PlatformRole is what the API server does in the platform namespace:
// read the image catalogue, publish its URL and CA (and the role letting
// tools read them), hold its leader lease.
func PlatformRole(ns string) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName, Namespace: ns, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update"}},
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

// InstallRBAC creates or updates the ClusterRole and platform Role (an
// admin's step; the API server tries it at start and carries on when its
// identity may not).
func InstallRBAC(ctx context.Context, kube kubernetes.Interface, ns string) error {
	cr := ClusterRole()
	cur, err := kube.RbacV1().ClusterRoles().Get(ctx, cr.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = kube.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{})
	case err == nil:
		cur.Rules, cur.Labels = cr.Rules, cr.Labels
		_, err = kube.RbacV1().ClusterRoles().Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("install ClusterRole %s: %w", cr.Name, err)
	}
	return ensureRole(ctx, kube, PlatformRole(ns))
}

func ensureRole(ctx context.Context, kube kubernetes.Interface, want *rbacv1.Role) error {
	roles := kube.RbacV1().Roles(want.Namespace)
	cur, err := roles.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = roles.Create(ctx, want, metav1.CreateOptions{})
	case err == nil:
		cur.Rules, cur.Labels = want.Rules, want.Labels
		_, err = roles.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("ensure Role %s/%s: %w", want.Namespace, want.Name, err)
	}
	return nil
}

func ensureRoleBinding(ctx context.Context, kube kubernetes.Interface, want *rbacv1.RoleBinding) error {
	rbs := kube.RbacV1().RoleBindings(want.Namespace)
	cur, err := rbs.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = rbs.Create(ctx, want, metav1.CreateOptions{})
	case err == nil:
		cur.Subjects, cur.Labels = want.Subjects, want.Labels
		_, err = rbs.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("ensure RoleBinding %s/%s: %w", want.Namespace, want.Name, err)
	}
	return nil
}
