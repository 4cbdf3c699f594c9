package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var (
	admissionPods    = flag.Int("admission-pods", 2000, "pods created with and without the admission webhooks")
	admissionClients = flag.Int("admission-clients", 50, "concurrent clients of the admission benchmark")
)

const admissionP99Ratio = 1.2

// benchAdmission creates the same number of pods from concurrent clients
// in a tool namespace (through the admission webhooks) and in an otherwise
// identical namespace the webhooks do not select, in interleaved halves of
// the same run, and compares the creation latencies. The plain pods are
// what the webhooks would have made of the tool's pods, so the API server
// does the same work for both but the webhook calls. Pods name a scheduler
// that does not exist: creating them is the measure, not running them.
func benchAdmission(ctx context.Context, r *report) error {
	bin, err := testcluster.BuildBinary("toolforged")
	if err != nil {
		return err
	}
	c, err := testcluster.Start(ctx, testcluster.Options{Nodes: 1})
	if err != nil {
		return err
	}
	defer c.Stop()
	tools, err := c.ProvisionTools(ctx, "bench")
	if err != nil {
		return err
	}
	tool := tools["bench"]
	admin, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	stopServer, serverPID, err := startAdmission(ctx, bin, c)
	if err != nil {
		return err
	}
	defer stopServer()

	n, clients := *admissionPods, *admissionClients
	plainNS := "bench-plain"
	if err := mirrorNamespace(ctx, admin, tool.Namespace, plainNS, n); err != nil {
		return err
	}
	toolPod, plainPod, err := benchPods(ctx, admin, tool.Namespace)
	if err != nil {
		return err
	}

	var with, without run
	for half := 0; half < 2; half++ {
		prefix := fmt.Sprintf("h%d-", half)
		if err := without.create(ctx, c, plainNS, plainPod, prefix, n/2, clients, serverPID); err != nil {
			return fmt.Errorf("without webhooks: %w", err)
		}
		if err := with.create(ctx, c, tool.Namespace, toolPod, prefix, n/2, clients, serverPID); err != nil {
			return fmt.Errorf("with webhooks: %w", err)
		}
	}
	if err := checkMutated(ctx, admin, tool.Namespace, tool.UID); err != nil {
		return err
	}

	ratio := float64(with.lat.percentile(99)) / float64(without.lat.percentile(99))
	r.add(fmt.Sprintf("pod create without webhooks (%d pods, %d clients) p50 / p99", len(without.lat), clients), "%s / %s", ms(without.lat.percentile(50)), ms(without.lat.percentile(99)))
	r.add(fmt.Sprintf("pod create with webhooks (%d pods, %d clients) p50 / p99", len(with.lat), clients), "%s / %s", ms(with.lat.percentile(50)), ms(with.lat.percentile(99)))
	r.add("  p50 ratio with / without", "%.2f", float64(with.lat.percentile(50))/float64(without.lat.percentile(50)))
	r.check("  p99 ratio with / without", fmt.Sprintf("%.2f", ratio), fmt.Sprintf("≤ %.1f", admissionP99Ratio), ratio <= admissionP99Ratio)
	r.add("  throughput without / with", "%.0f / %.0f pods/s", without.rate(), with.rate())
	r.add("  CPU per pod without: API server, etcd", "%s, %s", without.perPod("kube-apiserver"), without.perPod("supervisor+etcd"))
	r.add("  CPU per pod with: API server, etcd, webhook server", "%s, %s, %s", with.perPod("kube-apiserver"), with.perPod("supervisor+etcd"), with.perPod("admission"))
	r.note("runs interleaved (without, with, without, with) on the same cluster; the webhook server shares the 2 cores with the cluster and the clients")
	r.note("50 clients saturate the machine: latency is then queueing, and the ratio is roughly the ratio of CPU spent per pod")
	return nil
}

// run accumulates the pods created in one configuration.
type run struct {
	lat  latencies
	took time.Duration
	cpu  map[string]float64 // seconds by component, and "admission"
}

func (r *run) create(ctx context.Context, c *testcluster.Cluster, ns string, pod *corev1.Pod, prefix string, n, clients, serverPID int) error {
	before, err := cpuSeconds(c)
	if err != nil {
		return err
	}
	if before["admission"], err = processCPU(serverPID); err != nil {
		return err
	}
	lat, took, err := createPods(ctx, c.Config, ns, pod, prefix, n, clients)
	if err != nil {
		return err
	}
	after, err := cpuSeconds(c)
	if err != nil {
		return err
	}
	if after["admission"], err = processCPU(serverPID); err != nil {
		return err
	}
	if r.cpu == nil {
		r.cpu = map[string]float64{}
	}
	for k, v := range after {
		r.cpu[k] += v - before[k]
	}
	r.lat, r.took = append(r.lat, lat...), r.took+took
	return nil
}

func (r *run) rate() float64 { return float64(len(r.lat)) / r.took.Seconds() }

func (r *run) perPod(component string) string {
	return fmt.Sprintf("%.2f ms", 1000*r.cpu[component]/float64(len(r.lat)))
}

// startAdmission runs `toolforged admission` on c and returns once the API
// server calls it.
func startAdmission(ctx context.Context, bin string, c *testcluster.Cluster) (stop func(), pid int, err error) {
	port, err := testcluster.FreePort()
	if err != nil {
		return nil, 0, err
	}
	health, err := testcluster.FreePort()
	if err != nil {
		return nil, 0, err
	}
	logPath := filepath.Join(c.Dir, "logs", "toolforged-admission.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, 0, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "admission", "--kubeconfig", c.Kubeconfig,
		"--admission-addr", "127.0.0.1:"+strconv.Itoa(port),
		"--health-addr", "127.0.0.1:"+strconv.Itoa(health), "--metrics-addr", "0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if _, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "toolforge-admission", metav1.GetOptions{}); err == nil {
					return stop, cmd.Process.Pid, nil
				}
			}
		}
		if time.Now().After(deadline) {
			stop()
			log, _ := os.ReadFile(logPath)
			return nil, 0, fmt.Errorf("toolforged admission not ready after a minute:\n%s", tail(string(log), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// mirrorNamespace makes ns like the tool's namespace (Pod Security,
// limit range, a quota of the same kind) but without the tenancy label
// the webhooks select, and lets both hold n pods.
func mirrorNamespace(ctx context.Context, admin kubernetes.Interface, toolNS, ns string, n int) error {
	src, err := admin.CoreV1().Namespaces().Get(ctx, toolNS, metav1.GetOptions{})
	if err != nil {
		return err
	}
	labels := map[string]string{}
	for k, v := range src.Labels {
		if strings.HasPrefix(k, "pod-security.kubernetes.io/") {
			labels[k] = v
		}
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	lr, err := admin.CoreV1().LimitRanges(toolNS).Get(ctx, toolNS, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if _, err := admin.CoreV1().LimitRanges(ns).Create(ctx, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: lr.Spec}, metav1.CreateOptions{}); err != nil {
		return err
	}
	q, err := admin.CoreV1().ResourceQuotas(toolNS).Get(ctx, toolNS, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pods := int64(n + 100)
	for name := range q.Spec.Hard {
		switch name {
		case corev1.ResourcePods:
			q.Spec.Hard[name] = *resource.NewQuantity(pods, resource.DecimalSI)
		case corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU:
			q.Spec.Hard[name] = *resource.NewQuantity(pods, resource.DecimalSI)
		case corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory:
			q.Spec.Hard[name] = *resource.NewQuantity(pods<<30, resource.BinarySI)
		}
	}
	if _, err := admin.CoreV1().ResourceQuotas(toolNS).Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("raise the quota of %s: %w", toolNS, err)
	}
	_, err = admin.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: q.Spec}, metav1.CreateOptions{})
	return err
}

// benchPods are the pod a tool writes, and what admission makes of it
// (asked with a dry run), for the namespace without webhooks.
func benchPods(ctx context.Context, admin kubernetes.Interface, toolNS string) (toolPod, plainPod *corev1.Pod, err error) {
	toolPod = &corev1.Pod{Spec: corev1.PodSpec{
		SchedulerName: "bench-unscheduled",
		Containers: []corev1.Container{{
			Name: "main", Image: "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest", Command: []string{"sleep", "infinity"},
		}},
	}}
	probe := toolPod.DeepCopy()
	probe.Name = "probe"
	mutated, err := admin.CoreV1().Pods(toolNS).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil, nil, fmt.Errorf("dry-run a tool pod: %w", err)
	}
	if mutated.Spec.SecurityContext == nil || mutated.Spec.SecurityContext.RunAsUser == nil {
		return nil, nil, errors.New("the dry-run tool pod was not mutated: are the webhooks installed?")
	}
	// Keep what admission added; drop what the API server adds anyway.
	plainPod = &corev1.Pod{Spec: *mutated.Spec.DeepCopy()}
	plainPod.Spec.NodeName = ""
	var volumes []corev1.Volume
	for _, v := range plainPod.Spec.Volumes {
		if !strings.HasPrefix(v.Name, "kube-api-access-") {
			volumes = append(volumes, v)
		}
	}
	plainPod.Spec.Volumes = volumes
	for i := range plainPod.Spec.Containers {
		c := &plainPod.Spec.Containers[i]
		var mounts []corev1.VolumeMount
		for _, m := range c.VolumeMounts {
			if !strings.HasPrefix(m.Name, "kube-api-access-") {
				mounts = append(mounts, m)
			}
		}
		c.VolumeMounts = mounts
	}
	return toolPod, plainPod, nil
}

// createPods creates n copies of pod in ns from `clients` concurrent
// clients, each with its own connection and no client-side rate limit.
func createPods(ctx context.Context, base *rest.Config, ns string, pod *corev1.Pod, prefix string, n, clients int) (latencies, time.Duration, error) {
	var next atomic.Int64
	lat := make([]latencies, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := 0; i < clients; i++ {
		cfg := rest.CopyConfig(base)
		cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
		cfg.Dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, 0, err
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				k := next.Add(1)
				if k > int64(n) {
					return
				}
				p := pod.DeepCopy()
				p.Name = fmt.Sprintf("%s%d", prefix, k)
				t0 := time.Now()
				if _, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}(i)
	}
	wg.Wait()
	took := time.Since(begin)
	var all latencies
	for i := range lat {
		if errs[i] != nil {
			return nil, 0, errs[i]
		}
		all = append(all, lat[i]...)
	}
	return all, took, nil
}

// checkMutated makes sure the measured tool pods went through admission.
func checkMutated(ctx context.Context, admin kubernetes.Interface, ns string, uid int64) error {
	list, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 20})
	if err != nil {
		return err
	}
	for _, p := range list.Items {
		if sc := p.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != uid {
			return fmt.Errorf("pod %s/%s was not mutated by admission", ns, p.Name)
		}
	}
	return nil
}

// processCPU is the CPU time (user+system) process pid has used, in seconds.
func processCPU(pid int) (float64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil
}
