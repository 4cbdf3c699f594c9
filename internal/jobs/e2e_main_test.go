package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

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
var toolNames = []string{"kinds", "loader", "restarter", "strict", "talker", "waiter", "finder", "drifter", "other"}

type fixture struct {
	tools  map[string]*testcluster.Tool
	server *apitest.Server
	cli    string
}

var (
	once    sync.Once
	shared  *fixture
	initErr error
)

func setup(t *testing.T) *fixture {
	t.Helper()
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		f := &fixture{}
		if f.cli, initErr = testcluster.BuildBinary("toolforge"); initErr != nil {
			return
		}
		if f.tools, initErr = cluster.ProvisionTools(ctx, toolNames...); initErr != nil {
			return
		}
		f.server, initErr = apitest.Start(ctx, cluster)
		shared = f
	})
	if initErr != nil {
		t.Fatal(initErr)
	}
	return shared
}

// result is a finished CLI run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// toolforge runs the CLI as tool; env adds variables.
func (f *fixture) toolforge(t *testing.T, tool string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.cli, args...)
	cmd.Env = append(f.tools[tool].Env(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("toolforge %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// ok runs the CLI and fails the test unless it exits 0.
func (f *fixture) ok(t *testing.T, tool string, args ...string) result {
	t.Helper()
	r := f.toolforge(t, tool, nil, args...)
	if r.code != 0 {
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
