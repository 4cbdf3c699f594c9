package migration

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

func toolNS(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tool-" + name, Labels: tenancy.NamespaceLabels(name, 50001)}}
}

func meta(ns, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: "tool-" + ns, Name: name, Labels: labels}
}

func jobsLabels(name, component string) map[string]string {
	return map[string]string{tenancy.LabelManagedBy: tenancy.ManagedByJobs, tenancy.LabelAppName: name, tenancy.LabelComponent: component}
}

func kubeconfigOn(t *testing.T, root, tool, ctx string) {
	t.Helper()
	dir := filepath.Join(root, tool, ".kube")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := "apiVersion: v1\nkind: Config\ncontexts: [{name: default, context: {cluster: d}}, {name: toolforge, context: {cluster: t}}]\nclusters: [{name: d, cluster: {server: https://d}}, {name: t, cluster: {server: https://t}}]\ncurrent-context: " + ctx + "\n"
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTheReportFilesEachWorkloadUnderItsToolAndKind(t *testing.T) {
	completed := batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	objs := []runtime.Object{
		toolNS("busy"), toolNS("quiet"), toolNS("moved"), toolNS("oldonly"),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		// busy: one of each kind.
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "tool-busy", Name: "busy", Labels: map[string]string{tenancy.LabelManagedBy: tenancy.ManagedByWeb},
			Annotations: map[string]string{"toolforge.org/webservice-type": "php8.2"}}},
		&appsv1.Deployment{ObjectMeta: meta("busy", "bot", jobsLabels("bot", tenancy.ComponentDeploy))},
		&appsv1.Deployment{ObjectMeta: meta("busy", "custom", nil)},
		&batchv1.CronJob{ObjectMeta: meta("busy", "nightly", jobsLabels("nightly", tenancy.ComponentCron))},
		&batchv1.CronJob{ObjectMeta: meta("busy", "handmade", nil)},
		&batchv1.Job{ObjectMeta: meta("busy", "running", jobsLabels("running", tenancy.ComponentJobs))},
		&batchv1.Job{ObjectMeta: meta("busy", "finished", jobsLabels("finished", tenancy.ComponentJobs)), Status: completed},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "tool-busy", Name: "nightly-123", Labels: jobsLabels("nightly", tenancy.ComponentCron),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "nightly", UID: "u", Controller: ptr.To(true)}}}},
		&appsv1.StatefulSet{ObjectMeta: meta("busy", "db", nil)},
		&corev1.Pod{ObjectMeta: meta("busy", "bare", nil), Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&corev1.Pod{ObjectMeta: meta("busy", "done", nil), Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "tool-busy", Name: "owned", OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", UID: "r"}}}},
		// Not a tool's: never reported.
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns"}},
	}
	toObjs := []runtime.Object{toolNS("busy"), toolNS("quiet"), toolNS("moved")}
	homes := t.TempDir()
	kubeconfigOn(t, homes, "busy", "default")
	kubeconfigOn(t, homes, "quiet", "default")
	kubeconfigOn(t, homes, "moved", "toolforge")
	kubeconfigOn(t, homes, "oldonly", "default")
	rep, err := BuildReport(context.Background(), ReportOptions{
		From: "default", To: "toolforge", FromKube: fake.NewClientset(objs...), ToKube: fake.NewClientset(toObjs...), HomeRoot: homes, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ToolReport{}
	for _, tr := range rep.Tools {
		got[tr.Tool] = tr
	}
	busy := got["busy"]
	if busy.State != StatePending || busy.Webservice != "php8.2" || !eq(busy.Scheduled, "nightly") || !eq(busy.Continuous, "bot") ||
		!eq(busy.OneOff, "running") || !eq(busy.Other, "cronjob/handmade", "deployment/custom", "pod/bare", "statefulset/db") {
		t.Fatalf("busy: %+v", busy)
	}
	for name, state := range map[string]string{"quiet": StateIdle, "moved": StateDone, "oldonly": StateUnprovisioned} {
		if got[name].State != state || got[name].Left() {
			t.Errorf("%s: %+v, want %s with nothing left", name, got[name], state)
		}
	}
	if len(rep.Tools) != 4 || rep.Totals.States[StatePending] != 1 || rep.Totals.Other != 4 || rep.Totals.OneOff != 1 {
		t.Fatalf("totals %+v", rep.Totals)
	}
}

func eq(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
