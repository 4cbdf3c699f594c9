package jobs_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// giveLogs makes kwok serve the lines as the logs of every container
// named container in the tool's namespace (as a kubelet would serve a
// container's output), in the CRI log format.
func giveLogs(t *testing.T, tool, container string, lines ...string) {
	t.Helper()
	var b strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&b, "2026-01-01T00:00:%02d.000000000Z stdout F %s\n", i, l)
	}
	file := filepath.Join(t.TempDir(), container+".log")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {name: %s-%s}
spec:
  selector: {matchNamespaces: [tool-%s]}
  logs: [{containers: [%s], logsFile: %q}]
`, tool, container, tool, container, file)
	cmd := exec.Command("kubectl", "--kubeconfig", cluster.Kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply ClusterLogs: %v\n%s", err, out)
	}
}

func TestLogsStreamThePodsLogsThroughTheAPIServer(t *testing.T) {
	f := setup(t)
	const tool = "talker"
	giveLogs(t, tool, "chatty", "first line", "second line", "third line")
	f.ok(t, tool, "jobs", "run", "chatty", "--command", "./chat", "--image", "python3.11", "--continuous")
	testcluster.Eventually(t, time.Minute, func() error {
		r := f.toolforge(t, tool, nil, "jobs", "logs", "chatty")
		if r.Stdout != "first line\nsecond line\nthird line\n" {
			return fmt.Errorf("logs: %s", r)
		}
		return nil
	})
	if r := f.ok(t, tool, "jobs", "logs", "chatty", "-l", "1"); r.Stdout != "third line\n" {
		t.Fatalf("logs -l 1 = %q", r.Stdout)
	}

	// -f keeps the stream open: the lines arrive, and the command runs on
	// until stopped.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.CLI, "jobs", "logs", "chatty", "-f")
	cmd.Env = f.Tools[tool].Env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait reaps the command whenever it ends; ProcessState is only set
	// by Wait, so it is what says whether the command ended.
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	sc := bufio.NewScanner(out)
	var got []string
	for len(got) < 3 && sc.Scan() {
		got = append(got, sc.Text())
	}
	if strings.Join(got, "|") != "first line|second line|third line" {
		t.Fatalf("logs -f: %q", got)
	}
	// Still streaming a second after the last line: -f does not end when
	// the lines so far are out.
	select {
	case err := <-ended:
		t.Fatalf("logs -f ended by itself: %v", err)
	case <-time.After(time.Second):
	}
	_ = cmd.Process.Kill()
	if err := <-ended; err == nil {
		t.Fatal("logs -f exited with success after being killed")
	}
}

func TestAJobWithoutLogsSaysSo(t *testing.T) {
	f := setup(t)
	const tool = "talker"
	// A scheduled job that has not run has no pods, so no logs.
	f.ok(t, tool, "jobs", "run", "later", "--command", "./later", "--image", "bookworm", "--schedule", "@yearly")
	r := f.toolforge(t, tool, nil, "jobs", "logs", "later")
	if r.Code != 1 || !strings.Contains(r.Stderr, "Job 'later' does not have any logs available") {
		t.Fatalf("logs of a job without pods: %s", r)
	}
	if r := f.toolforge(t, tool, nil, "jobs", "logs", "ghost"); r.Code != 1 || !strings.Contains(r.Stderr, "Job 'ghost' does not exist") {
		t.Fatalf("logs of no job: %s", r)
	}
}

func TestListAndShowWarnWhenTheRunningObjectDriftedFromTheDefinition(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	const tool, ns = "drifter", "tool-drifter"
	f.ok(t, tool, "jobs", "run", "web", "--command", "./serve", "--image", "python3.11", "--continuous")
	// A hand edit with kubectl, as the tool itself may do.
	patch := []byte(`{"spec":{"replicas":2}}`)
	kube, err := f.Tools[tool].Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		r := f.ok(t, tool, "jobs", "list")
		if !strings.Contains(r.Stderr, `warning: job 'web': replicas is "2" but the job definition says "1"`) {
			return fmt.Errorf("list does not warn: %s", r)
		}
		return nil
	})
	if show := f.ok(t, tool, "jobs", "show", "web").Stdout; !strings.Contains(show, "Differs from its definition") {
		t.Fatalf("show does not say:\n%s", show)
	}
	// What list and dump report is what was asked for, not what runs.
	if dump := f.ok(t, tool, "jobs", "dump").Stdout; strings.Contains(dump, "replicas") {
		t.Fatalf("dump reports the drifted replicas:\n%s", dump)
	}
	// load puts the definition back.
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	if err := os.WriteFile(file, []byte(f.ok(t, tool, "jobs", "dump").Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := f.ok(t, tool, "jobs", "load", file); r.Stdout != "Job 'web' updated\n" {
		t.Fatalf("load over a drifted job: %s", r)
	}
	var dep *appsv1.Deployment
	if dep, err = cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || *dep.Spec.Replicas != 1 {
		t.Fatalf("replicas after load: %v %v", err, dep)
	}
}
