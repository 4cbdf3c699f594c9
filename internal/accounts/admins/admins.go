// Package admins provisions the platform's admins: read access to
// everything (ClusterRole view), the right to impersonate a cluster admin
// (toolforge-sudo, which kubectl sudo uses: power is explicit, never the
// default), and CN=<admin>, O=admins credentials with a kubeconfig.
package admins

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/accounts/credentials"
	"github.com/toolforge-go/toolforge/internal/accounts/kubeconfig"
	"github.com/toolforge-go/toolforge/internal/accounts/marker"
	"github.com/toolforge-go/toolforge/internal/accounts/rbac"
	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// AdminUser is the kubeconfig user entry of an admin's credentials.
const AdminUser = "toolforge-admin"

// User is the admin's user entry for context ctx: AdminUser for the
// default context, <ctx>-admin for another.
func User(ctx string) string {
	if ctx == tenancy.ContextName {
		return AdminUser
	}
	return ctx + "-admin"
}

// Bindings are what an admin gets: read access to everything (view) and
// the right to impersonate a cluster admin.
func Bindings(name string) []*rbacv1.ClusterRoleBinding {
	subject := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}}
	bind := func(suffix, role string) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "toolforge-admin-" + name + "-" + suffix, Labels: account.AdminLabels(name)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   subject,
		}
	}
	return []*rbacv1.ClusterRoleBinding{bind("view", "view"), bind("sudo", rbac.SudoRole)}
}

// Reconciler provisions admins.
type Reconciler struct {
	W           account.Writer
	RBAC        *rbac.Reconciler
	Credentials *credentials.Issuer
	Kubeconfig  kubeconfig.Target
	// PlatformNS holds the admins' markers.
	PlatformNS string
}

// Provisioned says what Ensure did.
type Provisioned struct {
	// RenewAfter is when the credentials are due for renewal.
	RenewAfter time.Duration
	// Issued: new credentials were issued; First: the admin's first.
	Issued, First bool
}

// Ensure gives the admin its bindings and credentials.
func (r *Reconciler) Ensure(ctx context.Context, a account.Admin) (Provisioned, error) {
	for _, b := range Bindings(a.Name) {
		if _, err := r.RBAC.EnsureClusterRoleBinding(ctx, b); err != nil {
			return Provisioned{}, err
		}
	}
	key := marker.AdminKey(r.PlatformNS, a.Name)
	m, _, err := marker.Read(ctx, r.W.Client, key)
	if err != nil {
		return Provisioned{}, err
	}
	home, err := homefs.EnsureHome(a.Home, account.Owner(a.UID), 0o750)
	if err != nil {
		return Provisioned{}, fmt.Errorf("home of admin %s: %w", a.Name, err)
	}
	defer home.Close()
	id := credentials.Identity{CN: a.Name, Org: tenancy.AdminGroup, AccountType: account.TypeAdmin, Labels: account.AdminLabels(a.Name)}
	certDir := tenancy.CredentialDir(tenancy.AdminCertDir, r.Kubeconfig.Context)
	creds, issued, err := r.Credentials.Ensure(ctx, home, certDir, id, m.Fingerprint)
	if err != nil {
		return Provisioned{}, err
	}
	if _, err := r.Kubeconfig.Write(home, User(r.Kubeconfig.Context), certDir, ""); err != nil {
		return Provisioned{}, fmt.Errorf("kubeconfig of admin %s: %w", a.Name, err)
	}
	if _, err := marker.Write(ctx, r.W, key, account.AdminLabels(a.Name), marker.Marker{Status: marker.StatusProvisioned, Expiry: creds.NotAfter, Fingerprint: creds.Fingerprint}); err != nil {
		return Provisioned{}, err
	}
	return Provisioned{RenewAfter: r.Credentials.UntilRenewal(creds), Issued: issued, First: issued && m.Fingerprint == ""}, nil
}

// Remove takes away both bindings (the certificate alone grants nothing)
// and the marker; it reports whether the admin had bindings.
func (r *Reconciler) Remove(ctx context.Context, name string) (bool, error) {
	var errs []error
	removed := false
	for _, b := range Bindings(name) {
		ok, err := r.W.DeleteIfExists(ctx, b)
		removed = removed || ok
		errs = append(errs, err)
	}
	key := marker.AdminKey(r.PlatformNS, name)
	_, err := r.W.DeleteIfExists(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}})
	errs = append(errs, err)
	return removed, errors.Join(errs...)
}

// Known are the admins the cluster has bindings for.
func (r *Reconciler) Known(ctx context.Context) ([]string, error) {
	var list rbacv1.ClusterRoleBindingList
	if err := r.W.Client.List(ctx, &list, client.HasLabels{account.LabelAdmin}); err != nil {
		return nil, err
	}
	var names []string
	for _, b := range list.Items {
		names = append(names, b.Labels[account.LabelAdmin])
	}
	return names, nil
}
