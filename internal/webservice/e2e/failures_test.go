package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// syncBuffer is a bytes.Buffer a running command writes while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// background starts a binary as the tool and returns it running.
func background(t *testing.T, tool *testcluster.Tool, bin string, args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = tool.Env(), tool.Home
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &stdout, &stderr
}

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// The seeds' known issue: `webservice restart` failed with a traceback,
// "object is being deleted: deployments "$tool" already exists", when the
// previous Deployment was still being deleted. Here a finalizer holds the
// previous instance's pod, so its Deployment stays on its way out; start
// must wait, say so, and then start.
func TestStartWaitsForAPreviousInstanceStillBeingDeleted(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-wait"]
	ctx := context.Background()
	mustRun(t, tool, "Starting webservice\n", webservice, "python3.11", "start")
	pod := runningPods(t, tool, 1)[0]
	hold := []byte(`{"metadata":{"finalizers":["e2e.toolforge.org/hold"]}}`)
	if _, err := cluster.Client.CoreV1().Pods(tool.Namespace).Patch(ctx, pod, types.MergePatchType, hold, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	release := func() {
		_, _ = cluster.Client.CoreV1().Pods(tool.Namespace).Patch(ctx, pod, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}
	t.Cleanup(release)
	// The tool deletes its Deployment the way that keeps it until its pods are gone.
	if _, err := testcluster.Kubectl(ctx, tool.Kubeconfig, "delete", "deployment", tool.Name, "--cascade=foreground", "--wait=false"); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		if o := objects(t, tool); o.dep == nil || o.dep.DeletionTimestamp == nil {
			return errors.New("the deployment is not on its way out")
		}
		return nil
	})
	mustRun(t, tool, "webservice is not running\n", webservice, "status")

	mark, err := cluster.AuditMark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cmd, stdout, stderr := background(t, tool, webservice, "start")
	testcluster.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(stderr.String(), "Waiting for the previous webservice to finish stopping...") {
			return fmt.Errorf("stderr so far %q", stderr.String())
		}
		return nil
	})
	// While it waits, start writes nothing of the web service: every
	// request it made before saying so is in the audit log by now.
	writes, err := cluster.AuditEventsSince(ctx, mark, func(e testcluster.AuditEvent) bool {
		return e.User.Username == tool.Name && e.ObjectRef.Namespace == tool.Namespace
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(writes) != 0 {
		t.Fatalf("start wrote while waiting for the previous deployment: %v", writes)
	}
	if o := objects(t, tool); o.dep == nil || o.dep.DeletionTimestamp == nil {
		t.Fatal("start did not wait for the previous deployment")
	}
	release()
	code := exitCode(cmd.Wait())
	t.Logf("start → exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	if code != 0 || stdout.String() != "Starting webservice\n" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, bad := range []string{"being deleted", "already exists", "Traceback", "error"} {
		if strings.Contains(stderr.String(), bad) {
			t.Errorf("stderr has %q: %s", bad, stderr)
		}
	}
	mustRun(t, tool, "webservice of type python3.11 is running\n", webservice, "status")
	runningPods(t, tool, 1)
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")
}

// filler is a workload of the tool's own that uses up part of its quota:
// as few CPU and memory as its limit range allows, so that it is the
// count that runs out.
func fillerTemplate() corev1.PodTemplateSpec {
	small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("100Mi")}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "filler"}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "main", Image: pythonWeb,
				Resources:       corev1.ResourceRequirements{Requests: small, Limits: small},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
}

// Nothing half-made: when the cluster refuses a later part of a start (the
// Deployment, or its pods), what start already made is removed again.
func TestStartRollsBackWhenTheClusterRefusesPartOfIt(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-quota"]
	kube, err := tool.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	noManifest := func() {
		t.Helper()
		if _, err := os.Stat(filepath.Join(tool.Home, "service.manifest")); !os.IsNotExist(err) {
			t.Errorf("a failed start wrote the manifest (%v)", err)
		}
	}

	t.Run("the deployment quota is used up", func(t *testing.T) {
		for i := range 3 {
			dep := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("filler-%d", i)},
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(0)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "filler"}},
					Template: fillerTemplate()},
			}
			if _, err := kube.AppsV1().Deployments(tool.Namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		defer deleteAll(t, kube, tool.Namespace, "deployments")
		quotaRecounted(t, tool, "count/deployments.apps", 3, func(name string) error {
			dep := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(0)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "sentinel"}},
					Template: sentinelTemplate()},
			}
			if _, err := kube.AppsV1().Deployments(tool.Namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
				return err
			}
			return kube.AppsV1().Deployments(tool.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		})
		r := run(t, tool, webservice, "python3.11", "start")
		if r.Code != 1 || !strings.Contains(r.Stderr, "exceeded quota") || !strings.Contains(r.Stderr, "nothing was left running") {
			t.Errorf("exit %d, stderr %q; want the quota named and the rollback said", r.Code, r.Stderr)
		}
		assertNoWebObjects(t, tool)
		noManifest()
	})

	t.Run("the pod quota is used up", func(t *testing.T) {
		// The start below must be refused for its pods, not its
		// Deployment: wait until the deletions above are counted (only
		// a recount lowers a count, and every later one sees them too).
		quotaCounts(t, tool, "count/deployments.apps", 0)
		for i := range 4 {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("filler-%d", i)}, Spec: fillerTemplate().Spec}
			if _, err := kube.CoreV1().Pods(tool.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		defer deleteAll(t, kube, tool.Namespace, "pods")
		fillersRunning(t, tool)
		quotaRecounted(t, tool, corev1.ResourcePods, 4, func(name string) error {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: sentinelTemplate().Spec}
			if _, err := kube.CoreV1().Pods(tool.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				return err
			}
			return kube.CoreV1().Pods(tool.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		})
		r := run(t, tool, webservice, "python3.11", "start")
		if r.Code != 1 || !strings.Contains(r.Stderr, "the cluster refused its pods") || !strings.Contains(r.Stderr, "exceeded quota") ||
			!strings.Contains(r.Stderr, "nothing was left running") {
			t.Errorf("exit %d, stderr %q; want the refused pods named and the rollback said", r.Code, r.Stderr)
		}
		assertNoWebObjects(t, tool)
		noManifest()
	})
}

// quotaRecounted returns once the quota controller has counted the n
// objects of resource the test made, for good. The API server's quota
// admission adds each object to the quota's use as it is created, but the
// controller recounts from its informers, and a recount that began before
// its informer saw the last object writes a lower count afterwards (and
// nothing recounts again for minutes), which would let one more through.
// A sentinel, made after the objects and deleted again (churn, with the
// quota raised by one for it), shows a recount that saw them all:
// admission never lowers a count, so it falls back to n only by a recount
// whose view holds every object made before the sentinel. Recounts of a
// quota run one at a time, each from a later view than the one before, so
// none after that one counts fewer. The quota's hard limit is put back as
// it was, and waited for, the same way.
func quotaRecounted(t *testing.T, tool *testcluster.Tool, res corev1.ResourceName, n int, churn func(name string) error) {
	t.Helper()
	setHard := func(v int) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"hard":{%q:"%d"}}}`, res, v)
		if _, err := cluster.Client.CoreV1().ResourceQuotas(tool.Namespace).Patch(context.Background(), tool.Namespace, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		quotaSays(t, tool, func(q *corev1.ResourceQuota) *resource.Quantity { h := q.Status.Hard[res]; return &h }, "allows", res, v)
	}
	setHard(n + 1)
	if err := churn("sentinel"); err != nil {
		t.Fatalf("sentinel: %v", err)
	}
	quotaCounts(t, tool, res, n)
	setHard(n)
}

// quotaCounts waits until the tool's quota counts n of resource.
func quotaCounts(t *testing.T, tool *testcluster.Tool, res corev1.ResourceName, n int) {
	t.Helper()
	quotaSays(t, tool, func(q *corev1.ResourceQuota) *resource.Quantity { u := q.Status.Used[res]; return &u }, "counts", res, n)
}

func quotaSays(t *testing.T, tool *testcluster.Tool, field func(*corev1.ResourceQuota) *resource.Quantity, what string, name corev1.ResourceName, n int) {
	t.Helper()
	testcluster.Eventually(t, 30*time.Second, func() error {
		q, err := cluster.Client.CoreV1().ResourceQuotas(tool.Namespace).Get(context.Background(), tool.Namespace, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if v := field(q); v.Value() != int64(n) {
			return fmt.Errorf("quota %s %s %s, want %d", what, v.String(), name, n)
		}
		return nil
	})
}

// fillersRunning waits until every filler pod runs.
func fillersRunning(t *testing.T, tool *testcluster.Tool) {
	t.Helper()
	testcluster.Eventually(t, 30*time.Second, func() error {
		pods, err := cluster.Client.CoreV1().Pods(tool.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "app=filler"})
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("filler %s is %s", p.Name, p.Status.Phase)
			}
		}
		return nil
	})
}

// sentinelTemplate is a filler's template under another label.
func sentinelTemplate() corev1.PodTemplateSpec {
	tmpl := fillerTemplate()
	tmpl.Labels = map[string]string{"app": "sentinel"}
	return tmpl
}

func deleteAll(t *testing.T, kube kubernetes.Interface, ns, what string) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch what {
	case "deployments":
		err = kube.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: ""})
	case "pods":
		err = kube.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}, metav1.ListOptions{LabelSelector: "app=filler"})
	}
	if err != nil {
		t.Fatal(err)
	}
}
