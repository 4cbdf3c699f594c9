package server

import (
	"context"
	"github.com/toolforge-go/toolforge/internal/jobs"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/toolforge-go/toolforge/internal/route"
)

// Quota reports the tool's quota and limit range.
func (s *Store) Quota(ctx context.Context, tool string) (*jobs.Quota, error) {
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
	item := func(name string, key corev1.ResourceName) jobs.QuotaItem {
		return jobs.QuotaItem{Name: name, Limit: qstr(hard, key), Used: qstr(used, key)}
	}
	return &jobs.Quota{Categories: []jobs.QuotaCategory{
		{Name: "Running jobs", Items: []jobs.QuotaItem{
			item("Total running jobs at once (Kubernetes pods)", corev1.ResourcePods),
			item("Running one-off and cron jobs", "count/jobs.batch"),
			item("CPU", corev1.ResourceLimitsCPU),
			item("Memory", corev1.ResourceLimitsMemory),
		}},
		{Name: "Per-job limits", Items: []jobs.QuotaItem{
			{Name: "CPU", Limit: qstr(lr.Max, corev1.ResourceCPU)},
			{Name: "Memory", Limit: qstr(lr.Max, corev1.ResourceMemory)},
		}},
		{Name: "Job definitions", Items: []jobs.QuotaItem{
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
