package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var (
	webserviceCycles = flag.Int("webservice-cycles", 5, "start/status/restart/stop cycles of one tool")
	webserviceTools  = flag.Int("webservice-tools", 20, "tools starting their web services at once")
)

// Targets: a maintainer waits for these commands at a prompt.
const (
	webserviceStartTarget  = 5 * time.Second // start returns with the pod ready
	webserviceStatusTarget = 500 * time.Millisecond
	webserviceManyTarget   = 30 * time.Second // every tool's start, at once
)

// benchWebservice runs the real `webservice` command as provisioned tools
// against a devcluster: one tool's start (which returns once its pod is
// ready), status, restart (a rolled pod) and stop (which returns once the
// pod is gone), cycle after cycle; then many tools starting at once.
func benchWebservice(ctx context.Context, r *report) error {
	bin, err := testcluster.BuildBinary("webservice")
	if err != nil {
		return err
	}
	c, err := testcluster.Start(ctx, testcluster.Options{Nodes: 3})
	if err != nil {
		return err
	}
	defer cleanup("stop devcluster", c.Stop)
	names := []string{"wsbench"}
	for i := range *webserviceTools {
		names = append(names, fmt.Sprintf("wsmany%03d", i))
	}
	tools, err := c.ProvisionTools(ctx, names...)
	if err != nil {
		return err
	}
	run := func(tool *testcluster.Tool, args ...string) (time.Duration, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = tool.Env()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		if err != nil {
			return 0, fmt.Errorf("%s %v: %w\n%s", tool.Name, args, err, out.String())
		}
		return time.Since(t0), nil
	}

	steps := [][]string{{"python3.11", "start"}, {"status"}, {"restart"}, {"stop"}}
	took := make([]latencies, len(steps))
	for range *webserviceCycles {
		for i, args := range steps {
			d, err := run(tools["wsbench"], args...)
			if err != nil {
				return err
			}
			took[i] = append(took[i], d)
		}
	}
	p50 := func(i int) time.Duration { return took[i].percentile(50) }
	r.check(fmt.Sprintf("start, pod ready (p50 of %d)", *webserviceCycles), ms(p50(0)), "≤ "+secs(webserviceStartTarget), p50(0) <= webserviceStartTarget)
	r.check(fmt.Sprintf("status (p50 of %d)", *webserviceCycles), ms(p50(1)), "≤ "+ms(webserviceStatusTarget), p50(1) <= webserviceStatusTarget)
	r.add(fmt.Sprintf("restart, new pod ready (p50 of %d)", *webserviceCycles), "%s", ms(p50(2)))
	r.add(fmt.Sprintf("stop, pod gone (p50 of %d)", *webserviceCycles), "%s", ms(p50(3)))

	var wg sync.WaitGroup
	errs := make(chan error, *webserviceTools)
	t0 := time.Now()
	for _, n := range names[1:] {
		wg.Go(func() {
			if _, err := run(tools[n], "php8.2", "start"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	many := time.Since(t0)
	close(errs)
	for err := range errs {
		return err
	}
	r.check(fmt.Sprintf("%d tools start at once, all pods ready", *webserviceTools), secs(many), "≤ "+secs(webserviceManyTarget), many <= webserviceManyTarget)
	r.note("devcluster with kwok nodes and no admission webhooks; `webservice` processes run with the tools' own certificates")
	return nil
}
