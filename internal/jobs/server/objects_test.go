package server

import (
	"fmt"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

func build(t *testing.T, j jobs.Job) Objects {
	t.Helper()
	j.Normalize()
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	objs, err := Build(&j, Target{Tool: "alpha", UID: 50001, Image: "registry.example/img:1", Limits: toolLimits("0")})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestEachKindBecomesItsObjectWithTheSpecLabels(t *testing.T) {
	cases := []struct {
		name      string
		job       jobs.Job
		kind      client.Object
		component string
	}{
		{"one-off", jobs.Job{Name: "once", Command: "true", Image: "x"}, &batchv1.Job{}, "jobs"},
		{"scheduled", jobs.Job{Name: "cron", Command: "true", Image: "x", Schedule: "@daily"}, &batchv1.CronJob{}, "cronjobs"},
		{"continuous", jobs.Job{Name: "bot", Command: "true", Image: "x", Continuous: true}, &appsv1.Deployment{}, "deployments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			top := build(t, tc.job).Top
			if got, want := fmt.Sprintf("%T", top), fmt.Sprintf("%T", tc.kind); got != want {
				t.Fatalf("object %s, want %s", got, want)
			}
			want := map[string]string{
				"toolforge":                    "tool",
				"app.kubernetes.io/managed-by": "toolforge-jobs-framework",
				"app.kubernetes.io/created-by": "alpha",
				"app.kubernetes.io/component":  tc.component,
				"app.kubernetes.io/name":       tc.job.Name,
			}
			for k, v := range want {
				if top.GetLabels()[k] != v {
					t.Errorf("label %s = %q, want %q", k, top.GetLabels()[k], v)
				}
			}
			if top.GetNamespace() != "tool-alpha" {
				t.Errorf("namespace %q", top.GetNamespace())
			}
			spec := podSpecOf(top)
			if spec.Containers[0].Name != tc.job.Name {
				t.Errorf("container %q must be named after the job", spec.Containers[0].Name)
			}
			if *spec.SecurityContext.RunAsUser != 50001 || !*spec.SecurityContext.RunAsNonRoot {
				t.Errorf("pod does not run as the tool")
			}
			def, ok := Definition(top)
			if !ok || def.Name != tc.job.Name || def.Command != "true" {
				t.Errorf("stored definition %+v", def)
			}
		})
	}
}

func TestAOneOffJobRetriesAndExpires(t *testing.T) {
	j := build(t, jobs.Job{Name: "once", Command: "true", Image: "x", Retry: 3, Timeout: 60}).Top.(*batchv1.Job)
	if *j.Spec.BackoffLimit != 3 || *j.Spec.TTLSecondsAfterFinished != OneOffTTL || *j.Spec.ActiveDeadlineSeconds != 60 {
		t.Fatalf("spec %+v", j.Spec)
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Fatal("a retried job must get a new pod per try")
	}
}

func TestAScheduledJobForbidsOverlapsAndRunsTheExpandedSchedule(t *testing.T) {
	c := build(t, jobs.Job{Name: "cron", Command: "true", Image: "x", Schedule: "@hourly"}).Top.(*batchv1.CronJob)
	if c.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Fatal("concurrency policy")
	}
	if c.Spec.Schedule != jobs.ActualSchedule("alpha", "cron", "@hourly") {
		t.Fatalf("schedule %q", c.Spec.Schedule)
	}
	if c.Spec.JobTemplate.Labels[tenancy.LabelComponent] != "cronjobs" {
		t.Fatal("runs must be labelled as runs of a scheduled job, not one-off jobs")
	}
}

func TestAContinuousJobGetsItsServiceProbesAndReplicas(t *testing.T) {
	objs := build(t, jobs.Job{Name: "web", Command: "./serve", Image: "x", Continuous: true, Port: 8080, Replicas: 2,
		HealthCheck: &jobs.HealthCheck{Type: jobs.HealthHTTP, Path: "/healthz"}})
	d := objs.Top.(*appsv1.Deployment)
	if *d.Spec.Replicas != 2 {
		t.Fatal("replicas")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.StartupProbe.HTTPGet.Port.IntValue() != 8080 {
		t.Fatalf("probes %+v %+v", c.LivenessProbe, c.StartupProbe)
	}
	svc := objs.Service
	if svc == nil || svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.Ports[0].Port != 8080 {
		t.Fatalf("service %+v", svc)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Fatalf("service selector %v does not select the pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
		}
	}
	script := build(t, jobs.Job{Name: "bot", Command: "./bot", Image: "x", Continuous: true, HealthCheck: &jobs.HealthCheck{Type: jobs.HealthScript, Script: "pgrep bot"}})
	if script.Service != nil {
		t.Fatal("no port, no service")
	}
	if got := script.Top.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].LivenessProbe.Exec.Command; got[len(got)-1] != "pgrep bot" {
		t.Fatalf("script probe %v", got)
	}
}

func TestFileLogsAppendToFilesInTheHome(t *testing.T) {
	j := build(t, jobs.Job{Name: "once", Command: "./run.sh --x", Image: "x", Filelog: ptr.To(true)}).Top.(*batchv1.Job)
	c := j.Spec.Template.Spec.Containers[0]
	if c.WorkingDir != "/data/project/alpha" {
		t.Fatalf("working dir %q", c.WorkingDir)
	}
	if got := c.Command[3]; got != "exec 1>>'once.out' 2>>'once.err'; ./run.sh --x" {
		t.Fatalf("command %q", got)
	}
	same := build(t, jobs.Job{Name: "once", Command: "x", Image: "x", FilelogStdout: "all.log", FilelogStderr: "all.log"}).Top.(*batchv1.Job)
	if got := same.Spec.Template.Spec.Containers[0].Command[3]; got != "exec 1>>'all.log' 2>&1; x" {
		t.Fatalf("one file for both: %q", got)
	}
	none := build(t, jobs.Job{Name: "once", Command: "x", Image: "tool-alpha/x", Mount: "none"}).Top.(*batchv1.Job)
	if none.Spec.Template.Labels[tenancy.MountStorageLabel] != "none" || none.Spec.Template.Spec.Containers[0].WorkingDir != "" {
		t.Fatal("--mount none must label the pod and not use the home")
	}
}

func TestDriftNamesWhatWasChangedByHand(t *testing.T) {
	want := build(t, jobs.Job{Name: "web", Command: "./serve", Image: "x", Continuous: true, Port: 8080})
	live := want.Top.DeepCopyObject().(*appsv1.Deployment)
	if d := Drift(live, want.Service, nil, want); len(d) != 0 {
		t.Fatalf("no change, drift %v", d)
	}
	live.Spec.Replicas = ptr.To[int32](0)
	live.Spec.Template.Spec.Containers[0].Image = "evil.example/img"
	d := Drift(live, nil, nil, want)
	joined := strings.Join(d, "\n")
	for _, w := range []string{"replicas is \"0\"", "image is \"evil.example/img\"", "Service is missing"} {
		if !strings.Contains(joined, w) {
			t.Errorf("drift %q does not say %s", joined, w)
		}
	}
	cronWant := build(t, jobs.Job{Name: "cron", Command: "true", Image: "x", Schedule: "0 3 * * *"})
	cronLive := cronWant.Top.DeepCopyObject().(*batchv1.CronJob)
	cronLive.Spec.Schedule = "* * * * *"
	if d := Drift(cronLive, nil, nil, cronWant); len(d) != 1 || !strings.Contains(d[0], "schedule") {
		t.Fatalf("cron drift %v", d)
	}
}
