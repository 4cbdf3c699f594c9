package webservice

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Limits are the bounds the tool's namespace puts on its containers
// (LimitRanges) and on all its workloads together (ResourceQuotas). The
// API server enforces them on pods only, which a Deployment creates later
// and out of sight; checking them first turns a web service that silently
// never starts into an error before anything is created.
type Limits struct {
	LimitRanges []corev1.LimitRange
	Quotas      []corev1.ResourceQuota
}

// ReadLimits reads the namespace's LimitRanges and ResourceQuotas (tools
// may read, not change, them). A tool not allowed to list them gets no
// early check; the API server still enforces them.
func ReadLimits(ctx context.Context, kube kubernetes.Interface, namespace string) (Limits, error) {
	var l Limits
	lrs, err := kube.CoreV1().LimitRanges(namespace).List(ctx, metav1.ListOptions{})
	switch {
	case err == nil:
		l.LimitRanges = lrs.Items
	case !apierrors.IsForbidden(err):
		return Limits{}, fmt.Errorf("read limit ranges of %s: %w", namespace, err)
	}
	quotas, err := kube.CoreV1().ResourceQuotas(namespace).List(ctx, metav1.ListOptions{})
	switch {
	case err == nil:
		l.Quotas = quotas.Items
	case !apierrors.IsForbidden(err):
		return Limits{}, fmt.Errorf("read resource quotas of %s: %w", namespace, err)
	}
	return l, nil
}

// Check says why s cannot run within the limits, naming the setting, where
// it came from and what is allowed; nil when it can.
func (l Limits) Check(s Settings) error {
	req := l.Resources(s)
	for _, lr := range l.LimitRanges {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer && item.Type != corev1.LimitTypePod {
				continue
			}
			for _, f := range []struct {
				field string
				name  corev1.ResourceName
				limit resource.Quantity
			}{{fieldCPU, corev1.ResourceCPU, s.CPU}, {fieldMem, corev1.ResourceMemory, s.Mem}} {
				if max, ok := item.Max[f.name]; ok && f.limit.Cmp(max) > 0 {
					return fmt.Errorf("%s is more than the maximum %s allowed for a %s (LimitRange %s); ask for at most %s",
						s.Describe(f.field), max.String(), lowerKind(item.Type), lr.Name, max.String())
				}
				if min, ok := item.Min[f.name]; ok && f.limit.Cmp(min) < 0 {
					return fmt.Errorf("%s is less than the minimum %s allowed for a %s (LimitRange %s); ask for at least %s",
						s.Describe(f.field), min.String(), lowerKind(item.Type), lr.Name, min.String())
				}
			}
		}
	}
	n := int64(s.Replicas)
	for _, q := range l.Quotas {
		if hard, ok := q.Spec.Hard[corev1.ResourcePods]; ok && hard.Value() < n {
			return fmt.Errorf("%s is more than the %s pods the tool's quota allows in all (ResourceQuota %s)",
				s.Describe(fieldReplicas), hard.String(), q.Name)
		}
		for _, f := range []struct {
			name  corev1.ResourceName
			per   resource.Quantity
			field string
			what  string
		}{
			{corev1.ResourceLimitsCPU, s.CPU, fieldCPU, "CPU (limits)"},
			{corev1.ResourceLimitsMemory, s.Mem, fieldMem, "memory (limits)"},
			{corev1.ResourceRequestsCPU, req.Requests[corev1.ResourceCPU], fieldCPU, "CPU (requests, half the limit)"},
			{corev1.ResourceRequestsMemory, req.Requests[corev1.ResourceMemory], fieldMem, "memory (requests, half the limit)"},
			{corev1.ResourceCPU, req.Requests[corev1.ResourceCPU], fieldCPU, "CPU (requests, half the limit)"},
			{corev1.ResourceMemory, req.Requests[corev1.ResourceMemory], fieldMem, "memory (requests, half the limit)"},
		} {
			need := times(f.per, n)
			if hard, ok := q.Spec.Hard[f.name]; ok && need.Cmp(hard) > 0 {
				return fmt.Errorf("%d replica(s) with %s need %s of %s in all; the tool's quota allows %s (%s in ResourceQuota %s)",
					n, s.Describe(f.field), need.String(), f.what, hard.String(), f.name, q.Name)
			}
		}
	}
	return nil
}

// Resources are a web service container's limits (the settings) and
// requests: half the limits, as the scheduler should plan for a web
// service's usual rather than its peak use, but within the LimitRanges'
// minimum and maximum limit/request ratio.
func (l Limits) Resources(s Settings) corev1.ResourceRequirements {
	cpuReq := resource.NewMilliQuantity((s.CPU.MilliValue()+1)/2, resource.DecimalSI)
	memReq := resource.NewQuantity((s.Mem.Value()+1)/2, resource.BinarySI)
	for _, lr := range l.LimitRanges {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			raise(cpuReq, item.Min[corev1.ResourceCPU], s.CPU)
			raise(memReq, item.Min[corev1.ResourceMemory], s.Mem)
			if r, ok := item.MaxLimitRequestRatio[corev1.ResourceCPU]; ok && r.MilliValue() > 0 {
				raise(cpuReq, *resource.NewMilliQuantity(s.CPU.MilliValue()*1000/r.MilliValue(), resource.DecimalSI), s.CPU)
			}
			if r, ok := item.MaxLimitRequestRatio[corev1.ResourceMemory]; ok && r.MilliValue() > 0 {
				raise(memReq, *resource.NewQuantity(s.Mem.Value()*1000/r.MilliValue(), resource.BinarySI), s.Mem)
			}
		}
	}
	return corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: s.CPU, corev1.ResourceMemory: s.Mem},
		Requests: corev1.ResourceList{corev1.ResourceCPU: *cpuReq, corev1.ResourceMemory: *memReq},
	}
}

// raise lifts q to at least floor, but never above limit.
func raise(q *resource.Quantity, floor, limit resource.Quantity) {
	if floor.IsZero() {
		return
	}
	if q.Cmp(floor) < 0 {
		*q = floor.DeepCopy()
	}
	if q.Cmp(limit) > 0 {
		*q = limit.DeepCopy()
	}
}

func times(q resource.Quantity, n int64) resource.Quantity {
	out := q.DeepCopy()
	for i := int64(1); i < n; i++ {
		out.Add(q)
	}
	return out
}

func lowerKind(t corev1.LimitType) string {
	if t == corev1.LimitTypePod {
		return "pod"
	}
	return "container"
}
