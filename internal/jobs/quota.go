package jobs

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/toolforge-go/toolforge/internal/api/route"
)

// Quota is what a tool may use and uses, grouped as the original shows it.
type Quota struct {
	Categories []QuotaCategory `json:"categories"`
}

// QuotaCategory is one group of quota items.
type QuotaCategory struct {
	Name  string      `json:"name"`
	Items []QuotaItem `json:"items"`
}

// QuotaItem is one limit; Used is empty for per-job limits.
type QuotaItem struct {
	Name  string `json:"name"`
	Limit string `json:"limit"`
	Used  string `json:"used,omitempty"`
}

// Quota reports the tool's quota and limit range.
func (s *Store) Quota(ctx context.Context, tool string) (*Quota, error) {
	t, err := s.target(ctx, tool)
	if err != nil {
		return nil, err
	}
	rq, lr := t.Limits.Quota, t.Limits.containerLimits()
	if rq == nil || lr == nil {
		return nil, route.Errorf(500, "the tool has no quota or limit range (is the tool provisioned?)")
	}
	hard, used := rq.Status.Hard, rq.Status.Used
	if len(hard) == 0 {
		hard = rq.Spec.Hard
	}
	item := func(name string, key corev1.ResourceName) QuotaItem {
		return QuotaItem{Name: name, Limit: qstr(hard, key), Used: qstr(used, key)}
	}
	return &Quota{Categories: []QuotaCategory{
		{Name: "Running jobs", Items: []QuotaItem{
			item("Total running jobs at once (Kubernetes pods)", corev1.ResourcePods),
			item("Running one-off and cron jobs", "count/jobs.batch"),
			item("CPU", corev1.ResourceLimitsCPU),
			item("Memory", corev1.ResourceLimitsMemory),
		}},
		{Name: "Per-job limits", Items: []QuotaItem{
			{Name: "CPU", Limit: qstr(lr.Max, corev1.ResourceCPU)},
			{Name: "Memory", Limit: qstr(lr.Max, corev1.ResourceMemory)},
		}},
		{Name: "Job definitions", Items: []QuotaItem{
			item("Cron jobs", "count/cronjobs.batch"),
			item("Continuous jobs (including web services)", "count/deployments.apps"),
			item("Services (for --port)", corev1.ResourceServices),
		}},
	}}, nil
}

func qstr(l corev1.ResourceList, key corev1.ResourceName) string {
	q, ok := l[key]
	if !ok {
		q = resource.Quantity{}
	}
	return q.String()
}
