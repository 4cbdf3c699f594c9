package accounts

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/accounts/marker"
	"github.com/toolforge-go/toolforge/internal/accounts/rbac"
	"github.com/toolforge-go/toolforge/internal/accounts/suspend"
	"github.com/toolforge-go/toolforge/internal/homefs"
)

// disableTool removes a disabled tool's access and stops its workloads, and
// leaves k8s.disabled in its home (unless the home is refused). Its data (namespace objects, home,
// volumes) is kept for when it comes back.
func (r *Reconciler) disableTool(ctx context.Context, t account.Tool, homeRefused error) error {
	markerKey := marker.ToolKey(t.Name)
	m, exists, err := marker.Read(ctx, r.w.Client, markerKey)
	if err != nil {
		return err
	}
	removed, err := r.w.DeleteIfExists(ctx, &rbacv1.RoleBinding{ObjectMeta: rbac.ToolBinding(t.Name).ObjectMeta})
	if err != nil {
		return err
	}
	if err := r.observers.Remove(ctx, t.Name, false); err != nil {
		return err
	}
	if homeRefused != nil {
		r.log.Warn("the disabled tool's home is refused: no k8s.disabled written", "tool", t.Name, "err", homeRefused)
	} else if home, err := homefs.OpenHome(t.Home, account.Owner(t.UID)); err == nil {
		werr := suspend.WriteNote(home, r.now())
		home.Close()
		if werr != nil {
			return werr
		}
	}
	if !exists && !removed {
		return nil // never provisioned: nothing to take away
	}
	if m.Status != marker.StatusDisabled {
		if err := suspend.Stop(ctx, r.w, t.Namespace()); err != nil {
			return err
		}
		r.metrics.disabled.WithLabelValues(account.TypeTool).Inc()
		r.log.Info("tool disabled", "tool", t.Name)
	}
	m.Status = marker.StatusDisabled
	_, err = marker.Write(ctx, r.w, markerKey, account.ToolLabels(t.Name), m)
	return err
}
