package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

const (
	startRuns        = 5
	rawWriteObjects  = 3000
	rawWriteClients  = 32
	idleSettle       = 20 * time.Second
	startTarget      = 15 * time.Second
	idleRSSTargetKiB = 1 << 20
)

func benchDevcluster(ctx context.Context, r *report) error {
	bin, err := testcluster.Binary()
	if err != nil {
		return err
	}
	var starts, stops []time.Duration
	for i := 0; i < startRuns; i++ {
		start, stop, err := timeStartStop(ctx, bin)
		if err != nil {
			return err
		}
		starts, stops = append(starts, start), append(stops, stop)
	}
	med := latencies(starts).percentile(50)
	r.check(fmt.Sprintf("start to ready, 3 nodes, fresh dir (median of %d)", startRuns), secs(med), "≤ 15 s", med <= startTarget)
	r.add("  each run (s)", "%s", joinDurations(starts))
	r.add("stop, all processes gone (median)", "%s", secs(latencies(stops).percentile(50)))

	c, err := testcluster.Start(ctx, testcluster.Options{Nodes: 3})
	if err != nil {
		return err
	}
	defer cleanup("stop devcluster", c.Stop)
	time.Sleep(idleSettle)
	rss, pss, err := memoryOf(c)
	if err != nil {
		return err
	}
	r.check(fmt.Sprintf("idle RSS, all processes summed (%s after ready)", idleSettle), mib(rss), "≤ 1024 MiB", rss <= idleRSSTargetKiB)
	r.add("idle PSS (shared binary pages counted once)", "%s", mib(pss))

	w, err := rawWrites(ctx, c.Config, rawWriteObjects, rawWriteClients)
	if err != nil {
		return err
	}
	r.add(fmt.Sprintf("raw write limit: %d ConfigMap creates, %d clients", rawWriteObjects, rawWriteClients), "%.0f writes/s", w.rate)
	r.add("  create latency p50 / p99", "%s / %s", ms(w.lat.percentile(50)), ms(w.lat.percentile(99)))
	r.note("etcd runs without fsync (a dev cluster); the raw write limit is the ceiling other suites compare to")
	return nil
}

// timeStartStop starts a fresh 3-node cluster and stops it, timing both
// as a user sees them (the CLI returning).
func timeStartStop(ctx context.Context, bin string) (start, stop time.Duration, err error) {
	dir, err := os.MkdirTemp("", "bench-devcluster-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	port, err := testcluster.FreePort()
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, bin, "start", "--dir", dir, "--nodes", "3", "--port", strconv.Itoa(port)).CombinedOutput()
	start = time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("devcluster start: %w\n%s", err, out)
	}
	t0 = time.Now()
	out, err = exec.CommandContext(ctx, bin, "stop", "--dir", dir).CombinedOutput()
	stop = time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("devcluster stop: %w\n%s", err, out)
	}
	return start, stop, nil
}

// memoryOf sums the resident (RSS) and proportional (PSS) set sizes of the
// cluster's processes, in KiB.
func memoryOf(c *testcluster.Cluster) (rss, pss int64, err error) {
	pids, err := c.PIDs()
	if err != nil {
		return 0, 0, err
	}
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			return 0, 0, fmt.Errorf("read memory of pid %d: %w", pid, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				rss += v
			case "Pss:":
				pss += v
			}
		}
	}
	return rss, pss, nil
}

type writeResult struct {
	rate float64 // objects per second
	lat  latencies
}

// rawWrites creates n ConfigMaps from `clients` concurrent clients, each
// with its own connection and no client-side rate limit: the API server's
// (and etcd's) write ceiling on this machine.
func rawWrites(ctx context.Context, base *rest.Config, n, clients int) (writeResult, error) {
	admin, err := kubernetes.NewForConfig(base)
	if err != nil {
		return writeResult{}, err
	}
	ns := fmt.Sprintf("bench-raw-%d", time.Now().UnixNano())
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return writeResult{}, err
	}
	defer cleanup("delete namespace "+ns, func() error {
		return admin.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})

	kubes, err := connections(base, clients)
	if err != nil {
		return writeResult{}, err
	}
	payload := map[string]string{"payload": strings.Repeat("x", 128)}
	lat, took, err := hammer(ctx, n, clients, func(w, i int) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: payload}
		_, err := kubes[w].CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return writeResult{}, fmt.Errorf("raw writes: %w", err)
	}
	return writeResult{rate: float64(n) / took.Seconds(), lat: lat}, nil
}
