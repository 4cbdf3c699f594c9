package quota

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func writeQuotas(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "quotas.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func qty(s string) resource.Quantity { return resource.MustParse(s) }

func TestQuotasFile(t *testing.T) {
	q, err := LoadQuotas(writeQuotas(t, `
defaults:
  quota: {pods: "6"}
tools:
  big:
    quota: {requests.cpu: "4", limits.cpu: "4"}
    limitRange: {max: {memory: 8Gi}}
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		tool string
		res  corev1.ResourceName
		list func(Limits) corev1.ResourceList
		want string
	}{
		{"a default from the file applies to every tool", "small", "pods", func(l Limits) corev1.ResourceList { return l.Quota }, "6"},
		{"a built-in default stays where the file says nothing", "small", "requests.memory", func(l Limits) corev1.ResourceList { return l.Quota }, "6Gi"},
		{"a per-tool quota overrides the default", "big", "requests.cpu", func(l Limits) corev1.ResourceList { return l.Quota }, "4"},
		{"a per-tool override keeps the other defaults", "big", "pods", func(l Limits) corev1.ResourceList { return l.Quota }, "6"},
		{"a per-tool limit range max overrides the default", "big", "memory", func(l Limits) corev1.ResourceList { return l.LimitRange.Max }, "8Gi"},
		{"other tools keep the default limit range", "small", "memory", func(l Limits) corev1.ResourceList { return l.LimitRange.Max }, "4Gi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.list(q.For(tc.tool))[tc.res]
			if got.Cmp(qty(tc.want)) != 0 {
				t.Fatalf("%s of %s = %s, want %s", tc.res, tc.tool, got.String(), tc.want)
			}
		})
	}
}

func TestForReturnsACopyCallersMayChange(t *testing.T) {
	q := DefaultQuotas()
	l := q.For("a")
	l.Quota["pods"] = qty("99")
	if got := q.For("b").Quota["pods"]; got.Cmp(qty("4")) != 0 {
		t.Fatalf("changing one tool's limits changed the defaults: pods = %s", got.String())
	}
}

func TestQuotasFileErrorsNameTheField(t *testing.T) {
	cases := []struct{ name, content, want string }{
		{"an unknown quota key", "tools: {a: {quota: {podz: '1'}}}", `tools.a.quota: unknown quota key "podz" (allowed: configmaps, cpu,`},
		{"an unknown limit range resource", "defaults: {limitRange: {max: {gpu: '1'}}}", `defaults.limitRange.max: unknown resource "gpu"`},
		{"a quantity that does not parse", "defaults: {quota: {pods: 'lots'}}", "quantities must match"},
		{"an unknown top-level field", "tool: {}", `unknown field "tool"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadQuotas(writeQuotas(t, tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDefaultsAreTheSpecs(t *testing.T) {
	q := DefaultQuota()
	want := map[string]string{
		"requests.cpu": "2", "requests.memory": "6Gi", "limits.cpu": "2", "limits.memory": "8Gi", "pods": "4",
		"services": "1", "services.nodeports": "0", "replicationcontrollers": "1", "secrets": "10", "configmaps": "10",
		"persistentvolumeclaims": "3", "count/cronjobs.batch": "50", "count/jobs.batch": "15", "count/deployments.apps": "3",
	}
	if len(q) != len(want) {
		t.Fatalf("%d quota keys, want %d", len(q), len(want))
	}
	for k, v := range want {
		if got := q[corev1.ResourceName(k)]; got.Cmp(qty(v)) != 0 {
			t.Errorf("%s = %s, want %s", k, got.String(), v)
		}
	}
	lr := DefaultLimitRange()
	for _, c := range []struct {
		list     corev1.ResourceList
		cpu, mem string
	}{{lr.Default, "500m", "512Mi"}, {lr.DefaultRequest, "150m", "256Mi"}, {lr.Max, "1", "4Gi"}, {lr.Min, "50m", "100Mi"}} {
		if c.list.Cpu().Cmp(qty(c.cpu)) != 0 || c.list.Memory().Cmp(qty(c.mem)) != 0 {
			t.Errorf("limit range entry %v, want %s / %s", c.list, c.cpu, c.mem)
		}
	}
}
