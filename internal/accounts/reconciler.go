// Package accounts provisions tool and admin accounts on the cluster (the
// seeds' maintain-kubeusers): for every tool in the account source, its
// namespace, quota, limit range, storage, role binding, client certificate
// and kubeconfig; for every admin, view and impersonation rights and
// credentials. It is level-based: each pass computes what should exist,
// compares it with what does, and writes only the difference.
package accounts

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/keymutex"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accountsource"
	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Reconciler converges accounts. Reads come from an informer cache of the
// objects it owns; writes go to the API server.
type Reconciler struct {
	opts      *Options
	source    accountsource.Source
	quotas    *Quotas
	shared    []sharedData
	client    client.Client // cached reads, direct writes
	apiReader client.Reader // uncached reads
	kube      kubernetes.Interface
	server    string // API URL written into kubeconfigs
	caData    []byte // CA written into kubeconfigs
	metrics   *metrics
	log       *slog.Logger
	// platformNS holds the admins' marker ConfigMaps.
	platformNS string
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

// snapshot is the source's content, indexed, with invalid names set apart.
type snapshot struct {
	tools  map[string]accountsource.Tool
	admins map[string]accountsource.Admin
}

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
	t, known := snap.tools[name]
	switch {
	case !known:
		return r.removeTool(ctx, name)
	case t.Disabled:
		return 0, r.disableTool(ctx, t)
	default:
		return r.provisionTool(ctx, t)
	}
}

func (r *Reconciler) toolHome(t accountsource.Tool) string {
	if t.Home != "" {
		return t.Home
	}
	return filepath.Join(r.opts.HomeRoot, t.Name)
}

func owner(uid int64) homefs.Owner { return homefs.Owner{UID: int(uid), GID: int(uid)} }

// provisionTool makes everything an enabled tool has. The namespace comes
// first: a tool never holds a certificate for a namespace that does not
// exist yet.
func (r *Reconciler) provisionTool(ctx context.Context, t accountsource.Tool) (time.Duration, error) {
	ns := tenancy.Namespace(t.Name)
	nsOut, err := r.ensureNamespace(ctx, t)
	if err != nil {
		return 0, err
	}
	if _, err := r.ensureLimitRange(ctx, t.Name); err != nil {
		return 0, err
	}
	if _, err := r.ensureStorage(ctx, t); err != nil {
		return 0, err
	}
	markerKey := client.ObjectKey{Namespace: ns, Name: MarkerName}
	m, _, err := r.readMarker(ctx, markerKey)
	if err != nil {
		return 0, err
	}
	if m.Status == statusDisabled {
		if err := r.restoreWorkloads(ctx, ns); err != nil {
			return 0, err
		}
	}
	home, err := homefs.EnsureHome(r.toolHome(t), owner(t.UID), 0o750)
	if err != nil {
		return 0, fmt.Errorf("home of %s: %w", t.Name, err)
	}
	defer home.Close()
	if err := home.Remove(tenancy.DisabledFile); err != nil {
		return 0, err
	}
	id := identity{CN: t.Name, Org: tenancy.ToolGroup, AccountType: typeTool, Labels: toolLabels(t.Name)}
	certDir := tenancy.CredentialDir(tenancy.ToolCertDir, r.opts.ContextName)
	creds, issued, err := r.ensureCredentials(ctx, home, certDir, id, m.Fingerprint)
	if err != nil {
		return 0, err
	}
	if _, err := r.writeKubeconfig(home, kubeEntry{
		Cluster:   r.opts.ContextName,
		User:      tenancy.ToolUserName(t.Name, r.opts.ContextName),
		Context:   r.opts.ContextName,
		Server:    r.server,
		CAData:    r.caData,
		CertFile:  filepath.Join(home.Path(), certDir, tenancy.CertFile),
		KeyFile:   filepath.Join(home.Path(), certDir, tenancy.KeyFile),
		Namespace: ns,
	}); err != nil {
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
	if _, err := r.writeMarker(ctx, markerKey, toolLabels(t.Name), marker{Status: statusProvisioned, Expiry: creds.NotAfter, Fingerprint: creds.Fingerprint, Issued: issuedAt}); err != nil {
		return 0, err
	}
	// The quota comes after the platform's claims and the marker, which
	// it counts: created before them, each would make quota admission
	// rewrite the quota's status, a costly write when thousands of tools
	// are made at once. Access comes last, once the quota is in place: the
	// credentials are worth nothing in the namespace until then.
	for _, step := range []func(context.Context, string) (outcome, error){r.ensureQuota, r.ensureToolBinding, r.ensureAPIBinding, r.ensureObserver} {
		if _, err := step(ctx, t.Name); err != nil {
			return 0, err
		}
	}
	switch {
	case nsOut == created:
		r.metrics.created.WithLabelValues(typeTool).Inc()
		r.log.Info("tool provisioned", "tool", t.Name, "certificate_expiry", creds.NotAfter)
	case issued:
		r.metrics.renewed.WithLabelValues(typeTool).Inc()
		r.log.Info("tool credentials renewed", "tool", t.Name, "certificate_expiry", creds.NotAfter)
	}
	return r.untilRenewal(creds), nil
}

// ensureCredentials keeps valid credentials in <home>/<dirName> or issues
// new ones; issued says which.
func (r *Reconciler) ensureCredentials(ctx context.Context, home *homefs.Dir, dirName string, id identity, fingerprint string) (creds credentials, issued bool, err error) {
	dir, err := home.Subdir(dirName, 0o700)
	if err != nil {
		return credentials{}, false, err
	}
	defer dir.Close()
	if err := dir.RemoveTemporaries(); err != nil {
		return credentials{}, false, err
	}
	creds, reason, err := r.checkCredentials(dir, id, fingerprint)
	if err != nil || reason == "" {
		return creds, false, err
	}
	r.log.Debug("issuing certificate", "account", id.CN, "type", id.AccountType, "reason", reason)
	creds, err = r.issue(ctx, dir, id)
	if err != nil {
		return credentials{}, false, err
	}
	return creds, true, nil
}

func (r *Reconciler) untilRenewal(c credentials) time.Duration {
	return max(time.Until(c.NotAfter)-r.opts.RenewBefore, time.Minute)
}
