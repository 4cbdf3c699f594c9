package cli

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/envvars"
	"github.com/toolforge-go/toolforge/internal/golden"
	"github.com/toolforge-go/toolforge/internal/jobs"
)

// sampleJobs are one job of each kind, with most settings used.
func sampleJobs() []jobs.Info {
	norm := func(j jobs.Job) jobs.Job { j.Normalize(); return j }
	return []jobs.Info{
		{Job: norm(jobs.Job{Name: "backup", Command: "./backup.sh --all", Image: "bookworm", Schedule: "@daily", Retry: 2, Emails: "onfailure"}),
			ImageRef: "docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest", ImageState: "stable", ScheduleActual: "13 22 * * *",
			StatusShort: "Last schedule time: 2026-01-01T22:13:00Z", StatusLong: "Last run at 2026-01-01T22:13:00Z."},
		{Job: norm(jobs.Job{Name: "once", Command: "python3 once.py", Image: "python3.11", Memory: "1Gi", Timeout: 300}),
			ImageRef: "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest", ImageState: "stable",
			StatusShort: "Completed", StatusLong: "Job completed at 2026-01-01T00:00:00Z."},
		{Job: norm(jobs.Job{Name: "web", Command: "./serve", Image: "node20", Continuous: true, Port: 8000, Replicas: 2, CPU: "0.5", Filelog: ptr.To(false),
			HealthCheck: &jobs.HealthCheck{Type: jobs.HealthHTTP, Path: "/healthz"}}),
			ImageRef: "docker-registry.tools.wmflabs.org/toolforge-node20-sssd-base:latest", ImageState: "deprecated",
			StatusShort: "Running", StatusLong: "2 of 2 replica(s) ready.", Drift: []string{`replicas is "3" but the job definition says "2"`}},
	}
}

func TestJobsOutputIsStable(t *testing.T) {
	list := sampleJobs()
	for _, tty := range []bool{false, true} {
		mode := "plain"
		if tty {
			mode = "tty"
		}
		for _, format := range []string{"normal", "long", "name", "json"} {
			if tty && (format == "name" || format == "json") {
				continue // the same on a terminal
			}
			var b bytes.Buffer
			if err := writeJobList(&b, tty, format, list); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, "jobs_list_"+format+"_"+mode+".golden", b.Bytes())
		}
		var b bytes.Buffer
		if err := writeJob(&b, tty, list[2]); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "jobs_show_"+mode+".golden", b.Bytes())
	}
}

func TestAnEmptyListPrintsNothingButJSONPrintsAnEmptyArray(t *testing.T) {
	var b bytes.Buffer
	if err := writeJobList(&b, false, "normal", nil); err != nil || b.Len() != 0 {
		t.Fatalf("normal: %q %v", b.String(), err)
	}
	if err := writeJobList(&b, false, "json", nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Fatalf("json: %q %v", b.String(), err)
	}
}

func TestImagesAndQuotaOutputIsStable(t *testing.T) {
	var b bytes.Buffer
	err := writeImages(&b, false, []jobs.ImageInfo{
		{Shortname: "bookworm", Image: "docker-registry.tools.wmflabs.org/toolforge-bookworm-web-sssd:latest", State: "stable",
			Aliases: []string{"tf-bookworm", "toolforge-bookworm", "toolforge-bookworm-sssd", "toolforge-bookworm-web-sssd"}},
		{Shortname: "python3.9", Image: "docker-registry.tools.wmflabs.org/toolforge-python39-sssd-web:latest", State: "deprecated",
			Aliases: []string{"tf-python39", "toolforge-python39", "toolforge-python39-sssd-base", "toolforge-python39-sssd-web"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "jobs_images_plain.golden", b.Bytes())
	b.Reset()
	q := jobs.Quota{Categories: []jobs.QuotaCategory{
		{Name: "Running jobs", Items: []jobs.QuotaItem{{Name: "Total running jobs at once (Kubernetes pods)", Used: "1", Limit: "4"}, {Name: "Memory", Used: "512Mi", Limit: "8Gi"}}},
		{Name: "Per-job limits", Items: []jobs.QuotaItem{{Name: "CPU", Limit: "1"}, {Name: "Memory", Limit: "4Gi"}}},
	}}
	if err := writeQuota(&b, true, q); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "jobs_quota_tty.golden", b.Bytes())
}

func TestEnvvarsListHidesValuesUnlessAsked(t *testing.T) {
	list := []envvars.Envvar{{Name: "API_TOKEN", Value: "s3cr3t"}, {Name: "DEBUG", Value: "1"}}
	var hidden, shown bytes.Buffer
	if err := writeEnvvars(&hidden, false, list, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hidden.String(), "s3cr3t") {
		t.Fatalf("list shows a value: %q", hidden.String())
	}
	golden.Assert(t, "envvars_list_plain.golden", hidden.Bytes())
	if err := writeEnvvars(&shown, true, list, true); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "envvars_list_show_values_tty.golden", shown.Bytes())
}

func TestDumpIsStableAndLoadReadsItBackToTheSameJobs(t *testing.T) {
	list := sampleJobs()
	data, err := dumpJobs(list)
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "jobs_dump.golden", data)
	_, defs, err := parseJobsFile(data, "dump.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != len(list) {
		t.Fatalf("%d jobs read back, %d dumped", len(defs), len(list))
	}
	for i, def := range defs {
		if !def.Equal(&list[i].Job) {
			t.Errorf("job %s read back as\n%+v\nwant\n%+v", def.Name, *def, list[i].Job)
		}
	}
}

func TestLoadRefusesABadFileBeforeCallingTheAPI(t *testing.T) {
	cases := []struct{ name, file, want string }{
		{"a typo in a key", "- {name: a, command: x, image: bookworm, shedule: '@daily'}", "unknown field"},
		{"a bad schedule", "- {name: a, command: x, image: bookworm, schedule: '99 * * * *'}", "job 1 a: --schedule"},
		{"a duplicate name", "- {name: a, command: x, image: bookworm}\n- {name: a, command: y, image: bookworm}", "both named"},
		{"a port on a one-off job", "- {name: a, command: x, image: bookworm, port: 80}", "--port needs --continuous"},
		{"a missing name", "- {command: x, image: bookworm}", "job 1 (no name)"},
		{"wait on a continuous job", "- {name: a, command: x, image: bookworm, continuous: true, wait: true}", "wait applies"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseJobsFile([]byte(tc.file), "jobs.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	_, defs, err := parseJobsFile([]byte("- {name: dns, command: x, image: bookworm, continuous: true, port: 53/udp}"), "jobs.yaml")
	if err != nil || defs[0].Port != 53 || defs[0].PortProtocol != "udp" {
		t.Fatalf("port with protocol: %+v %v", defs, err)
	}
}

func TestRunFlagsAreCheckedBeforeCallingTheAPI(t *testing.T) {
	cases := []struct {
		name string
		o    runOptions
		want string
	}{
		{"wait with a schedule", runOptions{Job: jobs.Job{Name: "a", Command: "x", Image: "i", Schedule: "@daily"}, Wait: "600"}, "--wait applies to one-off jobs"},
		{"no-filelog with -o", runOptions{Job: jobs.Job{Name: "a", Command: "x", Image: "i", FilelogStdout: "x.log"}, NoFilelog: true}, "--no-filelog"},
		{"both health checks", runOptions{Job: jobs.Job{Name: "a", Command: "x", Image: "i", Continuous: true}, Port: "80", HealthCheckScript: "true", HealthCheckHTTP: "/"}, "cannot be used together"},
		{"a port that is no number", runOptions{Job: jobs.Job{Name: "a", Command: "x", Image: "i", Continuous: true}, Port: "http"}, "--port"},
		{"retry 9", runOptions{Job: jobs.Job{Name: "a", Command: "x", Image: "i", Retry: 9}}, "--retry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.o.job()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if ee, ok := err.(*ExitError); !ok || ee.Code != ExitUsage {
				t.Fatalf("bad flags must be a usage error (exit 2): %#v", err)
			}
		})
	}
}
