package migration

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// Quota keys a migration adds to (the platform's default ResourceQuota
// names them; SPEC §4).
const (
	countDeployments corev1.ResourceName = "count/deployments.apps"
	countCronJobs    corev1.ResourceName = "count/cronjobs.batch"
)

// demand is what the workloads moving to a cluster ask of the tool's
// namespace there, all together. Each workload alone may fit the new
// cluster's limits while together they do not fit its quota (seed 002:
// the users' main pain was a web service that no longer fit the new
// cluster's stricter quota); checking the sum first means a migration is
// refused before anything stops, rather than leaving pods that never
// start.
type demand struct {
	asks []ask
}

// ask is one workload's share.
type ask struct {
	what string
	res  corev1.ResourceList
}

func (d *demand) add(what string, res corev1.ResourceList) {
	d.asks = append(d.asks, ask{what: what, res: res})
}

// times multiplies every quantity of res by n.
func times(res corev1.ResourceList, n int64) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, q := range res {
		t := q.DeepCopy()
		for i := int64(1); i < n; i++ {
			t.Add(q)
		}
		out[k] = t
	}
	return out
}

// addWeb is a web service's share: its pods' limits and requests, its
// Deployment and Service.
func (d *demand) addWeb(fp webservice.Footprint) {
	n := int64(fp.Replicas)
	res := corev1.ResourceList{
		corev1.ResourcePods:     *resource.NewQuantity(n, resource.DecimalSI),
		countDeployments:        resource.MustParse("1"),
		corev1.ResourceServices: resource.MustParse("1"),
	}
	per := corev1.ResourceList{}
	for name, q := range fp.Resources.Limits {
		per["limits."+name] = q
	}
	for name, q := range fp.Resources.Requests {
		per["requests."+name] = q
		per[name] = q // the quota's bare cpu and memory are requests
	}
	for k, q := range times(per, n) {
		res[k] = q
	}
	what := "the webservice"
	if n > 1 {
		what = fmt.Sprintf("the webservice (%d replicas)", n)
	}
	d.add(what, res)
}

// addJob is a job's share: a scheduled job its CronJob (its runs come and
// go), a continuous job its pods, Deployment and Service. Resources not
// asked for are the limit range's defaults, as LimitRanger will set them.
func (d *demand) addJob(j *jobs.Job, lrs []corev1.LimitRange) {
	what := fmt.Sprintf("job '%s'", j.Name)
	switch j.Kind() {
	case jobs.Scheduled:
		d.add(what, corev1.ResourceList{countCronJobs: resource.MustParse("1")})
	case jobs.Continuous:
		n := int64(max(j.Replicas, 1))
		res := corev1.ResourceList{
			corev1.ResourcePods: *resource.NewQuantity(n, resource.DecimalSI),
			countDeployments:    resource.MustParse("1"),
		}
		if j.Port != 0 {
			res[corev1.ResourceServices] = resource.MustParse("1")
		}
		per := corev1.ResourceList{}
		for name, asked := range map[corev1.ResourceName]string{corev1.ResourceCPU: j.CPU, corev1.ResourceMemory: j.Memory} {
			limit, request, ok := jobResource(name, asked, lrs)
			if !ok {
				continue
			}
			per["limits."+name] = limit
			per["requests."+name] = request
			per[name] = request
		}
		for k, q := range times(per, n) {
			res[k] = q
		}
		if n > 1 {
			what = fmt.Sprintf("job '%s' (%d replicas)", j.Name, n)
		}
		d.add(what, res)
	}
}

// jobResource is a job container's limit and request of one resource, as
// the jobs API makes them: the limit asked for and half of it requested,
// not below the limit range's minimum; without one, the limit range's
// defaults.
func jobResource(name corev1.ResourceName, asked string, lrs []corev1.LimitRange) (limit, request resource.Quantity, ok bool) {
	var item *corev1.LimitRangeItem
	for i := range lrs {
		for k := range lrs[i].Spec.Limits {
			if lrs[i].Spec.Limits[k].Type == corev1.LimitTypeContainer {
				item = &lrs[i].Spec.Limits[k]
			}
		}
	}
	if asked == "" {
		if item == nil {
			return limit, request, false
		}
		limit, ok = item.Default[name]
		request, okReq := item.DefaultRequest[name]
		if !okReq {
			request = limit
		}
		return limit, request, ok
	}
	limit, err := resource.ParseQuantity(asked)
	if err != nil {
		return limit, request, false // the API refuses it, with its message
	}
	if name == corev1.ResourceCPU {
		request = *resource.NewMilliQuantity(limit.MilliValue()/2, resource.DecimalSI)
	} else {
		request = *resource.NewQuantity(limit.Value()/2, resource.BinarySI)
	}
	if item != nil {
		if lo, has := item.Min[name]; has && request.Cmp(lo) < 0 {
			request = lo.DeepCopy()
		}
	}
	if request.Cmp(limit) > 0 {
		request = limit.DeepCopy()
	}
	return limit, request, true
}

// check says why the demand does not fit the quotas' room (hard minus
// used), naming each key, what asks for it and the maximum; nil when it
// fits.
func (d *demand) check(quotas []corev1.ResourceQuota, cluster string) error {
	var problems []string
	for _, q := range quotas {
		hard := q.Status.Hard
		if len(hard) == 0 {
			hard = q.Spec.Hard
		}
		keys := make([]string, 0, len(hard))
		for k := range hard {
			keys = append(keys, string(k))
		}
		sort.Strings(keys)
		for _, key := range keys {
			name := corev1.ResourceName(key)
			var total resource.Quantity
			var parts []string
			for _, a := range d.asks {
				if v, ok := a.res[name]; ok && !v.IsZero() {
					total.Add(v)
					parts = append(parts, fmt.Sprintf("%s %s", a.what, v.String()))
				}
			}
			if len(parts) == 0 {
				continue
			}
			max := hard[name]
			used := q.Status.Used[name]
			room := max.DeepCopy()
			room.Sub(used)
			if total.Cmp(room) <= 0 {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: %s ask for %s in all, but the quota allows %s and %s of it is in use (ResourceQuota %s)",
				key, strings.Join(parts, " + "), total.String(), max.String(), used.String(), q.Name))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("the tool's quota on %s has no room for what would move there:\n  %s\nstop something there, ask for less (e.g. --mem), or ask an admin for a larger quota",
		cluster, strings.Join(problems, "\n  "))
}

// limits reads the namespace's LimitRanges and ResourceQuotas; a caller
// not allowed to list them gets none (the API server still enforces them).
func limits(ctx context.Context, kube kubernetes.Interface, ns string) ([]corev1.LimitRange, []corev1.ResourceQuota, error) {
	lrs, err := kube.CoreV1().LimitRanges(ns).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsForbidden(err) {
		return nil, nil, fmt.Errorf("read limit ranges of %s: %w", ns, err)
	}
	qs, err2 := kube.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
	if err2 != nil && !apierrors.IsForbidden(err2) {
		return nil, nil, fmt.Errorf("read resource quotas of %s: %w", ns, err2)
	}
	var l []corev1.LimitRange
	var q []corev1.ResourceQuota
	if err == nil {
		l = lrs.Items
	}
	if err2 == nil {
		q = qs.Items
	}
	return l, q, nil
}
