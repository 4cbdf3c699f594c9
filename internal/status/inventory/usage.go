package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
)

// nodeMetricsPath is the metrics API's list of node usage (metrics-server
// or any other provider of metrics.k8s.io).
const nodeMetricsPath = "/apis/metrics.k8s.io/v1beta1/nodes"

// Usage is the cluster's CPU (cores) and memory (bytes) in use, summed
// over the nodes the metrics API reports.
type Usage struct {
	CPU, Memory float64
	At          time.Time
}

type nodeMetricsList struct {
	Items []struct {
		Usage map[string]resource.Quantity `json:"usage"`
	} `json:"items"`
}

// readUsage asks the metrics API once. ok is false when the cluster has
// none (the group is not served).
func readUsage(ctx context.Context, c rest.Interface) (u Usage, ok bool, err error) {
	raw, err := c.Get().AbsPath(nodeMetricsPath).DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return Usage{}, false, nil
	}
	if err != nil {
		return Usage{}, false, fmt.Errorf("read node metrics: %w", err)
	}
	var list nodeMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return Usage{}, false, fmt.Errorf("parse node metrics: %w", err)
	}
	for _, it := range list.Items {
		cpu, mem := it.Usage["cpu"], it.Usage["memory"]
		u.CPU += cpu.AsApproximateFloat64()
		u.Memory += mem.AsApproximateFloat64()
	}
	u.At = time.Now().UTC()
	return u, true, nil
}

// refreshUsage polls the metrics API: every 30 s while it answers, every
// 5 minutes while the cluster has none.
func (inv *Inventory) refreshUsage(ctx context.Context) {
	for {
		wait := 30 * time.Second
		u, ok, err := readUsage(ctx, inv.metrics)
		switch {
		case err != nil:
			inv.log.Warn("read node usage from the metrics API", "err", err)
		case ok:
			inv.usage.Store(&u)
		default:
			inv.usage.Store(nil)
			wait = 5 * time.Minute
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Usage is the last usage read; ok is false without a metrics API.
func (inv *Inventory) Usage() (cpu, memory float64, ok bool) {
	u := inv.usage.Load()
	if u == nil {
		return 0, 0, false
	}
	return u.CPU, u.Memory, true
}
