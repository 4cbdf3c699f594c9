// Package accounts is `toolforged accounts`, the platform's
// maintain-kubeusers: for every tool in the account source, its namespace,
// quota, limit range, storage, role bindings, client certificate and
// kubeconfig; for every admin, view and impersonation rights and
// credentials. It is level-based: each pass computes what should exist,
// compares it with what does, and writes only the difference.
//
// This package reads the source and orchestrates; each kind of object has
// its reconciler in a package of its own (namespace, quota, storage, rbac,
// credentials, kubeconfig, observer, admins, marker, suspend), sharing the
// small core in package account.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"k8s.io/utils/keymutex"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/accounts/admins"
	"github.com/toolforge-go/toolforge/internal/accounts/credentials"
	"github.com/toolforge-go/toolforge/internal/accounts/homes"
	"github.com/toolforge-go/toolforge/internal/accounts/kubeconfig"
	"github.com/toolforge-go/toolforge/internal/accounts/marker"
	"github.com/toolforge-go/toolforge/internal/accounts/namespace"
	"github.com/toolforge-go/toolforge/internal/accounts/observer"
	"github.com/toolforge-go/toolforge/internal/accounts/quota"
	"github.com/toolforge-go/toolforge/internal/accounts/rbac"
	"github.com/toolforge-go/toolforge/internal/accounts/storage"
	"github.com/toolforge-go/toolforge/internal/accounts/suspend"
	"github.com/toolforge-go/toolforge/internal/accountsource"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Reconciler converges accounts. Reads come from an informer cache of the
// objects it owns; writes go to the API server.
type Reconciler struct {
	opts   *Options
	source accountsource.Source
	w      account.Writer

	namespaces  *namespace.Reconciler
	quotas      *quota.Reconciler
	storage     *storage.Reconciler
	rbac        *rbac.Reconciler
	observers   *observer.Reconciler
	credentials *credentials.Issuer
	kubeconfig  kubeconfig.Target
	admins      *admins.Reconciler

	metrics *metrics
	log     *slog.Logger
	// installRBAC: the controller keeps its ClusterRoles (tools-user,
	// toolforge-sudo) and the catalogue reader's Role and binding itself;
	// false when the Helm chart owns them (--install-rbac=false).
	installRBAC bool
	now         func() time.Time

	// accounts is the latest snapshot of the source, nil before the first.
	accounts atomic.Pointer[snapshot]
	// locks serialise work on one account between a pass and the
	// event-driven controller.
	locks keymutex.KeyMutex
}

// snapshot is the source's content, indexed, with invalid names set apart
// and every account's home decided.
type snapshot struct {
	tools  map[string]accountsource.Tool
	admins map[string]accountsource.Admin
	homes  map[homes.Key]homes.Resolved
}

// reasonError is a failure counted under a reason of its own in
// maintain_kubeusers_errors (any other is a "reconcile" failure).
type reasonError struct {
	reason string
	err    error
}

func (e reasonError) Error() string { return e.err.Error() }
func (e reasonError) Unwrap() error { return e.err }

func (r *Reconciler) snapshot() *snapshot { return r.accounts.Load() }

// reconcileTool converges one tool, whichever state the source gives it.
// The duration asks to be called again after it (renewal, removal grace).
func (r *Reconciler) reconcileTool(ctx context.Context, name string) (time.Duration, error) {
	r.locks.LockKey("tool/" + name)
	defer func() { _ = r.locks.UnlockKey("tool/" + name) }()
	snap := r.snapshot()
	if snap == nil {
		return time.Second, nil
	}
	src, known := snap.tools[name]
	if !known {
		return r.removeTool(ctx, name)
	}
	home := snap.homes[homes.Key{Kind: account.TypeTool, Name: name}]
	t := account.Tool{Name: name, UID: src.UID, Home: home.Home}
	switch {
	case src.Disabled:
		return 0, r.disableTool(ctx, t, home.Refused)
	case home.Refused != nil:
		return 0, r.refuseTool(ctx, t, home.Refused)
	default:
		return r.provisionTool(ctx, t)
	}
}

// refuseTool records on the tool's namespace why it is not provisioned:
// its home may not be used. Nothing is written in the home and nothing
// of what the tool had is taken away; it is provisioned once the source
// is fixed.
func (r *Reconciler) refuseTool(ctx context.Context, t account.Tool, why error) error {
	if _, err := r.namespaces.Ensure(ctx, t); err != nil {
		return err
	}
	if err := r.refuse(ctx, marker.ToolKey(t.Name), account.ToolLabels(t.Name), why); err != nil {
		return err
	}
	return reasonError{"home_refused", fmt.Errorf("not provisioned: %w", why)}
}

// refuse writes the refusal on the account's marker, keeping the record
// of its credentials.
func (r *Reconciler) refuse(ctx context.Context, key client.ObjectKey, labels map[string]string, why error) error {
	m, _, err := marker.Read(ctx, r.w.Client, key)
	if err != nil {
		return err
	}
	m.Status, m.Reason, m.Message = marker.StatusRefused, marker.ReasonHomeRefused, why.Error()
	_, err = marker.Write(ctx, r.w, key, labels, m)
	return err
}

// provisionTool makes everything an enabled tool has. The namespace comes
// first: a tool never holds a certificate for a namespace that does not
// exist yet.
func (r *Reconciler) provisionTool(ctx context.Context, t account.Tool) (time.Duration, error) {
	ns := t.Namespace()
	nsOut, err := r.namespaces.Ensure(ctx, t)
	if err != nil {
		return 0, err
	}
	if _, err := r.quotas.EnsureLimitRange(ctx, t.Name); err != nil {
		return 0, err
	}
	if _, err := r.storage.Ensure(ctx, t); err != nil {
		if errors.Is(err, storage.ErrForeignClaim) {
			return 0, reasonError{"foreign_claim", err}
		}
		return 0, err
	}
	markerKey := marker.ToolKey(t.Name)
	m, _, err := marker.Read(ctx, r.w.Client, markerKey)
	if err != nil {
		return 0, err
	}
	if m.Status == marker.StatusDisabled {
		if err := suspend.Restore(ctx, r.w, ns); err != nil {
			return 0, err
		}
	}
	home, err := homefs.EnsureHome(t.Home, account.Owner(t.UID), 0o750)
	if err != nil {
		return 0, fmt.Errorf("home of %s: %w", t.Name, err)
	}
	defer home.Close()
	if err := home.Remove(tenancy.DisabledFile); err != nil {
		return 0, err
	}
	id := credentials.Identity{CN: t.Name, Org: tenancy.ToolGroup, AccountType: account.TypeTool, Labels: account.ToolLabels(t.Name)}
	certDir := tenancy.CredentialDir(tenancy.ToolCertDir, r.opts.ContextName)
	creds, issued, err := r.credentials.Ensure(ctx, home, certDir, id, m.Fingerprint)
	if err != nil {
		return 0, err
	}
	if _, err := r.kubeconfig.Write(home, tenancy.ToolUserName(t.Name, r.opts.ContextName), certDir, ns); err != nil {
		return 0, fmt.Errorf("kubeconfig of %s: %w", t.Name, err)
	}
	issuedAt := m.Issued
	switch {
	case issued:
		issuedAt = r.now()
	case issuedAt.IsZero() || m.Fingerprint != creds.Fingerprint:
		// A marker from before the field: the certificate's own date (the
		// signer backdates it a few minutes).
		issuedAt = creds.NotBefore
	}
	if _, err := marker.Write(ctx, r.w, markerKey, account.ToolLabels(t.Name), marker.Marker{Status: marker.StatusProvisioned, Expiry: creds.NotAfter, Fingerprint: creds.Fingerprint, Issued: issuedAt}); err != nil {
		return 0, err
	}
	// The quota comes after the platform's claims and the marker, which
	// it counts: created before them, each would make quota admission
	// rewrite the quota's status, a costly write when thousands of tools
	// are made at once. Access comes last, once the quota is in place: the
	// credentials are worth nothing in the namespace until then.
	for _, step := range []func(context.Context, string) (ensure.Result, error){r.quotas.EnsureQuota, r.rbac.EnsureToolBinding, r.rbac.EnsureAPIBinding, r.observers.Ensure} {
		if _, err := step(ctx, t.Name); err != nil {
			return 0, err
		}
	}
	switch {
	case nsOut == ensure.Created:
		r.metrics.created.WithLabelValues(account.TypeTool).Inc()
		r.log.Info("tool provisioned", "tool", t.Name, "certificate_expiry", creds.NotAfter)
	case issued:
		r.metrics.renewed.WithLabelValues(account.TypeTool).Inc()
		r.log.Info("tool credentials renewed", "tool", t.Name, "certificate_expiry", creds.NotAfter)
	}
	return r.credentials.UntilRenewal(creds), nil
}

// reconcileAdmin converges one admin: bindings and credentials while in
// the source, neither once gone.
func (r *Reconciler) reconcileAdmin(ctx context.Context, name string) (time.Duration, error) {
	r.locks.LockKey("admin/" + name)
	defer func() { _ = r.locks.UnlockKey("admin/" + name) }()
	snap := r.snapshot()
	if snap == nil {
		return time.Second, nil
	}
	a, known := snap.admins[name]
	if !known {
		removed, err := r.admins.Remove(ctx, name)
		if removed {
			r.metrics.removed.WithLabelValues(account.TypeAdmin).Inc()
			r.log.Info("admin removed", "admin", name)
		}
		return 0, err
	}
	home := snap.homes[homes.Key{Kind: account.TypeAdmin, Name: name}]
	if home.Refused != nil {
		if err := r.refuse(ctx, marker.AdminKey(r.admins.PlatformNS, name), account.AdminLabels(name), home.Refused); err != nil {
			return 0, err
		}
		return 0, reasonError{"home_refused", fmt.Errorf("not provisioned: %w", home.Refused)}
	}
	p, err := r.admins.Ensure(ctx, account.Admin{Name: name, UID: a.UID, Home: home.Home})
	if err != nil {
		return 0, err
	}
	switch {
	case p.First:
		r.metrics.created.WithLabelValues(account.TypeAdmin).Inc()
		r.log.Info("admin provisioned", "admin", name)
	case p.Issued:
		r.metrics.renewed.WithLabelValues(account.TypeAdmin).Inc()
	}
	return p.RenewAfter, nil
}
