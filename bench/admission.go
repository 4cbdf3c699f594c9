package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/toolforge-go/toolforge/internal/promtext"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var (
	admissionPods    = flag.Int("admission-pods", 2000, "pods created in each configuration of the admission benchmark")
	admissionClients = flag.Int("admission-clients", 50, "concurrent clients of the admission benchmark")
	admissionRounds  = flag.Int("admission-rounds", 4, "rounds of the admission benchmark, each creating a share of every configuration's pods")
)

const admissionP99Ratio = 1.2

// benchAdmission creates pods from concurrent clients, in interleaved
// rounds of one run:
//   - "without": complete pods (as admission makes them) in a namespace
//     like the tool's that admission does not select;
//   - "complete": the same pods in the tool's namespace, with admission
//     installed: they take the fast path, the pods webhook's match
//     condition checking them in the API server, without a call;
//   - "mutated": the pods a tool writes, which the webhook completes.
//
// The target compares "complete" with "without"; "mutated" shows what a
// webhook call costs. Pods name a scheduler that does not exist: creating
// them is the measure, not running them.
func benchAdmission(ctx context.Context, r *report) error {
	bin, err := testcluster.BuildBinary("toolforged")
	if err != nil {
		return err
	}
	c, err := testcluster.Start(ctx, testcluster.Options{Nodes: 1})
	if err != nil {
		return err
	}
	defer cleanup("stop devcluster", c.Stop)
	tools, err := c.ProvisionTools(ctx, "bench")
	if err != nil {
		return err
	}
	tool := tools["bench"]
	admin, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	server, err := startAdmission(ctx, bin, c)
	if err != nil {
		return err
	}
	defer server.stop()

	n, clients := *admissionPods, *admissionClients
	plainNS := "bench-plain"
	if err := mirrorNamespace(ctx, admin, tool.Namespace, plainNS, 2*n); err != nil {
		return err
	}
	toolPod, completePod, err := benchPods(ctx, admin, tool.Namespace)
	if err != nil {
		return err
	}

	var without, complete, mutated run
	runs := []struct {
		name string
		run  *run
		ns   string
		pod  *corev1.Pod
	}{
		{"without", &without, plainNS, completePod},
		{"complete", &complete, tool.Namespace, completePod},
		{"mutated", &mutated, tool.Namespace, toolPod},
	}
	rounds := max(1, *admissionRounds)
	for round := 0; round < rounds; round++ {
		for i := range runs {
			// Forwards, then backwards: drift over the run, and whatever
			// else the machine does meanwhile, weigh on each alike.
			x := runs[i]
			if round%2 == 1 {
				x = runs[len(runs)-1-i]
			}
			prefix := fmt.Sprintf("%s-r%d-", x.name, round)
			if err := x.run.create(ctx, c, x.ns, x.pod, prefix, n/rounds, clients, server); err != nil {
				return fmt.Errorf("%s: %w", x.name, err)
			}
		}
	}
	if err := checkMutated(ctx, admin, tool.Namespace, tool.UID); err != nil {
		return err
	}
	evalSum, evalCount, err := apiServerHistogram(ctx, admin, "apiserver_admission_match_condition_evaluation_seconds")
	if err != nil {
		return err
	}

	p99 := func(r *run) time.Duration { return r.lat.percentile(99) }
	p50 := func(r *run) time.Duration { return r.lat.percentile(50) }
	ratio := float64(p99(&complete)) / float64(p99(&without))
	label := fmt.Sprintf("(%d pods each, %d clients) p50 / p99", len(without.lat), clients)
	r.add("without: complete pods, namespace without admission "+label, "%s / %s", ms(p50(&without)), ms(p99(&without)))
	r.add("complete: same pods, tool namespace, admission installed "+label, "%s / %s", ms(p50(&complete)), ms(p99(&complete)))
	r.add("mutated: a tool's plain pods, completed by the webhook "+label, "%s / %s", ms(p50(&mutated)), ms(p99(&mutated)))
	r.add("  (a) complete / without: p50 ratio", "%.2f", float64(p50(&complete))/float64(p50(&without)))
	r.check("  (a) complete / without: p99 ratio", fmt.Sprintf("%.2f", ratio), fmt.Sprintf("≤ %.1f", admissionP99Ratio), ratio <= admissionP99Ratio)
	r.add("  (a) complete / without: API server CPU per pod ratio", "%.2f", complete.cpu["kube-apiserver"]/without.cpu["kube-apiserver"])
	r.add("  (b) mutated / without: p50 ratio, p99 ratio", "%.2f, %.2f", float64(p50(&mutated))/float64(p50(&without)), float64(p99(&mutated))/float64(p99(&without)))
	r.add("  throughput without / complete / mutated", "%.0f / %.0f / %.0f pods/s", without.rate(), complete.rate(), mutated.rate())
	r.add("  webhook calls per pod: complete / mutated", "%.2f / %.2f", complete.webhookCallsPerPod(), mutated.webhookCallsPerPod())
	if evalCount > 0 {
		r.add("  match condition evaluations (API server's histogram): count, mean", "%.0f, %.3f ms", evalCount, 1000*evalSum/evalCount)
	}
	for _, x := range runs {
		r.add("  CPU per pod "+x.name+": API server, etcd, webhook server", "%s, %s, %s", x.run.perPod("kube-apiserver"), x.run.perPod("supervisor+etcd"), x.run.perPod("admission"))
	}
	r.note("target (issue 4): (a), complete pods take the fast path without a webhook call; (b) is reported without a target")
	r.note("%d interleaved rounds (without, complete, mutated, then backwards) on the same cluster; the webhook server shares the 2 cores with the cluster and the clients", rounds)
	r.note("50 clients saturate the machine: latency is then queueing, and the ratio is roughly the ratio of CPU spent per pod")
	return nil
}

// run accumulates the pods created in one configuration.
type run struct {
	lat   latencies
	took  time.Duration
	cpu   map[string]float64 // seconds by component, and "admission"
	calls float64            // pods webhook requests
}

func (r *run) create(ctx context.Context, c *testcluster.Cluster, ns string, pod *corev1.Pod, prefix string, n, clients int, server *admissionServer) error {
	before, err := cpuSeconds(c)
	if err != nil {
		return err
	}
	if before["admission"], err = processCPU(server.pid); err != nil {
		return err
	}
	callsBefore, err := server.podCalls()
	if err != nil {
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
	if after["admission"], err = processCPU(server.pid); err != nil {
		return err
	}
	callsAfter, err := server.podCalls()
	if err != nil {
		return err
	}
	if r.cpu == nil {
		r.cpu = map[string]float64{}
	}
	for k, v := range after {
		r.cpu[k] += v - before[k]
	}
	r.calls += callsAfter - callsBefore
	r.lat, r.took = append(r.lat, lat...), r.took+took
	return nil
}

func (r *run) rate() float64 { return float64(len(r.lat)) / r.took.Seconds() }

func (r *run) perPod(component string) string {
	return fmt.Sprintf("%.2f ms", 1000*r.cpu[component]/float64(len(r.lat)))
}

func (r *run) webhookCallsPerPod() float64 { return r.calls / float64(len(r.lat)) }

// admissionServer is a running `toolforged admission`.
type admissionServer struct {
	pid     int
	metrics string
	stop    func()
}

// podCalls is how many requests the pods webhook has answered, from the
// server's metrics.
func (s *admissionServer) podCalls() (float64, error) {
	resp, err := http.Get(s.metrics)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	total, _, err := promtext.Sum(resp.Body, "controller_runtime_webhook_requests_total", map[string]string{"webhook": "/mutate-pods"})
	return total, err
}

// startAdmission runs `toolforged admission` on c and returns once the API
// server calls it.
func startAdmission(ctx context.Context, bin string, c *testcluster.Cluster) (*admissionServer, error) {
	var ports [3]int
	for i := range ports {
		port, err := testcluster.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = port
	}
	addr := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	logPath := filepath.Join(c.Dir, "logs", "toolforged-admission.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "admission", "--kubeconfig", c.Kubeconfig,
		"--admission-addr", addr(ports[0]), "--health-addr", addr(ports[1]), "--metrics-addr", addr(ports[2]))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &admissionServer{pid: cmd.Process.Pid, metrics: "http://" + addr(ports[2]) + "/metrics", stop: func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr(ports[1]) + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if _, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "toolforge-admission", metav1.GetOptions{}); err == nil {
					return s, nil
				}
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("toolforged admission not ready after a minute:\n%s", tail(string(log), 20))
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
// (asked with a dry run): a complete pod, which admission lets through
// without calling the webhook.
func benchPods(ctx context.Context, admin kubernetes.Interface, toolNS string) (toolPod, completePod *corev1.Pod, err error) {
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
	completePod = &corev1.Pod{Spec: *mutated.Spec.DeepCopy()}
	completePod.Spec.NodeName = ""
	var volumes []corev1.Volume
	for _, v := range completePod.Spec.Volumes {
		if !strings.HasPrefix(v.Name, "kube-api-access-") {
			volumes = append(volumes, v)
		}
	}
	completePod.Spec.Volumes = volumes
	for i := range completePod.Spec.Containers {
		c := &completePod.Spec.Containers[i]
		var mounts []corev1.VolumeMount
		for _, m := range c.VolumeMounts {
			if !strings.HasPrefix(m.Name, "kube-api-access-") {
				mounts = append(mounts, m)
			}
		}
		c.VolumeMounts = mounts
	}
	return toolPod, completePod, nil
}

// createPods creates n copies of pod in ns from `clients` concurrent
// clients, each with its own connection and no client-side rate limit.
func createPods(ctx context.Context, base *rest.Config, ns string, pod *corev1.Pod, prefix string, n, clients int) (latencies, time.Duration, error) {
	kubes, err := connections(base, clients)
	if err != nil {
		return nil, 0, err
	}
	return hammer(ctx, n, clients, func(w, i int) error {
		p := pod.DeepCopy()
		p.Name = fmt.Sprintf("%s%d", prefix, i)
		_, err := kubes[w].CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
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

// apiServerHistogram is the sum and count of a histogram of the API
// server's metrics, over all its labels.
func apiServerHistogram(ctx context.Context, admin kubernetes.Interface, name string) (sum, count float64, err error) {
	body, err := admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("API server metrics: %w", err)
	}
	sum, n, err := promtext.Histogram(bytes.NewReader(body), name)
	return sum, float64(n), err
}
