package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/jobs"
)

// definitions are the jobs as the user defined them (list -o json without
// the status fields).
func definitions(t *testing.T, f fixture, tool string) map[string]jobs.Job {
	t.Helper()
	var list []jobs.Info
	if err := json.Unmarshal([]byte(f.ok(t, tool, "jobs", "list", "-o", "json").Stdout), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]jobs.Job{}
	for _, j := range list {
		out[j.Name] = j.Job
	}
	return out
}

// versions are the resourceVersions of the tool's framework objects: equal
// versions mean nothing was written.
func versions(t *testing.T, tool string) map[string]string {
	t.Helper()
	ctx := context.Background()
	ns := "tool-" + tool
	opts := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=toolforge-jobs-framework,app.kubernetes.io/component!=cronjobs"}
	out := map[string]string{}
	jl, _ := cluster.Client.BatchV1().Jobs(ns).List(ctx, opts)
	for _, o := range jl.Items {
		// The job controller writes a Job's status as its pod runs (kwok
		// completes them at any moment); a load that changes a one-off
		// job replaces it (a new uid), or would change its spec.
		out["job/"+o.Name] = fmt.Sprint(o.UID, " generation ", o.Generation)
	}
	cl, _ := cluster.Client.BatchV1().CronJobs(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=toolforge-jobs-framework"})
	for _, o := range cl.Items {
		out["cronjob/"+o.Name] = o.ResourceVersion
	}
	dl, _ := cluster.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=toolforge-jobs-framework"})
	for _, o := range dl.Items {
		// The deployment controller writes status; the spec's generation
		// is what load would change.
		out["deployment/"+o.Name] = fmt.Sprint("generation ", o.Generation)
	}
	sl, _ := cluster.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=toolforge-jobs-framework"})
	for _, o := range sl.Items {
		out["service/"+o.Name] = o.ResourceVersion
	}
	return out
}

func TestDumpFlushLoadRestoresTheSameJobsAndASecondLoadChangesNothing(t *testing.T) {
	f := setup(t)
	const tool = "loader"
	f.ok(t, tool, "jobs", "run", "sleeper", "--command", "sleep 600", "--image", "bookworm", "--filelog", "--timeout", "900")
	f.ok(t, tool, "jobs", "run", "hourly", "--command", "./tick.sh", "--image", "php8.2", "--schedule", "17 * * * *", "--retry", "1", "--no-filelog")
	f.ok(t, tool, "jobs", "run", "daemon", "--command", "./daemon", "--image", "golang1.21", "--continuous", "--cpu", "0.5",
		"--port", "5353/udp", "--health-check-script", "pgrep daemon")
	before := definitions(t, f, tool)
	if len(before) != 3 {
		t.Fatalf("before: %v", before)
	}

	file := filepath.Join(t.TempDir(), "jobs.yaml")
	f.ok(t, tool, "jobs", "dump", "-f", file)
	f.ok(t, tool, "jobs", "flush")
	if left := frameworkObjects(t, tool); len(left) != 0 {
		t.Fatalf("left after flush: %v", left)
	}
	f.ok(t, tool, "jobs", "load", file)
	if after := definitions(t, f, tool); !reflect.DeepEqual(before, after) {
		t.Fatalf("load did not restore the dumped jobs:\nbefore %+v\nafter  %+v", before, after)
	}

	loaded := versions(t, tool)
	r := f.ok(t, tool, "jobs", "load", file)
	if again := versions(t, tool); !reflect.DeepEqual(loaded, again) {
		t.Fatalf("a second load wrote objects:\nbefore %v\nafter  %v", loaded, again)
	}
	if strings.Count(r.Stdout, "is already up to date") != 3 {
		t.Fatalf("second load: %s", r)
	}

	// --job loads one job of the file and leaves the others alone, even
	// those the file does not have.
	data, _ := os.ReadFile(file)
	changed := strings.Replace(string(data), "./tick.sh", "./tock.sh", 1)
	changedFile := filepath.Join(t.TempDir(), "changed.yaml")
	if err := os.WriteFile(changedFile, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	f.ok(t, tool, "jobs", "run", "extra", "--command", "true", "--image", "bookworm", "--schedule", "@weekly")
	beforeOne := versions(t, tool)
	f.ok(t, tool, "jobs", "load", changedFile, "--job", "hourly")
	afterOne := versions(t, tool)
	for k, v := range beforeOne {
		if k == "cronjob/hourly" {
			if afterOne[k] == v {
				t.Errorf("hourly was not updated")
			}
		} else if afterOne[k] != v {
			t.Errorf("--job hourly changed %s", k)
		}
	}
	if got := definitions(t, f, tool)["hourly"].Command; got != "./tock.sh" {
		t.Fatalf("hourly's command after load --job: %q", got)
	}
	// Without --job, the jobs the file lacks stay; --replace removes them.
	f.ok(t, tool, "jobs", "load", changedFile)
	if _, ok := definitions(t, f, tool)["extra"]; !ok {
		t.Fatal("load deleted a job that is not in the file")
	}
	if r := f.toolforge(t, tool, nil, "jobs", "load", changedFile, "--replace"); r.Code != 2 || !strings.Contains(r.Stderr, "extra") {
		t.Fatalf("--replace off a terminal without --yes must name what it would delete and refuse: %s", r)
	}
	if _, ok := definitions(t, f, tool)["extra"]; !ok {
		t.Fatal("a refused --replace deleted a job")
	}
	if r := f.ok(t, tool, "jobs", "load", changedFile, "--replace", "--yes"); !strings.Contains(r.Stdout, "Job 'extra' deleted") {
		t.Fatalf("--replace --yes: %s", r)
	}
	if _, ok := definitions(t, f, tool)["extra"]; ok {
		t.Fatal("load --replace kept a job that is not in the file")
	}
	if r := f.toolforge(t, tool, nil, "jobs", "load", changedFile, "--job", "nosuchjob"); r.Code != 2 {
		t.Fatalf("--job naming no job of the file: %s", r)
	}
}

func TestLoadReplacesAJobThatChangedKind(t *testing.T) {
	f := setup(t)
	const tool = "loader"
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	if err := os.WriteFile(file, []byte("- {name: shifty, command: ./run, image: bookworm, schedule: '@hourly'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.ok(t, tool, "jobs", "load", file, "--job", "shifty")
	if err := os.WriteFile(file, []byte("- {name: shifty, command: ./run, image: bookworm, continuous: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.ok(t, tool, "jobs", "load", file, "--job", "shifty")
	ctx := context.Background()
	if _, err := cluster.Client.AppsV1().Deployments("tool-loader").Get(ctx, "shifty", metav1.GetOptions{}); err != nil {
		t.Fatalf("no deployment after turning shifty continuous: %v", err)
	}
	if _, err := cluster.Client.BatchV1().CronJobs("tool-loader").Get(ctx, "shifty", metav1.GetOptions{}); err == nil {
		t.Fatal("the old cronjob is still there")
	}
	f.ok(t, tool, "jobs", "delete", "shifty")
}

// The original's bug T364204: loading a file with one job deleted all the
// others. A load creates and updates what the file says, and nothing else;
// a job made with `run` that the file defines alike is already up to date,
// whatever name of its image either uses.
func TestLoadingAOneJobFileKeepsTheOtherJobs(t *testing.T) {
	f := setup(t)
	const tool = "keeper"
	f.ok(t, tool, "jobs", "run", "first", "--command", "./first.sh", "--image", "bookworm", "--schedule", "@hourly")
	f.ok(t, tool, "jobs", "run", "second", "--command", "./second.sh", "--image", "tf-python311", "--continuous")
	before := versions(t, tool)

	file := filepath.Join(t.TempDir(), "one.yaml")
	if err := os.WriteFile(file, []byte("- {name: third, command: ./third.sh, image: php8.2, schedule: '@daily'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := f.ok(t, tool, "jobs", "load", file); r.Stdout != "Job 'third' created\n" {
		t.Fatalf("load: %s", r)
	}
	defs := definitions(t, f, tool)
	for _, name := range []string{"first", "second", "third"} {
		if _, ok := defs[name]; !ok {
			t.Errorf("%s is gone after loading a file without it: %v", name, defs)
		}
	}
	after := versions(t, tool)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("load touched %s", k)
		}
	}

	same := filepath.Join(t.TempDir(), "same.yaml")
	if err := os.WriteFile(same, []byte("- {name: second, command: ./second.sh, image: python3.11, continuous: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := f.ok(t, tool, "jobs", "load", same); r.Stdout != "Job 'second' is already up to date\n" {
		t.Fatalf("a job run with the same definition: %s", r)
	}
	if again := versions(t, tool); !reflect.DeepEqual(after, again) {
		t.Fatalf("loading an up-to-date job wrote:\nbefore %v\nafter  %v", after, again)
	}
	f.ok(t, tool, "jobs", "flush", "--yes")
}
