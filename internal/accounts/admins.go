package accounts

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// AdminUser is the kubeconfig user entry of an admin's credentials.
const AdminUser = "toolforge-admin"

// adminUser is the admin's user entry for context ctx: AdminUser for the
// default context, <ctx>-admin for another.
func adminUser(ctx string) string {
	if ctx == tenancy.ContextName {
		return AdminUser
	}
	return ctx + "-admin"
}

func adminLabels(name string) map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": managedBy, labelAdmin: name}
}

// adminBindings are what an admin gets: read access to everything (`view`)
// and the right to impersonate a cluster admin, which is what `kubectl
// sudo` does: power is explicit, never the default.
func adminBindings(name string) []*rbacv1.ClusterRoleBinding {
	subject := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}}
	bind := func(suffix, role string) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "toolforge-admin-" + name + "-" + suffix, Labels: adminLabels(name)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   subject,
		}
	}
	return []*rbacv1.ClusterRoleBinding{bind("view", "view"), bind("sudo", SudoRole)}
}

func adminMarkerKey(platformNS, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: platformNS, Name: "maintain-kubeusers-admin-" + name}
}

// reconcileAdmin converges one admin: bindings and credentials while in the
// source, neither once gone.
func (r *Reconciler) reconcileAdmin(ctx context.Context, name string) (time.Duration, error) {
	r.locks.LockKey("admin/" + name)
	defer func() { _ = r.locks.UnlockKey("admin/" + name) }()
	snap := r.snapshot()
	if snap == nil {
		return time.Second, nil
	}
	a, known := snap.admins[name]
	if !known {
		return 0, r.removeAdmin(ctx, name)
	}
	for _, b := range adminBindings(name) {
		if _, err := r.ensureClusterRoleBinding(ctx, b); err != nil {
			return 0, err
		}
	}
	key := adminMarkerKey(r.platformNS, name)
	m, _, err := r.readMarker(ctx, key)
	if err != nil {
		return 0, err
	}
	homePath := a.Home
	if homePath == "" {
		homePath = filepath.Join(r.opts.AdminHomeRoot, name)
	}
	home, err := homefs.EnsureHome(homePath, owner(a.UID), 0o750)
	if err != nil {
		return 0, fmt.Errorf("home of admin %s: %w", name, err)
	}
	defer home.Close()
	id := identity{CN: name, Org: tenancy.AdminGroup, AccountType: typeAdmin, Labels: adminLabels(name)}
	certDir := tenancy.CredentialDir(tenancy.AdminCertDir, r.opts.ContextName)
	creds, issued, err := r.ensureCredentials(ctx, home, certDir, id, m.Fingerprint)
	if err != nil {
		return 0, err
	}
	if _, err := r.writeKubeconfig(home, kubeEntry{
		Cluster:  r.opts.ContextName,
		User:     adminUser(r.opts.ContextName),
		Context:  r.opts.ContextName,
		Server:   r.server,
		CAData:   r.caData,
		CertFile: filepath.Join(home.Path(), certDir, tenancy.CertFile),
		KeyFile:  filepath.Join(home.Path(), certDir, tenancy.KeyFile),
	}); err != nil {
		return 0, fmt.Errorf("kubeconfig of admin %s: %w", name, err)
	}
	if _, err := r.writeMarker(ctx, key, adminLabels(name), marker{Status: statusProvisioned, Expiry: creds.NotAfter, Fingerprint: creds.Fingerprint}); err != nil {
		return 0, err
	}
	if issued {
		if m.Fingerprint == "" {
			r.metrics.created.WithLabelValues(typeAdmin).Inc()
			r.log.Info("admin provisioned", "admin", name)
		} else {
			r.metrics.renewed.WithLabelValues(typeAdmin).Inc()
		}
	}
	return r.untilRenewal(creds), nil
}

// removeAdmin takes away both bindings; the certificate alone grants
// nothing.
func (r *Reconciler) removeAdmin(ctx context.Context, name string) error {
	var errs []error
	removed := false
	for _, b := range adminBindings(name) {
		ok, err := deleteIfExists(ctx, r, b)
		removed = removed || ok
		errs = append(errs, err)
	}
	key := adminMarkerKey(r.platformNS, name)
	_, err := deleteIfExists(ctx, r, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}})
	errs = append(errs, err)
	if removed {
		r.metrics.removed.WithLabelValues(typeAdmin).Inc()
		r.log.Info("admin removed", "admin", name)
	}
	return errors.Join(errs...)
}

// knownAdmins are the admins the cluster has bindings for.
func (r *Reconciler) knownAdmins(ctx context.Context) ([]string, error) {
	var list rbacv1.ClusterRoleBindingList
	if err := r.client.List(ctx, &list, client.HasLabels{labelAdmin}); err != nil {
		return nil, err
	}
	var names []string
	for _, b := range list.Items {
		names = append(names, b.Labels[labelAdmin])
	}
	return names, nil
}
