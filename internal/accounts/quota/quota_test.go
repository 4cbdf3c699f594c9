package quota

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/toolquota"
)

func quotaReconciler(objs ...client.Object) (*Reconciler, client.Client) {
	c := fake.NewClientBuilder().WithObjects(objs...).Build()
	return &Reconciler{W: account.Writer{Client: c, APIReader: c}, Quotas: DefaultQuotas(), PlatformClaims: 2}, c
}

func namespaceWith(annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tool-alpha", Annotations: annotations}}
}

func hard(t *testing.T, c client.Client) corev1.ResourceList {
	t.Helper()
	var q corev1.ResourceQuota
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "tool-alpha", Name: "tool-alpha"}, &q); err != nil {
		t.Fatal(err)
	}
	return q.Spec.Hard
}

func TestThePlatformsClaimsDoNotCountAgainstTheToolsAllowance(t *testing.T) {
	r, c := quotaReconciler(namespaceWith(nil))
	if _, err := r.EnsureQuota(context.Background(), "alpha"); err != nil {
		t.Fatal(err)
	}
	if got := hard(t, c)[corev1.ResourcePersistentVolumeClaims]; got.Value() != 3+2 {
		t.Fatalf("persistentvolumeclaims = %s, want the 3 of the defaults + the 2 platform claims", got.String())
	}
}

func TestTheAdminsOverridesApplyAndAreRecorded(t *testing.T) {
	overrides := corev1.ResourceList{corev1.ResourcePods: qty("9")}
	r, c := quotaReconciler(namespaceWith(map[string]string{tenancy.AnnotationQuota: toolquota.Encode(overrides)}))
	if res, err := r.EnsureQuota(context.Background(), "alpha"); err != nil || res != ensure.Created {
		t.Fatalf("%v %v", res, err)
	}
	if pods := hard(t, c)[corev1.ResourcePods]; pods.Value() != 9 {
		t.Fatalf("pods = %s", pods.String())
	}
	var q corev1.ResourceQuota
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "tool-alpha", Name: "tool-alpha"}, &q); err != nil {
		t.Fatal(err)
	}
	if q.Annotations[toolquota.AppliedAnnotation] != toolquota.Encode(overrides) {
		t.Fatalf("applied annotation %q", q.Annotations[toolquota.AppliedAnnotation])
	}
}

func TestABrokenOverrideLeavesTheQuotaAsItIs(t *testing.T) {
	r, _ := quotaReconciler(namespaceWith(map[string]string{tenancy.AnnotationQuota: "{pods: lots"}))
	_, err := r.EnsureQuota(context.Background(), "alpha")
	if err == nil || !strings.Contains(err.Error(), "the quota is left as it is until it is fixed") {
		t.Fatalf("err = %v", err)
	}
}

func TestAHandEditedLimitRangeIsReverted(t *testing.T) {
	r, c := quotaReconciler()
	ctx := context.Background()
	if _, err := r.EnsureLimitRange(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	var lr corev1.LimitRange
	key := client.ObjectKey{Namespace: "tool-alpha", Name: "tool-alpha"}
	if err := c.Get(ctx, key, &lr); err != nil {
		t.Fatal(err)
	}
	lr.Spec.Limits = nil
	if err := c.Update(ctx, &lr); err != nil {
		t.Fatal(err)
	}
	if res, err := r.EnsureLimitRange(ctx, "alpha"); err != nil || res != ensure.Updated {
		t.Fatalf("%v %v", res, err)
	}
	if err := c.Get(ctx, key, &lr); err != nil || len(lr.Spec.Limits) != 1 || lr.Spec.Limits[0].Max.Memory().String() != "4Gi" {
		t.Fatalf("limit range %+v, %v", lr.Spec, err)
	}
}
