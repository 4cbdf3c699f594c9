package jobs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

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
