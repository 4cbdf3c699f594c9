package admincli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/nodeops"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

const dsNamespace = "node-agents"

// workloads are alpha's Deployment web (two pods, on the real nodes,
// through admission) and a DaemonSet of the platform's on every node.
func (f *fixture) workloads(t *testing.T) {
	t.Helper()
	ctx := testContext(t)
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "toolforge.org/mount-storage": "none"}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"type": "real"},
					Containers:   []corev1.Container{{Name: "main", Image: image, Command: []string{"sleep", "infinity"}}},
				},
			},
		},
	}
	if _, err := f.alphaKube.AppsV1().Deployments(f.alpha.Namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dsNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{
					NodeSelector:                  map[string]string{"type": "real"},
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers:                    []corev1.Container{{Name: "main", Image: image, Command: []string{"sleep", "infinity"}}},
				},
			},
		},
	}
	if _, err := cluster.Client.AppsV1().DaemonSets(dsNamespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 4*time.Minute, func() error {
		if n := len(runningPods(t, f.alpha.Namespace, "app=web")); n != 2 {
			return fmt.Errorf("%d of alpha's 2 web pods running", n)
		}
		if n := len(runningPods(t, dsNamespace, "app=agent")); n != 2 {
			return fmt.Errorf("%d of 2 agent pods running", n)
		}
		return nil
	})
}

// runningPods are the Running pods (not being deleted) matching selector.
func runningPods(t *testing.T, ns, selector string) []corev1.Pod {
	t.Helper()
	list, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func node(t *testing.T, name string) *corev1.Node {
	t.Helper()
	n, err := cluster.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func otherNode(name string) string {
	if name == "node-1" {
		return "node-2"
	}
	return "node-1"
}

// Drain moves a tool's pods to the other node and leaves DaemonSet pods,
// cordoned; a disruption budget that forbids eviction stops it with a
// per-pod report; uncordon makes the node schedulable again.
func TestDrainMovesToolPodsAndStopsAtABudget(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	f.workloads(t)
	r := f.admin(t, "node", "list", "-o", "json")
	mustSucceed(t, r, "node list")
	var nodes []nodeops.Node
	if err := json.Unmarshal([]byte(r.stdout), &nodes); err != nil || len(nodes) != 2 || nodes[0].Name != "node-1" || nodes[0].Ready != "True" || nodes[0].Type != "real" || !nodes[0].Schedulable {
		t.Fatalf("node list: %v %+v", err, nodes)
	}
	web := runningPods(t, f.alpha.Namespace, "app=web")
	from := web[0].Spec.NodeName
	to := otherNode(from)
	agentOn := map[string]string{}
	for _, p := range runningPods(t, dsNamespace, "app=agent") {
		agentOn[p.Spec.NodeName] = string(p.UID)
	}

	mark := auditMark(t)
	r = f.admin(t, "node", "drain", from, "--yes", "-o", "json")
	mustSucceed(t, r, "node drain")
	var report nodeops.DrainReport
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("drain report %q: %v", r.stdout, err)
	}
	results := map[string]string{}
	for _, p := range report.Pods {
		results[p.Namespace+"/"+strings.SplitN(p.Name, "-", 2)[0]] += p.Result + " "
	}
	if !report.Complete || !strings.Contains(results["tool-alpha/web"], "evicted") || results[dsNamespace+"/agent"] != "daemonset " {
		t.Errorf("drain report: %+v", report)
	}
	if !strings.Contains(r.stderr, "evicted pod tool-alpha/web-") || !strings.Contains(r.stderr, "node "+from+" drained") {
		t.Errorf("drain progress: %q", r.stderr)
	}
	if !node(t, from).Spec.Unschedulable {
		t.Errorf("node %s is not cordoned", from)
	}
	testcluster.Eventually(t, 3*time.Minute, func() error {
		pods := runningPods(t, f.alpha.Namespace, "app=web")
		for _, p := range pods {
			if p.Spec.NodeName != to {
				return fmt.Errorf("pod %s on %s", p.Name, p.Spec.NodeName)
			}
		}
		if len(pods) != 2 {
			return fmt.Errorf("%d of 2 web pods running", len(pods))
		}
		return nil
	})
	stayed := false
	for _, p := range runningPods(t, dsNamespace, "app=agent") {
		stayed = stayed || (p.Spec.NodeName == from && string(p.UID) == agentOn[from])
	}
	if !stayed {
		t.Errorf("the DaemonSet pod on %s did not stay", from)
	}
	evictions := adminWrites(t, mark, func(e testcluster.AuditEvent) bool { return e.ObjectRef.Subresource == "eviction" })
	if len(evictions) == 0 {
		t.Error("no eviction by alice in the audit log")
	}

	r = f.admin(t, "node", "uncordon", from)
	mustSucceed(t, r, "node uncordon")
	if node(t, from).Spec.Unschedulable || !strings.Contains(r.stderr, "node/"+from+" uncordoned") {
		t.Errorf("node %s after uncordon: %q", from, r.stderr)
	}
	r = f.admin(t, "node", "uncordon", from)
	if r.code != 0 || !strings.Contains(r.stderr, "already uncordoned") {
		t.Errorf("a second uncordon: %s", r)
	}

	// A budget that allows no disruption: both web pods are on `to` now.
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	if _, err := f.alphaKube.PolicyV1().PodDisruptionBudgets(f.alpha.Namespace).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = f.alphaKube.PolicyV1().PodDisruptionBudgets(f.alpha.Namespace).Delete(context.Background(), "web", metav1.DeleteOptions{})
		f.admin(t, "node", "uncordon", to)
	}()
	testcluster.Eventually(t, time.Minute, func() error {
		p, err := cluster.Client.PolicyV1().PodDisruptionBudgets(f.alpha.Namespace).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.ObservedGeneration != p.Generation || p.Status.CurrentHealthy != 2 {
			return fmt.Errorf("budget not computed yet: %+v", p.Status)
		}
		return nil
	})
	before := runningPods(t, f.alpha.Namespace, "app=web")
	r = f.admin(t, "node", "drain", to, "--yes", "--timeout", "5s")
	if r.code != 1 || !strings.Contains(r.stderr, "2 pods of node "+to+" could not be evicted within 5s; the node stays cordoned") {
		t.Fatalf("drain against a budget: %s", r)
	}
	for _, p := range before {
		line := lineWith(r.stdout, p.Name)
		if !strings.Contains(line, "left") || !strings.Contains(line, "disruption budget web needs 2 healthy pods") {
			t.Errorf("report line of %s: %q\n%s", p.Name, line, r.stdout)
		}
	}
	if after := runningPods(t, f.alpha.Namespace, "app=web"); len(after) != 2 || after[0].UID != before[0].UID && after[0].UID != before[1].UID {
		t.Errorf("the budget's pods were touched: %v", after)
	}
}

func lineWith(text, needle string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, needle) {
			return l
		}
	}
	return ""
}

// The rolling reboot: drain, restart through devcluster, Ready again,
// uncordon; a failing reboot step stops it, with the rest untouched.
func TestRebootRestartsNodesOneAtATimeAndStopsAtAFailure(t *testing.T) {
	f := setup(t)
	f.workloads(t)

	r := f.admin(t, "node", "reboot", "node-1", "--yes")
	if r.code != 2 || !strings.Contains(r.stderr, "--reboot-command") {
		t.Fatalf("reboot without a command: %s", r)
	}

	// A reboot step that fails: node-2 is drained and stays cordoned,
	// node-1 is not touched.
	onNode1 := map[string]bool{}
	for _, p := range runningPods(t, dsNamespace, "app=agent") {
		if p.Spec.NodeName == "node-1" {
			onNode1[string(p.UID)] = true
		}
	}
	r = f.admin(t, "node", "reboot", "node-2", "node-1", "--reboot-command", "exit 3", "--yes", "-o", "json")
	if r.code != 1 || !strings.Contains(r.stderr, "node node-2: reboot failed") || !strings.Contains(r.stderr, "not rebooted: node-1") {
		t.Fatalf("reboot with a failing command: %s", r)
	}
	var results []nodeops.RebootResult
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil || len(results) != 1 || results[0].Node != "node-2" || results[0].Done || results[0].Step != "reboot" {
		t.Fatalf("results: %v %+v", err, results)
	}
	if !node(t, "node-2").Spec.Unschedulable || node(t, "node-1").Spec.Unschedulable {
		t.Error("want node-2 cordoned and node-1 untouched")
	}
	mustSucceed(t, f.admin(t, "node", "uncordon", "node-2"), "uncordon node-2")

	bootBefore := node(t, "node-1").Status.NodeInfo.BootID
	r = f.admin(t, "node", "reboot", "--all-workers", "--selector", "kubernetes.io/hostname=node-1",
		"--reboot-command", "devcluster node restart --dir "+cluster.Dir+" {node}", "--yes", "-o", "json")
	mustSucceed(t, r, "node reboot")
	results = nil
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil || len(results) != 1 || !results[0].Done || results[0].Node != "node-1" {
		t.Fatalf("results: %v %+v", err, results)
	}
	for _, want := range []string{"[1/1] rebooting node node-1", "restarting node node-1", "node node-1 is Ready", "node node-1 rebooted and uncordoned"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, r.stderr)
		}
	}
	n := node(t, "node-1")
	if n.Spec.Unschedulable {
		t.Error("node-1 left cordoned")
	}
	_ = bootBefore // devcluster's nodes share the host's boot id; the kubelet's restart is what is waited for
	// Every process of the node ended: the DaemonSet's pod there runs again
	// in a new container (the kubelet restarts it, same pod).
	testcluster.Eventually(t, 3*time.Minute, func() error {
		if n := len(runningPods(t, f.alpha.Namespace, "app=web")); n != 2 {
			return fmt.Errorf("%d of alpha's 2 web pods running", n)
		}
		for _, p := range runningPods(t, dsNamespace, "app=agent") {
			if p.Spec.NodeName == "node-1" && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount > 0 {
				return nil
			}
			if p.Spec.NodeName == "node-1" && !onNode1[string(p.UID)] {
				return nil
			}
		}
		return fmt.Errorf("the agent on node-1 was not restarted by the reboot")
	})
}
