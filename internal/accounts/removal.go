package accounts

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// removeTool handles a tool that is no longer in the source. Its access is
// cut at once; its namespace (and with it every object in it) and its
// volumes are deleted once the removal grace period has passed, so that a
// source mistake can be undone. Home directories are never deleted.
func (r *Reconciler) removeTool(ctx context.Context, name string) (time.Duration, error) {
	var ns corev1.Namespace
	err := r.client.Get(ctx, client.ObjectKey{Name: tenancy.Namespace(name)}, &ns)
	if apierrors.IsNotFound(err) {
		// The namespace took the observer ServiceAccount with it; its
		// cluster-wide binding goes here.
		return 0, errors.Join(r.removeObserver(ctx, name, false), r.deleteVolumes(ctx, name))
	}
	if err != nil {
		return 0, err
	}
	if ns.DeletionTimestamp != nil {
		return 10 * time.Second, nil
	}
	since, err := time.Parse(time.RFC3339, ns.Annotations[annotationRemovedSince])
	if err != nil {
		// First time seen missing: cut access, start the grace period.
		if _, err := deleteIfExists(ctx, r, &rbacv1.RoleBinding{ObjectMeta: toolBinding(name).ObjectMeta}); err != nil {
			return 0, err
		}
		if err := r.removeObserver(ctx, name, false); err != nil {
			return 0, err
		}
		update := ns.DeepCopy() // ns is the cache's own object
		setAnnotation(update, annotationRemovedSince, r.now().UTC().Format(time.RFC3339))
		if err := r.client.Update(ctx, update); err != nil {
			return 0, err
		}
		r.log.Info("tool gone from the source; access removed, namespace deleted after the grace period", "tool", name, "grace", r.opts.RemovalGrace)
		return r.opts.RemovalGrace, nil
	}
	if left := since.Add(r.opts.RemovalGrace).Sub(r.now()); left > 0 {
		return left, nil
	}
	if err := r.client.Delete(ctx, &ns); err != nil && !apierrors.IsNotFound(err) {
		return 0, err
	}
	if err := r.deleteVolumes(ctx, name); err != nil {
		return 0, err
	}
	r.metrics.removed.WithLabelValues(typeTool).Inc()
	r.log.Info("tool removed", "tool", name)
	return 0, nil
}

// deleteVolumes deletes a removed tool's PVs; with the Retain policy the
// data behind them stays.
func (r *Reconciler) deleteVolumes(ctx context.Context, tool string) error {
	var pvs corev1.PersistentVolumeList
	if err := r.client.List(ctx, &pvs, client.MatchingLabels(toolLabels(tool))); err != nil {
		return err
	}
	var errs []error
	for i := range pvs.Items {
		if err := r.client.Delete(ctx, &pvs.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
