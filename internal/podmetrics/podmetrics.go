// Package podmetrics reads what pods use from the cluster's metrics API
// (metrics.k8s.io, served by metrics-server), for the CLI and the API
// alike: `webservice status` and `jobs show` say what a workload uses
// against its limits.
package podmetrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
)

// Usage is what a set of pods uses, summed over their containers.
type Usage struct {
	CPU    resource.Quantity
	Memory resource.Quantity
	// Pods is how many of the pods the metrics API reported.
	Pods int
}

type podMetricsList struct {
	Items []struct {
		Containers []struct {
			Usage map[string]resource.Quantity `json:"usage"`
		} `json:"containers"`
	} `json:"items"`
}

// Read sums the use of the pods of namespace ns matching selector (a label
// selector). ok is false when the cluster serves no metrics API, or has
// not measured any of those pods yet (a new pod is measured after about
// one scrape interval).
func Read(ctx context.Context, c rest.Interface, ns, selector string) (Usage, bool, error) {
	path := "/apis/metrics.k8s.io/v1beta1/namespaces/" + url.PathEscape(ns) + "/pods"
	// JSON whatever the client prefers: a client made for protobuf (the
	// API server's caches) would get protobuf from the metrics API too.
	raw, err := c.Get().AbsPath(path).Param("labelSelector", selector).SetHeader("Accept", "application/json").DoRaw(ctx)
	switch {
	case apierrors.IsNotFound(err), apierrors.IsServiceUnavailable(err):
		return Usage{}, false, nil
	case err != nil:
		return Usage{}, false, fmt.Errorf("read pod metrics: %w", err)
	}
	var list podMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return Usage{}, false, fmt.Errorf("parse pod metrics: %w", err)
	}
	var u Usage
	for _, it := range list.Items {
		for _, c := range it.Containers {
			if q, ok := c.Usage["cpu"]; ok {
				u.CPU.Add(q)
			}
			if q, ok := c.Usage["memory"]; ok {
				u.Memory.Add(q)
			}
		}
		u.Pods++
	}
	return u, u.Pods > 0, nil
}

// Describe says what is used against the limits (per pod limits times
// pods), e.g. "cpu 12m of 500m, memory 40Mi of 512Mi"; a limit that is
// zero is left out.
func Describe(u Usage, cpuLimit, memLimit resource.Quantity) string {
	cpu := fmt.Sprintf("cpu %dm", u.CPU.MilliValue())
	if !cpuLimit.IsZero() {
		cpu += fmt.Sprintf(" of %dm", cpuLimit.MilliValue()*int64(max(u.Pods, 1)))
	}
	mem := "memory " + mebibytes(u.Memory)
	if !memLimit.IsZero() {
		total := memLimit.DeepCopy()
		for range max(u.Pods, 1) - 1 {
			total.Add(memLimit)
		}
		mem += " of " + mebibytes(total)
	}
	return cpu + ", " + mem
}

func mebibytes(q resource.Quantity) string {
	return fmt.Sprintf("%dMi", (q.Value()+(1<<19))>>20)
}
