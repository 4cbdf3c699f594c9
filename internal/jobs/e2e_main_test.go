package jobs_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/api/apitest"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// The end-to-end tests run the real `toolforge` CLI as a tool (HOME = its
// home, its own certificate) against the real `toolforged api`, which runs
// as its least-privilege ServiceAccount on a devcluster. The CLI finds the
// API as on a fresh bastion: through the ConfigMap the API publishes.

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{}, &cluster) }

// Each test has a tool of its own, so that their jobs do not meet.
var toolNames = []string{"kinds", "loader", "restarter", "strict", "talker", "waiter", "finder", "drifter", "other", "imager", "keeper", "dryrun", "original"}

// fixture is the package's shared tools, API server and CLI.
type fixture struct{ *apitest.Env }

// The API runs without a mail server (--smtp-server): --emails other than
// none is refused (the notifier is tested on real nodes).
var shared apitest.Shared

func setup(t *testing.T) fixture {
	t.Helper()
	return fixture{shared.Get(t, cluster, toolNames...)}
}

// result is a finished CLI run.
type result = testcluster.Result

// toolforge runs the CLI as tool; env adds variables.
func (f fixture) toolforge(t *testing.T, tool string, env []string, args ...string) result {
	t.Helper()
	return f.Toolforge(t, tool, "", env, args...)
}

// ok runs the CLI and fails the test unless it exits 0.
func (f fixture) ok(t *testing.T, tool string, args ...string) result {
	t.Helper()
	r := f.toolforge(t, tool, nil, args...)
	if r.Code != 0 {
		t.Fatalf("toolforge %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// frameworkObjects lists, as the admin, what the jobs framework made in
// tool's namespace: kind/name of Jobs, CronJobs, Deployments, Services.
func frameworkObjects(t *testing.T, tool string) []string {
	t.Helper()
	ctx := context.Background()
	ns := "tool-" + tool
	opts := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=toolforge-jobs-framework"}
	var out []string
	jobs, err := cluster.Client.BatchV1().Jobs(ns).List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range jobs.Items {
		if o.DeletionTimestamp == nil {
			out = append(out, "job/"+o.Name)
		}
	}
	crons, err := cluster.Client.BatchV1().CronJobs(ns).List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range crons.Items {
		out = append(out, "cronjob/"+o.Name)
	}
	deps, err := cluster.Client.AppsV1().Deployments(ns).List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range deps.Items {
		out = append(out, "deployment/"+o.Name)
	}
	svcs, err := cluster.Client.CoreV1().Services(ns).List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range svcs.Items {
		out = append(out, "service/"+o.Name)
	}
	return out
}
