package status

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// RoleName names the status page's ClusterRole, its Role in the platform
// namespace, their bindings and its ServiceAccount there.
const RoleName = "toolforge-status"

const managedBy = "toolforge-status"

var read = []string{"get", "list", "watch"}

// ClusterRole is exactly what the status page reads: the kinds it shows,
// cluster-wide. No Secrets, ConfigMaps, Services, events or logs, and no
// write of any kind.
func ClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes", "namespaces", "pods", "resourcequotas"}, Verbs: read},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: read},
			{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: read},
			// Node use, where the cluster serves the metrics API.
			{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"nodes"}, Verbs: []string{"list"}},
		},
	}
}

// PlatformRole is what it reads in the platform namespace: the image
// catalogue ConfigMap and the one the API publishes to tools (the web URL
// template), by name (a list or watch with a metadata.name field
// selector is authorized against the name). Leases are for --leader-elect,
// which the daemon offers every service; the status page itself serves on
// every replica.
func PlatformRole(ns string) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName, Namespace: ns, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: read, ResourceNames: []string{tenancy.ImagesConfigMap, tenancy.APIConfigMap}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
			// The election's events (who leads).
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		},
	}
}

// User is the ServiceAccount's user name, which the daemon impersonates.
func User(ns string) string { return "system:serviceaccount:" + ns + ":" + RoleName }

// InstallRBAC creates or updates the roles, the ServiceAccount and its
// bindings (an admin's step; the daemon tries it at start).
func InstallRBAC(ctx context.Context, kube kubernetes.Interface, ns string) error {
	labels := map[string]string{tenancy.LabelManagedBy: managedBy}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: RoleName, Namespace: ns}}
	cr := ClusterRole()
	if err := ensure(ctx, kube.RbacV1().ClusterRoles(), cr,
		func(cur *rbacv1.ClusterRole) bool { return equality.Semantic.DeepEqual(cur.Rules, cr.Rules) },
		func(cur *rbacv1.ClusterRole) { cur.Rules, cur.Labels = cr.Rules, cr.Labels }); err != nil {
		return err
	}
	role := PlatformRole(ns)
	if err := ensure(ctx, kube.RbacV1().Roles(ns), role,
		func(cur *rbacv1.Role) bool { return equality.Semantic.DeepEqual(cur.Rules, role.Rules) },
		func(cur *rbacv1.Role) { cur.Rules, cur.Labels = role.Rules, role.Labels }); err != nil {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: RoleName, Namespace: ns, Labels: labels}}
	if err := ensure(ctx, kube.CoreV1().ServiceAccounts(ns), sa,
		func(*corev1.ServiceAccount) bool { return true }, func(*corev1.ServiceAccount) {}); err != nil {
		return err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: RoleName},
		Subjects:   subjects,
	}
	if err := ensure(ctx, kube.RbacV1().ClusterRoleBindings(), crb,
		func(cur *rbacv1.ClusterRoleBinding) bool { return equality.Semantic.DeepEqual(cur.Subjects, subjects) },
		func(cur *rbacv1.ClusterRoleBinding) { cur.Subjects = subjects }); err != nil {
		return err
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName, Namespace: ns, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: RoleName},
		Subjects:   subjects,
	}
	return ensure(ctx, kube.RbacV1().RoleBindings(ns), rb,
		func(cur *rbacv1.RoleBinding) bool { return equality.Semantic.DeepEqual(cur.Subjects, subjects) },
		func(cur *rbacv1.RoleBinding) { cur.Subjects = subjects })
}

// client is the part of a typed client-go client ensure needs.
type client[T any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// ensure creates want, or updates the existing object when same says it
// differs (set copies want's fields onto it).
func ensure[T interface {
	metav1.Object
	comparable
}](ctx context.Context, c client[T], want T, same func(T) bool, set func(T)) error {
	cur, err := c.Get(ctx, want.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.Create(ctx, want, metav1.CreateOptions{})
	case err == nil && !same(cur):
		set(cur)
		_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("install %T %s: %w", want, want.GetName(), err)
	}
	return nil
}
