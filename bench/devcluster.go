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
	startRuns       = 5
	rawWriteObjects = 3000
	rawWriteClients = 32
	idleSettle      = 20 * time.Second
	startTarget     = 20 * time.Second
	// An idle cluster with one real node: control plane, CoreDNS, Traefik,
	// containerd, kubelet, kube-proxy.
	idleRSSTargetKiB = 1536 << 10
	podRuns          = 50
	podClients       = 5
	podTarget        = 3 * time.Second
	// benchImage is a catalogue image; the registry builds it on first use.
	benchImage = "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"
)

func benchDevcluster(ctx context.Context, r *report) error {
	bin, err := testcluster.Binary()
	if err != nil {
		return err
	}
	if err := coldImageBuild(ctx, r, bin); err != nil {
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
	r.check(fmt.Sprintf("start to ready, 1 real node, fresh dir, images cached (median of %d)", startRuns), secs(med), "≤ 20 s", med <= startTarget)
	r.add("  each run (s)", "%s", joinDurations(starts))
	r.add("stop, all processes gone, host cleaned (median)", "%s", secs(latencies(stops).percentile(50)))

	c, err := testcluster.Start(ctx, testcluster.Options{RealNodes: 1})
	if err != nil {
		return err
	}
	defer cleanup("stop devcluster", c.Stop)
	time.Sleep(idleSettle) // let start-up work finish before measuring idle memory
	rss, pss, err := memoryOf(c)
	if err != nil {
		return err
	}
	r.check(fmt.Sprintf("idle RSS, whole cluster with 1 real node (%s after ready)", idleSettle), mib(rss), "≤ 1536 MiB", rss <= idleRSSTargetKiB)
	r.add("idle PSS (shared binary pages counted once)", "%s", mib(pss))

	lat, err := podStartup(ctx, c)
	if err != nil {
		return err
	}
	p99 := lat.percentile(99)
	r.check(fmt.Sprintf("pod creation to Running, image present, %d pods from %d clients, p99", podRuns, podClients), secs(p99), "≤ 3 s", p99 <= podTarget)
	r.add("  p50", "%s", secs(lat.percentile(50)))

	w, err := rawWrites(ctx, c.Config, rawWriteObjects, rawWriteClients)
	if err != nil {
		return err
	}
	r.add(fmt.Sprintf("raw write limit: %d ConfigMap creates, %d clients", rawWriteObjects, rawWriteClients), "%.0f writes/s", w.rate)
	r.add("  create latency p50 / p99", "%s / %s", ms(w.lat.percentile(50)), ms(w.lat.percentile(99)))
	r.note("etcd runs without fsync (a dev cluster); the raw write limit is the ceiling other suites compare to")
	return nil
}

// coldImageBuild builds the bench's image into an empty cache: what a
// first `make run` on a new machine pays once.
func coldImageBuild(ctx context.Context, r *report, bin string) error {
	cache, err := os.MkdirTemp("", "bench-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	cmd := exec.CommandContext(ctx, bin, "images", "build", "python3.11")
	cmd.Env = append(os.Environ(), "DEVCLUSTER_CACHE="+cache)
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("devcluster images build: %w\n%s", err, out)
	}
	r.add("cold image build, python3.11 (base and web, empty cache)", "%s", secs(time.Since(t0)))
	return nil
}

// podStartup creates pods on the real node and times each from its
// creation until the API server says it runs (watched, not polled). A
// first pod pulls the image so that every measured pod finds it present.
func podStartup(ctx context.Context, c *testcluster.Cluster) (latencies, error) {
	ns := fmt.Sprintf("bench-pods-%d", time.Now().UnixNano())
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	defer cleanup("delete namespace "+ns, func() error {
		return c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	pod := func(name string) *corev1.Pod {
		zero := int64(0)
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				NodeSelector:                  map[string]string{"type": "real"},
				TerminationGracePeriodSeconds: &zero,
				Containers:                    []corev1.Container{{Name: "main", Image: benchImage, Command: []string{"sleep", "3600"}}},
			},
		}
	}
	running := func(ctx context.Context, name string) error {
		w, err := c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
		if err != nil {
			return err
		}
		defer w.Stop()
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && p.Status.Phase == corev1.PodRunning {
				return nil
			}
		}
		return fmt.Errorf("pod %s: watch ended before it ran (%v)", name, ctx.Err())
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod("warm"), metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if err := running(wctx, "warm"); err != nil {
		return nil, err
	}
	lat, _, err := hammer(ctx, podRuns, podClients, func(_, i int) error {
		name := fmt.Sprintf("p-%d", i)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- running(pctx, name) }()
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod(name), metav1.CreateOptions{}); err != nil {
			return err
		}
		return <-errc
	})
	return lat, err
}

// timeStartStop starts a fresh cluster with one real node and stops it,
// timing both as a user sees them (the CLI returning).
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
	ingress, err := testcluster.FreePort()
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, bin, "start", "--dir", dir, "--nodes", "1", "--port", strconv.Itoa(port), "--ingress-port", strconv.Itoa(ingress)).CombinedOutput()
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
