package accounts

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/accounts/namespace"
	"github.com/toolforge-go/toolforge/internal/accounts/rbac"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// removeTool handles a tool that is no longer in the source. Its access is
// cut at once; its namespace (and with it every object in it) and its
// volumes are deleted once the removal grace period has passed, so that a
// source mistake can be undone. Home directories are never deleted.
func (r *Reconciler) removeTool(ctx context.Context, name string) (time.Duration, error) {
	var ns corev1.Namespace
	err := r.w.Client.Get(ctx, client.ObjectKey{Name: tenancy.Namespace(name)}, &ns)
	if apierrors.IsNotFound(err) {
		// The namespace took the observer ServiceAccount with it; its
		// cluster-wide binding goes here.
		return 0, errors.Join(r.observers.Remove(ctx, name, false), r.storage.DeleteVolumes(ctx, name))
	}
	if err != nil {
		return 0, err
	}
	if ns.DeletionTimestamp != nil {
		return 10 * time.Second, nil
	}
	since, err := time.Parse(time.RFC3339, ns.Annotations[namespace.AnnotationRemovedSince])
	if err != nil {
		// First time seen missing: cut access, start the grace period.
		if _, err := r.w.DeleteIfExists(ctx, &rbacv1.RoleBinding{ObjectMeta: rbac.ToolBinding(name).ObjectMeta}); err != nil {
			return 0, err
		}
		if err := r.observers.Remove(ctx, name, false); err != nil {
			return 0, err
		}
		update := ns.DeepCopy() // ns is the cache's own object
		account.SetAnnotation(update, namespace.AnnotationRemovedSince, r.now().UTC().Format(time.RFC3339))
		if err := r.w.Client.Update(ctx, update); err != nil {
			return 0, err
		}
		r.log.Info("tool gone from the source; access removed, namespace deleted after the grace period", "tool", name, "grace", r.opts.RemovalGrace)
		return r.opts.RemovalGrace, nil
	}
	if left := since.Add(r.opts.RemovalGrace).Sub(r.now()); left > 0 {
		return left, nil
	}
	if err := r.w.Client.Delete(ctx, &ns); err != nil && !apierrors.IsNotFound(err) {
		return 0, err
	}
	if err := r.storage.DeleteVolumes(ctx, name); err != nil {
		return 0, err
	}
	r.metrics.removed.WithLabelValues(account.TypeTool).Inc()
	r.log.Info("tool removed", "tool", name)
	return 0, nil
}
