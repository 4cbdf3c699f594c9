package workloads_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/status/wire"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// devcluster runs metrics-server: what a tool's pods use is measured, and
// the tool, its jobs, its web service and the status page say so.
func TestMetricsSayWhatAToolsPodsUse(t *testing.T) {
	p := setup(t)
	t.Parallel()
	const tool = "metered"
	p.ok(t, tool, "jobs", "run", "busy", "--image", "python3.11", "--no-filelog", "--continuous", "--command", "while true; do sleep 1; done")
	p.ok(t, tool, "webservice", "php8.2", "start")
	defer p.ok(t, tool, "webservice", "stop")
	// kubectl top pod, as the tool, in its own namespace.
	until(t, imageTimeout+2*time.Minute, func() error {
		out, err := testcluster.Kubectl(context.Background(), p.Tools[tool].Kubeconfig, "top", "pod", "--no-headers")
		if err != nil || !strings.Contains(out, "busy-") || !strings.Contains(out, tool+"-") {
			return fmt.Errorf("kubectl top pod: %q %v", out, err)
		}
		return nil
	})
	// jobs show and webservice status: use against the limits.
	until(t, time.Minute, func() error {
		if show := p.ok(t, tool, "jobs", "show", "busy").Stdout; !strings.Contains(show, "Usage:") || !strings.Contains(show, " of 500m, memory ") {
			return fmt.Errorf("jobs show:\n%s", show)
		}
		return nil
	})
	until(t, time.Minute, func() error {
		st := p.ok(t, tool, "webservice", "status").Stdout
		if !strings.HasPrefix(st, "webservice of type php8.2 is running\n") || !strings.Contains(st, "\nusing cpu ") || !strings.Contains(st, " of 500m, memory ") {
			return fmt.Errorf("webservice status:\n%s", st)
		}
		return nil
	})
	// The status page's "Used" of the cluster.
	until(t, time.Minute, func() error {
		var o wire.Overview
		req, _ := http.NewRequest(http.MethodGet, p.Status+"/", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
			return err
		}
		if o.CPU.Used == nil || *o.CPU.Used <= 0 || o.Memory.Used == nil || *o.Memory.Used <= 0 {
			return fmt.Errorf("overview use: cpu %v, memory %v", o.CPU.Used, o.Memory.Used)
		}
		return nil
	})
}
