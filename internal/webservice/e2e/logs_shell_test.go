package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// kwokObject makes, as the cluster admin, a kwok object that tells the
// simulated nodes what a tool's containers log or print when attached to.
func kwokObject(t *testing.T, kind, name, namespace, field, container, file string) {
	t.Helper()
	manifest := filepath.Join(t.TempDir(), "kwok.yaml")
	content := fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: %s
metadata: {name: %s}
spec:
  selector: {matchNamespaces: [%s]}
  %s: [{containers: [%s], logsFile: %q}]
`, kind, name, namespace, field, container, file)
	if err := os.WriteFile(manifest, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := testcluster.Kubectl(context.Background(), cluster.Kubeconfig, "apply", "-f", manifest); err != nil {
		t.Fatal(err)
	}
}

func TestLogsPrintThePodsLogs(t *testing.T) {
	t.Parallel()
	tools, toolforge, webservice := env(t)
	tool := tools["ws-logs"]
	logFile := filepath.Join(t.TempDir(), "web.log")
	if err := os.WriteFile(logFile, []byte("2026-01-01T00:00:00.000000000Z stdout F GET / 200\n2026-01-01T00:00:01.000000000Z stderr F GET /missing 404\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kwokObject(t, "ClusterLogs", tool.Name, tool.Namespace, "logs", "webservice", logFile)

	r := run(t, tool, webservice, "logs")
	if r.Code != 1 || !strings.Contains(r.Stderr, "webservice is not running") {
		t.Errorf("logs of a stopped web service: exit %d, stderr %q", r.Code, r.Stderr)
	}

	mustRun(t, tool, "Starting webservice\n", webservice, "python3.11", "start")
	testcluster.Eventually(t, 30*time.Second, func() error {
		r := run(t, tool, toolforge, "webservice", "logs")
		if r.Code != 0 || r.Stdout != "GET / 200\nGET /missing 404\n" {
			return fmt.Errorf("logs: exit %d, %q", r.Code, r.Stdout)
		}
		return nil
	})
	mustRun(t, tool, "GET /missing 404\n", webservice, "logs", "-l", "1")

	// With two pods, each line says whose it is.
	mustRun(t, tool, "Restarting webservice\n", webservice, "restart", "--replicas", "2")
	pods := runningPods(t, tool, 2)
	// One pod's lines after the other's, oldest pod first: which is
	// older is the cluster's business, so the lines are compared sorted.
	var want []string
	for _, p := range pods {
		want = append(want, fmt.Sprintf("[%s] GET /missing 404", p))
	}
	slices.Sort(want)
	testcluster.Eventually(t, 30*time.Second, func() error {
		r := run(t, tool, webservice, "logs", "--last", "1")
		got := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("logs of two pods: %q, want the lines %q", r.Stdout, want)
		}
		return nil
	})
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")
}

func shellPods(t *testing.T, tool *testcluster.Tool) []string {
	t.Helper()
	list, err := cluster.Client.CoreV1().Pods(tool.Namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=webservice-interactive",
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	return out
}

func eventuallyNoShellPods(t *testing.T, tool *testcluster.Tool) {
	t.Helper()
	testcluster.Eventually(t, 30*time.Second, func() error {
		if pods := shellPods(t, tool); len(pods) > 0 {
			return fmt.Errorf("shell pods left: %v", pods)
		}
		return nil
	})
}

// kwok pods run no processes: attaching to one streams what is appended to
// a file named by a ClusterAttach object, and ignores stdin. So this checks
// the shell's life cycle: the pod it makes, the terminal attached to it,
// and the pod removed when the user interrupts the session.
func TestShellAttachesToAPodAndRemovesItOnInterrupt(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-shell"]
	screen := filepath.Join(t.TempDir(), "shell.log")
	if err := os.WriteFile(screen, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	kwokObject(t, "ClusterAttach", tool.Name, tool.Namespace, "attaches", "shell", screen)

	cmd, stdout, stderr := background(t, tool, webservice, "python3.11", "shell", "--mem", "1Gi")
	var podName string
	testcluster.Eventually(t, 30*time.Second, func() error {
		list, err := cluster.Client.CoreV1().Pods(tool.Namespace).List(context.Background(), metav1.ListOptions{
			LabelSelector: "app.kubernetes.io/component=webservice-interactive",
		})
		if err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("%d shell pods", len(list.Items))
		}
		p := list.Items[0]
		podName = p.Name
		c := p.Spec.Containers[0]
		if c.Image != pythonWeb || !c.Stdin || c.Resources.Limits.Memory().String() != "1Gi" {
			return fmt.Errorf("shell pod %s: image %s, stdin %v, limits %v", p.Name, c.Image, c.Stdin, c.Resources.Limits)
		}
		if p.Labels["app.kubernetes.io/managed-by"] != "webservice" || p.Labels["toolforge"] != "tool" {
			return fmt.Errorf("shell pod labels %v", p.Labels)
		}
		return nil
	})
	n := 0
	testcluster.Eventually(t, 30*time.Second, func() error {
		n++
		line := fmt.Sprintf("2026-01-01T00:00:00.000000000Z stdout F prompt %d$\n", n)
		f, err := os.OpenFile(screen, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString(line)
		f.Close()
		if err != nil {
			return err
		}
		if !strings.Contains(stdout.String(), "prompt ") {
			return fmt.Errorf("nothing on the terminal yet: %q (stderr %q)", stdout.String(), stderr.String())
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitCode(err); code != 130 || !strings.Contains(stderr.String(), "interrupted; the shell pod was removed") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the shell did not end on SIGINT")
	}
	if !strings.Contains(stderr.String(), podName) {
		t.Errorf("stderr does not name the pod %s: %q", podName, stderr)
	}
	eventuallyNoShellPods(t, tool)
}

func TestShellRemovesItsPodWhenAttachFails(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-shellfail"] // no ClusterAttach: kwok refuses to attach
	r := run(t, tool, webservice, "shell")
	if r.Code != 1 || !strings.Contains(r.Stderr, "error: attach to ws-shellfail-shell-") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	eventuallyNoShellPods(t, tool)
}
