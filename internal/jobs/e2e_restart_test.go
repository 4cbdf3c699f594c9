package jobs_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

func runningPods(ctx context.Context, ns, job string) ([]string, error) {
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + job})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.Phase == "Running" && p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func TestRestartRollsAContinuousJobsPods(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	const tool, ns = "restarter", "tool-restarter"
	f.ok(t, tool, "jobs", "run", "bot", "--command", "./bot", "--image", "python3.11", "--continuous")
	var before []string
	testcluster.Eventually(t, time.Minute, func() (err error) {
		before, err = runningPods(ctx, ns, "bot")
		if err == nil && len(before) != 1 {
			err = fmt.Errorf("running pods %v", before)
		}
		return err
	})
	r := f.ok(t, tool, "jobs", "restart", "bot")
	if !strings.Contains(r.Stderr, "restarting") {
		t.Fatalf("restart said: %s", r)
	}
	testcluster.Eventually(t, 2*time.Minute, func() error {
		now, err := runningPods(ctx, ns, "bot")
		if err != nil {
			return err
		}
		if len(now) != 1 || now[0] == before[0] {
			return fmt.Errorf("running pods %v, before the restart %v", now, before)
		}
		return nil
	})
}

func TestRestartRunsAScheduledJobNowAndAOneOffJobAgain(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	const tool, ns = "restarter", "tool-restarter"
	f.ok(t, tool, "jobs", "run", "yearly", "--command", "./report", "--image", "bookworm", "--schedule", "@yearly")
	f.ok(t, tool, "jobs", "restart", "yearly")
	runs, err := cluster.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=yearly"})
	if err != nil || len(runs.Items) != 1 || runs.Items[0].OwnerReferences[0].Name != "yearly" {
		t.Fatalf("a restarted scheduled job must run now, owned by its CronJob: %v %+v", err, runs.Items)
	}
	if names := f.ok(t, tool, "jobs", "list", "-o", "name").Stdout; strings.Contains(names, runs.Items[0].Name) {
		t.Fatalf("the run of a scheduled job is listed as a job of its own:\n%s", names)
	}

	f.ok(t, tool, "jobs", "run", "once", "--command", "true", "--image", "bookworm")
	first, err := cluster.Client.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.ok(t, tool, "jobs", "restart", "once")
	again, err := cluster.Client.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.UID == first.UID {
		t.Fatal("a restarted one-off job must be a new run")
	}
}
