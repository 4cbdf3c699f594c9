package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/jobs"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

func TestRunListShowAndDeleteEachKindOfJob(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	const tool, ns = "kinds", "tool-kinds"
	f.ok(t, tool, "jobs", "run", "once", "--command", "echo hello", "--image", "bookworm", "--retry", "2")
	f.ok(t, tool, "jobs", "run", "nightly", "--command", "./backup.sh", "--image", "python3.11", "--schedule", "@daily", "--mem", "1Gi")
	f.ok(t, tool, "jobs", "run", "web", "--command", "./serve", "--image", "node20", "--continuous", "--port", "8000",
		"--replicas", "2", "--health-check-http", "/healthz")

	// What the cluster holds.
	job, err := cluster.Client.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *job.Spec.BackoffLimit != 2 || job.Labels["app.kubernetes.io/component"] != "jobs" || job.Labels["app.kubernetes.io/created-by"] != tool {
		t.Fatalf("one-off job: backoffLimit %d, labels %v", *job.Spec.BackoffLimit, job.Labels)
	}
	cron, err := cluster.Client.BatchV1().CronJobs(ns).Get(ctx, "nightly", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cron.Spec.Schedule != jobs.ActualSchedule(tool, "nightly", "@daily") || cron.Spec.ConcurrencyPolicy != "Forbid" {
		t.Fatalf("cronjob schedule %q policy %q", cron.Spec.Schedule, cron.Spec.ConcurrencyPolicy)
	}
	if got := cron.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String(); got != "1Gi" {
		t.Fatalf("cronjob memory limit %s", got)
	}
	dep, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 2 || dep.Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Fatalf("deployment %+v", dep.Spec)
	}
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || svc.Spec.Ports[0].Port != 8000 || svc.Spec.Type != "ClusterIP" {
		t.Fatalf("service: %v %+v", err, svc)
	}
	// Pods of the continuous job start (with the security settings Pod
	// Security "restricted" demands, or the API server would refuse them).
	testcluster.Eventually(t, time.Minute, func() error {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=web"})
		if err != nil {
			return err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == "Running" {
				running++
			}
		}
		if running != 2 {
			return fmt.Errorf("%d of 2 pods running", running)
		}
		return nil
	})

	list := f.ok(t, tool, "jobs", "list").Stdout
	for _, want := range []string{"Job name:", "once", "normal", "nightly", "schedule: @daily", "web", "continuous"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q:\n%s", want, list)
		}
	}
	if names := f.ok(t, tool, "jobs", "list", "-o", "name").Stdout; names != "nightly\nonce\nweb\n" {
		t.Errorf("list -o name = %q", names)
	}
	var asJSON []jobs.Info
	if err := json.Unmarshal([]byte(f.ok(t, tool, "jobs", "list", "-o", "json").Stdout), &asJSON); err != nil || len(asJSON) != 3 {
		t.Fatalf("list -o json: %v %v", asJSON, err)
	}
	if long := f.ok(t, tool, "jobs", "list", "-o", "long").Stdout; !strings.Contains(long, "Health check:") || !strings.Contains(long, "http: /healthz") {
		t.Errorf("list -o long:\n%s", long)
	}
	show := f.ok(t, tool, "jobs", "show", "web").Stdout
	for key, want := range map[string]string{"Job type:": "continuous", "Port:": "8000/tcp", "Replicas:": "2", "Status:": "Running"} {
		if got := row(show, key); got != want {
			t.Errorf("show: %s %q, want %q:\n%s", key, got, want, show)
		}
	}
	if show := f.ok(t, tool, "jobs", "show", "nightly").Stdout; row(show, "Actual schedule:") != cron.Spec.Schedule+" (UTC)" {
		t.Errorf("show of a @daily job does not say when it runs:\n%s", show)
	}

	for _, name := range []string{"once", "nightly", "web"} {
		f.ok(t, tool, "jobs", "delete", name)
	}
	if left := frameworkObjects(t, tool); len(left) != 0 {
		t.Fatalf("left after delete: %v", left)
	}
	if _, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("service of a deleted job: %v", err)
	}
	r := f.toolforge(t, tool, nil, "jobs", "show", "web")
	if r.Code != 1 || !strings.Contains(r.Stderr, "Job 'web' does not exist") {
		t.Fatalf("show of a deleted job: %s", r)
	}
	if r := f.ok(t, tool, "jobs", "list"); r.Stdout != "" {
		t.Fatalf("list after deleting everything: %q", r.Stdout)
	}
}

// --wait SECS takes its value after a space (before or after the job's
// name, as the original's argparse does), after = or not at all.
func TestWaitReturnsTheOutcomeOfAOneOffJob(t *testing.T) {
	f := setup(t)
	for name, wait := range map[string][]string{
		"quick":  {"quick", "--wait", "120"},
		"quick2": {"--wait", "120", "quick2"},
		"quick3": {"--wait=120", "quick3"},
		"quick4": {"quick4", "--wait"},
	} {
		args := append(append([]string{"jobs", "run"}, wait...), "--command", "true", "--image", "bookworm")
		r := f.toolforge(t, "waiter", nil, args...)
		if r.Code != 0 || !strings.Contains(r.Stderr, "Job '"+name+"' completed") {
			t.Fatalf("%v: %s", args, r)
		}
		limit := "2m0s"
		if name == "quick4" {
			limit = "10m0s"
		}
		if !strings.Contains(r.Stderr, "Waiting up to "+limit) {
			t.Errorf("%v waited for the wrong time: %s", args, r)
		}
	}
	if show := f.ok(t, "waiter", "jobs", "show", "quick").Stdout; !strings.Contains(show, "Completed") {
		t.Fatalf("show after --wait:\n%s", show)
	}
}

// Lists are cached between changes: a job's progress must still show.
func TestListFollowsAJobFromStartToCompletion(t *testing.T) {
	f := setup(t)
	f.ok(t, "waiter", "jobs", "run", "later", "--command", "true", "--image", "bookworm")
	first := f.ok(t, "waiter", "jobs", "list").Stdout
	if !strings.Contains(first, "later") {
		t.Fatalf("a job just created is not listed:\n%s", first)
	}
	testcluster.Eventually(t, time.Minute, func() error {
		out := f.ok(t, "waiter", "jobs", "list").Stdout
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "later ") && strings.HasSuffix(line, "Completed") {
				return nil
			}
		}
		return fmt.Errorf("list:\n%s", out)
	})
}

func TestQuotaAndImagesShowTheToolsLimitsAndTheCatalogue(t *testing.T) {
	f := setup(t)
	quota := f.ok(t, "kinds", "jobs", "quota").Stdout
	for _, want := range []string{"Per-job limits", "Memory", "4Gi", "Cron jobs", "50"} {
		if !strings.Contains(quota, want) {
			t.Errorf("quota lacks %q:\n%s", want, quota)
		}
	}
	images := f.ok(t, "kinds", "jobs", "images").Stdout
	for _, want := range []string{"Short name", "Container image URL", "State", "Aliases", "python3.11",
		"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest", "python3.9", "deprecated", "tf-python39", "toolforge-python39-sssd-base"} {
		if !strings.Contains(images, want) {
			t.Errorf("images lacks %q:\n%s", want, images)
		}
	}
}

// A job runs from the catalogue image the original would run, whatever
// name of it was given: short name, alias, image name of either variant,
// full reference; all run the web variant. list and show name the image
// by its short name.
func TestJobsRunTheImageTheOriginalResolvesTheNameTo(t *testing.T) {
	f := setup(t)
	const tool = "imager"
	const py39Web = "docker-registry.tools.wmflabs.org/toolforge-python39-sssd-web:latest"
	names := map[string]string{
		"short":     "python3.9",
		"alias":     "tf-python39",
		"stem":      "toolforge-python39",
		"base":      "toolforge-python39-sssd-base",
		"web":       "toolforge-python39-sssd-web:latest",
		"base-full": "docker-registry.tools.wmflabs.org/toolforge-python39-sssd-base:latest",
	}
	for job, image := range names {
		r := f.ok(t, tool, "jobs", "run", job, "--command", "true", "--image", image, "--schedule", "@daily")
		if !strings.Contains(r.Stderr, "deprecated") {
			t.Errorf("%s: no deprecation warning: %s", image, r)
		}
		cron, err := cluster.Client.BatchV1().CronJobs("tool-"+tool).Get(context.Background(), job, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := cron.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image; got != py39Web {
			t.Errorf("--image %s runs %s, want %s", image, got, py39Web)
		}
		if got := row(f.ok(t, tool, "jobs", "show", job).Stdout, "Image:"); got != "python3.9 (deprecated)" {
			t.Errorf("--image %s shows as %q", image, got)
		}
	}
	f.ok(t, tool, "jobs", "flush", "--yes")
}

func TestTheCLIFindsTheAPIByFlagEnvironmentConfigMapAndCommonYAML(t *testing.T) {
	f := setup(t)
	const tool = "finder"
	dead := "https://127.0.0.1:1" // nothing listens there
	if r := f.toolforge(t, tool, []string{"TOOLFORGE_API_URL=" + dead}, "jobs", "list"); r.Code == 0 || !strings.Contains(r.Stderr, "127.0.0.1:1") {
		t.Fatalf("$TOOLFORGE_API_URL must win over the ConfigMap: %s", r)
	}
	if r := f.toolforge(t, tool, []string{"TOOLFORGE_API_URL=" + dead}, "jobs", "list", "--api-url", f.Server.URL); r.Code != 0 {
		t.Fatalf("--api-url must win over $TOOLFORGE_API_URL: %s", r)
	}
	common := filepath.Join(t.TempDir(), "common.yaml")
	if err := os.WriteFile(common, []byte("api_gateway:\n  url: "+dead+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The tool's cluster publishes its API: that wins over the bastion's
	// common.yaml, which serves tools of every cluster during a migration.
	if r := f.toolforge(t, tool, []string{"TOOLFORGE_COMMON_CONFIG=" + common}, "jobs", "list"); r.Code != 0 {
		t.Fatalf("the ConfigMap must win over common.yaml: %s", r)
	}
	if r := f.toolforge(t, tool, []string{"TOOLFORGE_COMMON_CONFIG=" + common, "TOOLFORGE_API_URL=" + dead}, "jobs", "list"); r.Code == 0 || !strings.Contains(r.Stderr, "127.0.0.1:1") {
		t.Fatalf("$TOOLFORGE_API_URL must win over the ConfigMap and common.yaml: %s", r)
	}
	if r := f.toolforge(t, tool, nil, "jobs", "images"); r.Code != 0 {
		t.Fatalf("the published ConfigMap alone must do: %s", r)
	}
}

// row is the value of key in show's plain output.
func row(show, key string) string {
	for _, line := range strings.Split(show, "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}
