package accounts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/accounts/homes"
	"github.com/toolforge-go/toolforge/internal/accountsource"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// pass makes one full pass: it re-reads the source, then converges every
// account the source or the cluster knows. One account's failure is
// logged, counted and returned with the others'; it never stops the pass.
func (r *Reconciler) pass(ctx context.Context) error {
	start := r.now()
	raw, err := r.source.Load(ctx)
	if err != nil {
		r.metrics.errors.WithLabelValues(account.TypeTool, "source").Inc()
		return fmt.Errorf("load accounts from %s: %w", r.source, err)
	}
	snap, invalid := r.index(raw)
	r.accounts.Store(snap)

	errs := []error{invalid}
	if r.installRBAC {
		if err := r.rbac.EnsureClusterRoles(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cluster roles: %w", err))
		}
		if err := r.rbac.EnsureCatalogueReader(ctx); err != nil {
			errs = append(errs, fmt.Errorf("image catalogue reader role: %w", err))
		}
	}
	tools, err := r.toolsToVisit(ctx, snap)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, r.forEach(ctx, tools, account.TypeTool, r.reconcileTool))
	admins, err := r.adminsToVisit(ctx, snap)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, r.forEach(ctx, admins, account.TypeAdmin, r.reconcileAdmin))

	took := r.now().Sub(start)
	r.metrics.runSeconds.Set(took.Seconds())
	r.metrics.runFinished.SetToCurrentTime()
	err = errors.Join(errs...)
	r.log.Info("pass finished", "tools", len(snap.tools), "admins", len(snap.admins), "took", took.Round(time.Millisecond), "writes", r.metrics.totalWrites.Load(), "failed", err != nil)
	return err
}

// index validates the source's entries. Invalid ones are skipped, logged
// and counted, and returned as one error; the rest is the snapshot.
func (r *Reconciler) index(raw accountsource.Snapshot) (*snapshot, error) {
	snap := &snapshot{tools: map[string]accountsource.Tool{}, admins: map[string]accountsource.Admin{}}
	var errs []error
	bad := func(kind, reason string, err error) {
		r.metrics.errors.WithLabelValues(kind, reason).Inc()
		r.log.Error("account skipped", "type", kind, "err", err)
		errs = append(errs, err)
	}
	for _, inv := range raw.Invalid {
		bad(account.TypeTool, "invalid_entry", fmt.Errorf("%s: %s", inv.ID, inv.Reason))
	}
	for _, t := range raw.Tools {
		if err := tenancy.ValidateName(t.Name); err != nil {
			bad(account.TypeTool, "invalid_name", fmt.Errorf("tool: %w", err))
			continue
		}
		if _, dup := snap.tools[t.Name]; dup {
			bad(account.TypeTool, "invalid_entry", fmt.Errorf("tool %q is listed twice; the first entry is used", t.Name))
			continue
		}
		snap.tools[t.Name] = t
	}
	for _, a := range raw.Admins {
		if err := tenancy.ValidateName(a.Name); err != nil {
			bad(account.TypeAdmin, "invalid_name", fmt.Errorf("admin: %w", err))
			continue
		}
		snap.admins[a.Name] = a
	}
	snap.homes = r.resolveHomes(snap)
	return snap, errors.Join(errs...)
}

// resolveHomes decides every account's home: the source's, or
// <root>/<name>; a home outside its root or shared with another account is
// refused (see package homes).
func (r *Reconciler) resolveHomes(snap *snapshot) map[homes.Key]homes.Resolved {
	var all []homes.Account
	for _, t := range snap.tools {
		all = append(all, homes.Account{Kind: account.TypeTool, Name: t.Name, Home: t.Home, Root: r.opts.HomeRoot})
	}
	for _, a := range snap.admins {
		all = append(all, homes.Account{Kind: account.TypeAdmin, Name: a.Name, Home: a.Home, Root: r.opts.AdminHomeRoot})
	}
	resolved := homes.Resolve(all)
	refused := map[string]int{account.TypeTool: 0, account.TypeAdmin: 0}
	for k, res := range resolved {
		if res.Refused != nil {
			refused[k.Kind]++
		}
	}
	for kind, n := range refused {
		r.metrics.homesRefused.WithLabelValues(kind).Set(float64(n))
	}
	return resolved
}

// toolsToVisit are the tools of the source and those the cluster still has
// a namespace for (to remove them).
func (r *Reconciler) toolsToVisit(ctx context.Context, snap *snapshot) ([]string, error) {
	names := map[string]bool{}
	for n := range snap.tools {
		names[n] = true
	}
	var nss corev1.NamespaceList
	if err := r.w.Client.List(ctx, &nss, client.HasLabels{tenancy.LabelTool}); err != nil {
		return nil, fmt.Errorf("list tool namespaces: %w", err)
	}
	for _, ns := range nss.Items {
		names[ns.Labels[tenancy.LabelTool]] = true
	}
	return sorted(names), nil
}

func (r *Reconciler) adminsToVisit(ctx context.Context, snap *snapshot) ([]string, error) {
	names := map[string]bool{}
	for n := range snap.admins {
		names[n] = true
	}
	known, err := r.admins.Known(ctx)
	if err != nil {
		return nil, fmt.Errorf("list admin bindings: %w", err)
	}
	for _, n := range known {
		names[n] = true
	}
	return sorted(names), nil
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// forEach reconciles names with the configured number of workers and joins
// the failures, each named after its account.
func (r *Reconciler) forEach(ctx context.Context, names []string, kind string, fn func(context.Context, string) (time.Duration, error)) error {
	work := make(chan string)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(r.opts.Workers, max(len(names), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if _, err := fn(ctx, name); err != nil {
					reason := "reconcile"
					var re reasonError
					if errors.As(err, &re) {
						reason = re.reason
					}
					err = fmt.Errorf("%s %s: %w", kind, name, err)
					r.metrics.errors.WithLabelValues(kind, reason).Inc()
					r.log.Error("account not converged", "type", kind, "name", name, "err", err)
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, n := range names {
		select {
		case work <- n:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}
