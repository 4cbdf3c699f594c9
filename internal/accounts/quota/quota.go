// Package quota keeps a tool's ResourceQuota and LimitRange, tool-<t>: the
// defaults (the seeds' and SPEC §4's), overridden by the quotas file, then
// by the admins' overrides on the tool's namespace.
package quota

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/toolquota"
)

// Name is the name of a tool's ResourceQuota and LimitRange.
func Name(tool string) string { return "tool-" + tool }

// Reconciler keeps tools' quotas and limit ranges.
type Reconciler struct {
	W      account.Writer
	Quotas *Quotas
	// PlatformClaims is how many claims the platform makes in every tool
	// namespace: they do not count against the tool's allowance.
	PlatformClaims int
}

// desired is the tool's quota: the defaults, the quotas file's, then the
// admins' overrides on the namespace; persistentvolumeclaims raised by the
// platform's own claims so that the tool keeps all of its allowance.
func (r *Reconciler) desired(tool string, overrides corev1.ResourceList) corev1.ResourceList {
	hard := r.Quotas.For(tool).Quota
	maps.Copy(hard, overrides)
	// The registry's storage is the build service's to enforce, not a
	// ResourceQuota key.
	delete(hard, toolquota.RegistryStorage)
	if pvcs, ok := hard[corev1.ResourcePersistentVolumeClaims]; ok {
		raised := pvcs.DeepCopy()
		raised.Add(*resource.NewQuantity(int64(r.PlatformClaims), resource.DecimalSI))
		hard[corev1.ResourcePersistentVolumeClaims] = raised
	}
	return hard
}

// overrides are the admins' overrides on the tool's namespace (from the
// cache). A namespace the cache does not hold yet was just made by the
// controller, without any.
func (r *Reconciler) overrides(ctx context.Context, tool string) (corev1.ResourceList, string, error) {
	var ns corev1.Namespace
	if err := r.W.Client.Get(ctx, client.ObjectKey{Name: tenancy.Namespace(tool)}, &ns); apierrors.IsNotFound(err) {
		return nil, "", nil
	} else if err != nil {
		return nil, "", err
	}
	raw := ns.Annotations[tenancy.AnnotationQuota]
	list, err := toolquota.Decode(raw)
	if err != nil {
		// Refused whole and the quota left as it is: a typo must neither
		// shrink a tool's quota to the defaults nor half-apply.
		return nil, "", fmt.Errorf("annotation %s of namespace %s: %w; the quota is left as it is until it is fixed (toolforge-admin quota set|reset)", tenancy.AnnotationQuota, ns.Name, err)
	}
	return list, toolquota.Encode(list), nil
}

// EnsureQuota keeps the tool's ResourceQuota and records the overrides it
// applied on it.
func (r *Reconciler) EnsureQuota(ctx context.Context, tool string) (ensure.Result, error) {
	overrides, applied, err := r.overrides(ctx, tool)
	if err != nil {
		return ensure.Unchanged, err
	}
	want := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: Name(tool), Namespace: tenancy.Namespace(tool), Labels: account.ToolLabels(tool)},
		Spec:       corev1.ResourceQuotaSpec{Hard: r.desired(tool, overrides)},
	}
	if applied != "" {
		want.Annotations = map[string]string{toolquota.AppliedAnnotation: applied}
	}
	return account.Ensure(ctx, r.W, want, func(cur *corev1.ResourceQuota) error {
		cur.Spec = want.Spec
		if applied == "" {
			delete(cur.Annotations, toolquota.AppliedAnnotation)
		} else {
			account.SetAnnotation(cur, toolquota.AppliedAnnotation, applied)
		}
		return nil
	})
}

// EnsureLimitRange keeps the tool's container LimitRange.
func (r *Reconciler) EnsureLimitRange(ctx context.Context, tool string) (ensure.Result, error) {
	lr := r.Quotas.For(tool).LimitRange
	want := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: Name(tool), Namespace: tenancy.Namespace(tool), Labels: account.ToolLabels(tool)},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        lr.Default,
			DefaultRequest: lr.DefaultRequest,
			Max:            lr.Max,
			Min:            lr.Min,
		}}},
	}
	return account.Ensure(ctx, r.W, want, func(cur *corev1.LimitRange) error { cur.Spec = want.Spec; return nil })
}
