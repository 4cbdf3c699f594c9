package server

import (
	"fmt"
	"github.com/toolforge-go/toolforge/internal/jobs"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Limits are what a tool may use, from its LimitRange and ResourceQuota.
// Nil members mean the tool has none (nothing to check against).
type Limits struct {
	LimitRange *corev1.LimitRange
	Quota      *corev1.ResourceQuota
}

// containerLimits is the LimitRange's Container item.
func (l Limits) containerLimits() *corev1.LimitRangeItem {
	if l.LimitRange == nil {
		return nil
	}
	for i := range l.LimitRange.Spec.Limits {
		if l.LimitRange.Spec.Limits[i].Type == corev1.LimitTypeContainer {
			return &l.LimitRange.Spec.Limits[i]
		}
	}
	return nil
}

// Resources are the container's requests and limits for a job: the limit
// asked for and half of it requested (jobs rarely use their peak all the
// time), never below the LimitRange's minimum. Unset ones are left to the
// LimitRange's defaults.
func resources(j *jobs.Job, l Limits) corev1.ResourceRequirements {
	var rr corev1.ResourceRequirements
	item := l.containerLimits()
	for name, s := range map[corev1.ResourceName]string{corev1.ResourceMemory: j.Memory, corev1.ResourceCPU: j.CPU} {
		if s == "" {
			continue
		}
		limit, err := resource.ParseQuantity(s)
		if err != nil {
			continue // Validate refused it already
		}
		req := halve(name, limit)
		if item != nil {
			if lo, ok := item.Min[name]; ok && req.Cmp(lo) < 0 {
				req = lo.DeepCopy()
			}
		}
		if req.Cmp(limit) > 0 {
			req = limit.DeepCopy()
		}
		if rr.Limits == nil {
			rr.Limits, rr.Requests = corev1.ResourceList{}, corev1.ResourceList{}
		}
		rr.Limits[name], rr.Requests[name] = limit, req
	}
	return rr
}

func halve(name corev1.ResourceName, q resource.Quantity) resource.Quantity {
	if name == corev1.ResourceCPU {
		return *resource.NewMilliQuantity(q.MilliValue()/2, resource.DecimalSI)
	}
	return *resource.NewQuantity(q.Value()/2, resource.BinarySI)
}

// CheckLimits refuses a job the tool's limits can never run: a container
// bigger than the LimitRange allows, or more than the whole quota. It
// returns warnings for what the quota does not allow right now (other jobs
// use it) but may later.
func checkLimits(j *jobs.Job, l Limits) (warnings []string, err error) {
	rr := resources(j, l)
	item := l.containerLimits()
	flags := map[corev1.ResourceName]string{corev1.ResourceMemory: "--mem", corev1.ResourceCPU: "--cpu"}
	effective := corev1.ResourceList{}
	for name, flag := range flags {
		limit, asked := rr.Limits[name]
		if item != nil {
			if hi, ok := item.Max[name]; ok && asked && limit.Cmp(hi) > 0 {
				return nil, fmt.Errorf("%s %s is over the tool's limit of %s per job (see `toolforge jobs quota`)", flag, limit.String(), hi.String())
			}
			if lo, ok := item.Min[name]; ok && asked && limit.Cmp(lo) < 0 {
				return nil, fmt.Errorf("%s %s is below the minimum of %s per job", flag, limit.String(), lo.String())
			}
			if !asked {
				limit, asked = item.Default[name]
			}
		}
		if asked {
			effective[name] = limit
		}
	}
	if l.Quota == nil {
		return nil, nil
	}
	pods := int64(1)
	if j.Continuous {
		pods = int64(j.Replicas)
	}
	hard, used := l.Quota.Status.Hard, l.Quota.Status.Used
	if len(hard) == 0 {
		hard = l.Quota.Spec.Hard
	}
	if max, ok := hard[corev1.ResourcePods]; ok && pods > max.Value() {
		return nil, fmt.Errorf("--replicas %d is over the tool's quota of %d pods", pods, max.Value())
	}
	quotaKeys := map[corev1.ResourceName]corev1.ResourceName{corev1.ResourceMemory: corev1.ResourceLimitsMemory, corev1.ResourceCPU: corev1.ResourceLimitsCPU}
	for name, key := range quotaKeys {
		per, ok := effective[name]
		max, limited := hard[key]
		if !ok || !limited {
			continue
		}
		total := per.DeepCopy()
		for i := int64(1); i < pods; i++ {
			total.Add(per)
		}
		if total.Cmp(max) > 0 {
			what := flags[name] + " " + per.String()
			if pods > 1 {
				what = fmt.Sprintf("%s × %d replicas", what, pods)
			}
			return nil, fmt.Errorf("%s needs %s, more than the tool's quota of %s in total", what, total.String(), max.String())
		}
		inUse := used[key]
		inUse.Add(total)
		if inUse.Cmp(max) > 0 {
			warnings = append(warnings, fmt.Sprintf("the tool's %s quota (%s) is mostly in use by other jobs: this job may wait until they finish", key, max.String()))
		}
	}
	return warnings, nil
}

// CheckCounts refuses a job whose objects the quota has no room for, so
// that nothing is created half-way. (The API server's quota admission is
// authoritative; this gives the clear message first.)
func checkCounts(j *jobs.Job, l Limits) error {
	if l.Quota == nil {
		return nil
	}
	check := func(key corev1.ResourceName, what string) error {
		max, ok := l.Quota.Status.Hard[key]
		if !ok {
			return nil
		}
		used := l.Quota.Status.Used[key]
		if used.Cmp(max) >= 0 {
			return fmt.Errorf("the tool's quota allows %s %s and all are in use (see `toolforge jobs quota`)", max.String(), what)
		}
		return nil
	}
	switch j.Kind() {
	case jobs.Scheduled:
		return check("count/cronjobs.batch", "scheduled jobs")
	case jobs.Continuous:
		if err := check("count/deployments.apps", "continuous jobs (including web services)"); err != nil {
			return err
		}
		if j.Port != 0 {
			if err := check(corev1.ResourceServices, "services"); err != nil {
				return fmt.Errorf("--port needs a Service: %w", err)
			}
		}
		return nil
	}
	return check("count/jobs.batch", "one-off jobs")
}
