package notify

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RoleName names the notifier's ClusterRole, its Role in the platform
// namespace and, where an installer (the Helm chart) runs it on its own,
// its ServiceAccount.
const RoleName = "toolforge-notifier"

// ClusterRole is exactly what the notifier reads: the pods of jobs that
// asked for mail, cluster-wide. It writes nothing in tool namespaces.
func ClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
}

// PlatformRole is what it does in the platform namespace: its election
// (only the leader mails, so each run is reported once) and its state,
// the pending notifications in ConfigMaps (state.go).
func PlatformRole(ns string) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: RoleName, Namespace: ns},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "update", "delete"}},
		},
	}
}
