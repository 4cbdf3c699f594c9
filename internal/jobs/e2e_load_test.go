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
		out["job/"+o.Name] = o.ResourceVersion
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
	f.ok(t, tool, "jobs", "run", "sleeper", "--command", "sleep 600", "--image", "bookworm", "--filelog", "--emails", "onfailure")
	f.ok(t, tool, "jobs", "run", "hourly", "--command", "./tick.sh", "--image", "php8.2", "--schedule", "17 * * * *", "--retry", "1", "--mount", "none")
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
	if strings.Count(r.Stderr, "unchanged") != 3 {
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
	// Without --job, the file is the whole truth: extra goes.
	f.ok(t, tool, "jobs", "load", changedFile)
	if _, ok := definitions(t, f, tool)["extra"]; ok {
		t.Fatal("load kept a job that is not in the file")
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
