package admincli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/toolforge-go/toolforge/internal/testcluster"
	"github.com/toolforge-go/toolforge/internal/toolquota"
)

func (f *fixture) hardQuota(t *testing.T, key string) string {
	t.Helper()
	rq, err := cluster.Client.CoreV1().ResourceQuotas(f.alpha.Namespace).Get(context.Background(), "tool-alpha", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q := rq.Spec.Hard[corev1ResourceName(key)]
	return q.String()
}

// Quota overrides change the tool's ResourceQuota and survive the
// accounts controller's re-runs; bad keys and quantities are refused with
// what is allowed; the tool still cannot change its own quota.
func TestQuotaOverridesAreKeptAndOnlyAdminsSetThem(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	mark := auditMark(t)
	mustSucceed(t, f.admin(t, "quota", "set", "alpha", "pods=7", "limits.memory=12Gi"), "quota set")
	if got := f.hardQuota(t, "pods"); got != "7" {
		t.Errorf("pods quota %s, want 7", got)
	}
	if got := f.hardQuota(t, "limits.memory"); got != "12Gi" {
		t.Errorf("limits.memory quota %s, want 12Gi", got)
	}
	if evs := adminWrites(t, mark, func(e testcluster.AuditEvent) bool { return e.ObjectRef.Name == "tool-alpha" }); len(evs) != 1 {
		t.Errorf("alice's writes: %v, want one namespace patch", evs)
	}

	// A full pass of the accounts controller keeps them.
	if out, err := exec.CommandContext(ctx, toolforged, append(f.accountsArgs, "--once")...).CombinedOutput(); err != nil {
		t.Fatalf("accounts re-run: %v\n%s", err, out)
	}
	if got := f.hardQuota(t, "pods"); got != "7" {
		t.Errorf("pods quota after a re-run %s, want 7", got)
	}
	r := f.admin(t, "quota", "show", "alpha", "-o", "json")
	mustSucceed(t, r, "quota show")
	var st toolquota.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || !st.Applied || st.Overrides["pods"] != "7" {
		t.Errorf("quota show: %v %+v", err, st)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown key is refused with the allowed names", []string{"podz=3"}, `unknown quota key "podz" (allowed: configmaps, cpu,`},
		{"a bad quantity is refused", []string{"pods=lots"}, `"lots" is not a quantity`},
		{"a negative quantity is refused", []string{"pods=-1"}, "cannot be negative"},
		{"an argument that is not KEY=VALUE is refused", []string{"pods"}, `"pods" is not KEY=VALUE`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.admin(t, append([]string{"quota", "set", "alpha"}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("got %s\nwant exit 2 and %q", r, tc.want)
			}
		})
	}
	if got := f.hardQuota(t, "pods"); got != "7" {
		t.Errorf("pods quota after refused changes %s, want 7", got)
	}

	// The tool, with its own credentials: neither the quota nor its
	// namespace's overrides.
	patch := []byte(`{"spec":{"hard":{"pods":"100"}}}`)
	if _, err := f.alphaKube.CoreV1().ResourceQuotas(f.alpha.Namespace).Patch(ctx, "tool-alpha", types.MergePatchType, patch, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alpha patching its quota: %v, want forbidden", err)
	}
	annot := []byte(`{"metadata":{"annotations":{"toolforge.org/quota-overrides":"{\"pods\":\"100\"}"}}}`)
	if _, err := f.alphaKube.CoreV1().Namespaces().Patch(ctx, f.alpha.Namespace, types.MergePatchType, annot, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alpha annotating its namespace: %v, want forbidden", err)
	}

	mustSucceed(t, f.admin(t, "quota", "reset", "alpha", "limits.memory"), "quota reset limits.memory")
	if got := f.hardQuota(t, "limits.memory"); got != "8Gi" {
		t.Errorf("limits.memory after reset %s, want the default 8Gi", got)
	}
	mustSucceed(t, f.admin(t, "quota", "reset", "alpha"), "quota reset")
	testcluster.Eventually(t, time.Minute, func() error {
		if got := f.hardQuota(t, "pods"); got != "4" {
			return fmt.Errorf("pods after reset %s, want the default 4", got)
		}
		return nil
	})
}

func corev1ResourceName(k string) corev1.ResourceName { return corev1.ResourceName(k) }
