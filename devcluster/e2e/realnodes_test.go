package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pythonImage is a catalogue image, served by the cluster's local registry.
const pythonImage = "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"

// realPod runs one container on the real node and returns once it has
// finished (or, with wait "Running", is running).
func realPod(t *testing.T, ns, name, manifestSpec string) {
	t.Helper()
	if _, err := apply(t, shared.kubeconfig, fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Pod
metadata: {name: %[2]s, namespace: %[1]s, labels: {app: %[2]s}}
spec:
  nodeSelector: {type: real}
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
%[3]s`, ns, name, manifestSpec)); err != nil {
		t.Fatal(err)
	}
}

func podPhase(t *testing.T, ns, name string, timeout time.Duration, want ...corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, timeout, func(ctx context.Context) error {
		p, err := shared.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod = p
		for _, w := range want {
			if p.Status.Phase == w {
				return nil
			}
		}
		return fmt.Errorf("pod %s/%s is %s (%s), want %v", ns, name, p.Status.Phase, containerState(p), want)
	})
	return pod
}

func containerState(p *corev1.Pod) string {
	var out []string
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil:
			out = append(out, c.Name+" waiting: "+c.State.Waiting.Reason+" "+c.State.Waiting.Message)
		case c.State.Terminated != nil:
			out = append(out, fmt.Sprintf("%s terminated: %s exit %d", c.Name, c.State.Terminated.Reason, c.State.Terminated.ExitCode))
		case c.State.Running != nil:
			out = append(out, c.Name+" running")
		}
	}
	return strings.Join(out, "; ")
}

// imageTimeout allows for the first pull of a catalogue image, which the
// registry builds on demand when the machine's cache does not have it.
const imageTimeout = 10 * time.Minute

func TestACatalogueImageRunsAndKubectlShowsItsOutputAndExecs(t *testing.T) {
	realPod(t, "run-test", "hello", `  containers:
  - name: main
    image: `+pythonImage+`
    command: [python3, -c, "import sys, time; print('hello from', sys.version.split()[0], flush=True); time.sleep(3600)"]
`)
	podPhase(t, "run-test", "hello", imageTimeout, corev1.PodRunning)
	eventually(t, 30*time.Second, func(context.Context) error {
		out, err := kubectl(t, shared.kubeconfig, "logs", "-n", "run-test", "hello")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(out, "hello from 3.11") {
			return fmt.Errorf("logs = %q", out)
		}
		return nil
	})
	out := mustKubectl(t, shared.kubeconfig, "exec", "-n", "run-test", "hello", "--", "sh", "-c", "echo exec works in $(cat /etc/debian_version | cut -d. -f1)")
	if out != "exec works in 12\n" {
		t.Fatalf("exec output %q", out)
	}
}

func TestJobsReportTheirCommandsRealExitCodes(t *testing.T) {
	if _, err := apply(t, shared.kubeconfig, `
apiVersion: v1
kind: Namespace
metadata: {name: exit-test}
---
apiVersion: batch/v1
kind: Job
metadata: {name: succeeds, namespace: exit-test}
spec:
  backoffLimit: 0
  template:
    spec:
      nodeSelector: {type: real}
      restartPolicy: Never
      containers: [{name: main, image: `+pythonImage+`, command: [sh, -c, "echo done; exit 0"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: fails, namespace: exit-test}
spec:
  backoffLimit: 0
  template:
    spec:
      nodeSelector: {type: real}
      restartPolicy: Never
      containers: [{name: main, image: `+pythonImage+`, command: [sh, -c, "echo failing >&2; exit 7"]}]
`); err != nil {
		t.Fatal(err)
	}
	exitCode := func(job string) func(ctx context.Context) (int32, error) {
		return func(ctx context.Context) (int32, error) {
			pods, err := shared.client.CoreV1().Pods("exit-test").List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
			if err != nil {
				return 0, err
			}
			for _, p := range pods.Items {
				for _, c := range p.Status.ContainerStatuses {
					if c.State.Terminated != nil {
						return c.State.Terminated.ExitCode, nil
					}
				}
			}
			return 0, fmt.Errorf("no finished pod of job %s yet", job)
		}
	}
	for job, want := range map[string]int32{"succeeds": 0, "fails": 7} {
		eventually(t, imageTimeout, func(ctx context.Context) error {
			code, err := exitCode(job)(ctx)
			if err != nil {
				return err
			}
			if code != want {
				return fmt.Errorf("job %s exited %d, want %d", job, code, want)
			}
			return nil
		})
	}
	eventually(t, time.Minute, func(ctx context.Context) error {
		out, err := kubectl(t, shared.kubeconfig, "get", "jobs", "-n", "exit-test", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.succeeded}/{.status.failed}{" "}{end}`)
		if err != nil {
			return err
		}
		if out != "fails=/1 succeeds=1/ " {
			return fmt.Errorf("jobs succeeded/failed: %q", out)
		}
		return nil
	})
	if out := mustKubectl(t, shared.kubeconfig, "logs", "-n", "exit-test", "job/fails"); out != "failing\n" {
		t.Fatalf("failed job's logs %q", out)
	}
}

// Limits are real cgroup limits: memory beyond the limit is killed by the
// kernel, and the CPU quota is what the container's cgroup says.
func TestMemoryAndCPULimitsAreTheContainersCgroup(t *testing.T) {
	realPod(t, "limits-test", "hog", `  containers:
  - name: main
    image: `+pythonImage+`
    command: [python3, -c, "b = bytearray(300 * 1024 * 1024); print('survived', len(b))"]
    resources: {limits: {memory: 64Mi, cpu: 100m}}
`)
	pod := podPhase(t, "limits-test", "hog", imageTimeout, corev1.PodFailed, corev1.PodSucceeded)
	term := pod.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Fatalf("a container over its memory limit: %s, want OOMKilled with exit 137", containerState(pod))
	}

	realPod(t, "limits-test", "quota", `  containers:
  - name: main
    image: `+pythonImage+`
    command: [sh, -c, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]
    resources: {limits: {memory: 96Mi, cpu: 250m}}
`)
	podPhase(t, "limits-test", "quota", imageTimeout, corev1.PodSucceeded)
	out := strings.Fields(mustKubectl(t, shared.kubeconfig, "logs", "-n", "limits-test", "quota"))
	want := []string{"25000", "100000", fmt.Sprint(96 << 20)}
	if strings.Join(out, " ") != strings.Join(want, " ") {
		t.Fatalf("the container's cgroup says %v, want cpu quota/period and memory limit %v", out, want)
	}
}

// A pod reaches another through its Service by DNS name, and the ingress
// controller answers for an Ingress host on its loopback port.
func TestServicesResolveByNameAndIngressAnswersOnLoopback(t *testing.T) {
	if _, err := apply(t, shared.kubeconfig, `
apiVersion: v1
kind: Namespace
metadata: {name: net-test}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: net-test}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {type: real}
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: `+pythonImage+`
        command: [sh, -c, "mkdir -p /tmp/www && echo served-by-web > /tmp/www/index.html && cd /tmp/www && exec python3 -m http.server 8000"]
        ports: [{containerPort: 8000}]
        readinessProbe: {httpGet: {path: /, port: 8000}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: net-test}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8000}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: net-test}
spec:
  rules:
  - host: web.devcluster.localhost
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`); err != nil {
		t.Fatal(err)
	}
	eventually(t, imageTimeout, func(ctx context.Context) error {
		d, err := shared.client.AppsV1().Deployments("net-test").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ReadyReplicas != 1 {
			return fmt.Errorf("web deployment: %d ready", d.Status.ReadyReplicas)
		}
		return nil
	})
	realPod(t, "net-test", "client", `  containers:
  - name: main
    image: `+pythonImage+`
    command: [python3, -c, "import urllib.request; print(urllib.request.urlopen('http://web.net-test.svc.cluster.local/').read().decode().strip())"]
`)
	pod := podPhase(t, "net-test", "client", imageTimeout, corev1.PodSucceeded, corev1.PodFailed)
	logs, _ := kubectl(t, shared.kubeconfig, "logs", "-n", "net-test", "client")
	if pod.Status.Phase != corev1.PodSucceeded || logs != "served-by-web\n" {
		t.Fatalf("client pod %s, logs %q; want the web pod's page through its Service's DNS name", pod.Status.Phase, logs)
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/", shared.ingressPort)
	eventually(t, time.Minute, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Host = "web.devcluster.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(body) != "served-by-web\n" {
			return fmt.Errorf("GET %s (Host web.devcluster.localhost): %s %q", url, resp.Status, body)
		}
		return nil
	})
	// curl resolves any *.localhost name to loopback itself, as browsers do.
	res := runCmd(exec.Command("curl", "-sS", "--max-time", "10", fmt.Sprintf("http://web.devcluster.localhost:%d/", shared.ingressPort)))
	if res.code != 0 || res.stdout != "served-by-web\n" {
		t.Fatalf("curl through the ingress: exit %d, %q %s", res.code, res.stdout, res.stderr)
	}
}

// imagePullPolicy Always pulls from the local registry every time: it
// works with no network beyond this machine.
func TestImagePullPolicyAlwaysWorksOffline(t *testing.T) {
	realPod(t, "pull-test", "always", `  containers:
  - name: main
    image: `+pythonImage+`
    imagePullPolicy: Always
    command: [sh, -c, "echo pulled"]
`)
	pod := podPhase(t, "pull-test", "always", imageTimeout, corev1.PodSucceeded, corev1.PodFailed)
	if pod.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("pod %s: %s", pod.Status.Phase, containerState(pod))
	}
	events := mustKubectl(t, shared.kubeconfig, "get", "events", "-n", "pull-test", "--field-selector", "involvedObject.name=always,reason=Pulled", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, "Successfully pulled image") {
		t.Fatalf("no pull event: %q", events)
	}
}

// A node's restart is a reboot: every container on it ends, the node comes
// back Ready with new processes, and its pods run again.
func TestANodeRestartIsARebootAndTheNodeComesBack(t *testing.T) {
	realPod(t, "reboot-test", "survivor", `  restartPolicy: Always
  containers:
  - name: main
    image: `+pythonImage+`
    command: [sh, -c, "echo started at $(date +%s%N); sleep 3600"]
`)
	before := podPhase(t, "reboot-test", "survivor", imageTimeout, corev1.PodRunning)
	startedBefore := before.Status.ContainerStatuses[0].State.Running.StartedAt.Time
	res := run("node", "restart", "--dir", shared.dir, "node-1")
	if res.code != 0 || !strings.Contains(res.stderr, "node node-1 is Ready again") {
		t.Fatalf("node restart: exit %d\n%s", res.code, res.stderr)
	}
	eventually(t, 2*time.Minute, func(ctx context.Context) error {
		p, err := shared.client.CoreV1().Pods("reboot-test").Get(ctx, "survivor", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Running != nil && c.State.Running.StartedAt.After(startedBefore) {
				return nil
			}
		}
		return fmt.Errorf("the pod's container has not started again since the reboot: %s", containerState(p))
	})
	if res := run("node", "restart", "--dir", shared.dir, "node-9"); res.code != 2 || !strings.Contains(res.stderr, `no real node "node-9"`) {
		t.Fatalf("restarting a node that does not exist: exit %d, %q", res.code, res.stderr)
	}
}
