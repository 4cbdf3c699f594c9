package accounts

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/accountsource"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// quotaName is the name of a tool's ResourceQuota and LimitRange.
func quotaName(tool string) string { return "tool-" + tool }

// desiredQuota is the tool's quota, with persistentvolumeclaims raised by
// the platform's own claims so that the tool keeps all of its allowance.
func (r *Reconciler) desiredQuota(tool string) corev1.ResourceList {
	hard := r.quotas.For(tool).Quota
	if pvcs, ok := hard[corev1.ResourcePersistentVolumeClaims]; ok {
		raised := pvcs.DeepCopy()
		raised.Add(*resource.NewQuantity(int64(len(r.platformClaims(accountsource.Tool{Name: tool}))), resource.DecimalSI))
		hard[corev1.ResourcePersistentVolumeClaims] = raised
	}
	return hard
}

func (r *Reconciler) ensureQuota(ctx context.Context, tool string) (outcome, error) {
	want := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: quotaName(tool), Namespace: tenancy.Namespace(tool), Labels: toolLabels(tool)},
		Spec:       corev1.ResourceQuotaSpec{Hard: r.desiredQuota(tool)},
	}
	return ensureObject(ctx, r, want, func(cur *corev1.ResourceQuota) error { cur.Spec = want.Spec; return nil })
}

func (r *Reconciler) ensureLimitRange(ctx context.Context, tool string) (outcome, error) {
	lr := r.quotas.For(tool).LimitRange
	want := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: quotaName(tool), Namespace: tenancy.Namespace(tool), Labels: toolLabels(tool)},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        lr.Default,
			DefaultRequest: lr.DefaultRequest,
			Max:            lr.Max,
			Min:            lr.Min,
		}}},
	}
	return ensureObject(ctx, r, want, func(cur *corev1.LimitRange) error { cur.Spec = want.Spec; return nil })
}
