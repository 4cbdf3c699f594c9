package jobs_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/toolforge-go/toolforge/internal/api/apitest"
)

func TestBadInputIsRefusedBeforeAnythingIsCreated(t *testing.T) {
	f := setup(t)
	const tool = "strict"
	base := []string{"jobs", "run", "job", "--command", "./x", "--image", "bookworm"}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a bad job name", []string{"jobs", "run", "Bad_Name", "--command", "./x", "--image", "bookworm"}, 2, `invalid job name "Bad_Name"`},
		{"an invalid cron schedule", append(base, "--schedule", "61 * * * *"), 2, "--schedule"},
		{"an unknown macro", append(base, "--schedule", "@fortnightly"), 2, "--schedule"},
		{"memory over the per-job limit", append(base, "--mem", "100Gi"), 1, "--mem 100Gi is over the tool's limit of 4Gi"},
		{"cpu over the per-job limit", append(base, "--cpu", "3"), 1, "--cpu 3 is over the tool's limit of 1"},
		{"replicas over the pod quota", []string{"jobs", "run", "job", "--command", "./x", "--image", "bookworm", "--continuous", "--replicas", "9"}, 1, "--replicas 9"},
		{"an unknown image", []string{"jobs", "run", "job", "--command", "./x", "--image", "python2.7"}, 1, `--image: image "python2.7" is not in the image catalogue; available: bookworm`},
		{"a port without --continuous", append(base, "--port", "8080"), 2, "--port needs --continuous"},
		{"an http health check without a port", append(base, "--continuous", "--health-check-http", "/healthz"), 2, "--health-check-http needs --port"},
		{"retry 9", append(base, "--retry", "9"), 2, "--retry must be between 0 and 5"},
		{"wait with continuous", append(base, "--continuous", "--wait"), 2, "--wait applies to one-off jobs"},
		{"a missing image", []string{"jobs", "run", "job", "--command", "./x"}, 2, "--image is required"},
		{"publish without a port", append(base, "--continuous", "--publish"), 2, "--publish needs --port"},
		{"publish on a one-off job", append(base, "--port", "8080", "--publish"), 2, "--port needs --continuous"},
		{"publish on a one-off job without a port", append(base, "--publish"), 2, "--publish needs --continuous"},
		{"publish on a scheduled job", append(base, "--schedule", "@daily", "--publish"), 2, "--publish needs --continuous"},
		{"publish a udp port", append(base, "--continuous", "--port", "53/udp", "--publish"), 2, "--publish needs a tcp --port"},
		// This platform runs no notifier (no --smtp-server): an accepted
		// --emails would silently send nothing.
		{"emails without a mail server", append(base, "--emails", "onfailure"), 1, "--emails onfailure: this platform sends no email"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.toolforge(t, tool, nil, tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("want exit %d and %q: %s", tc.code, tc.want, r)
			}
			if left := frameworkObjects(t, tool); len(left) != 0 {
				t.Fatalf("refused input created %v", left)
			}
		})
	}
}

// A client that skips the CLI's checks meets the same ones in the API.
func TestTheAPIRefusesBadJobsFromAnyClient(t *testing.T) {
	f := setup(t)
	tool := f.Tools["strict"]
	hc, err := apitest.Client(context.Background(), cluster, tool.CertFile, tool.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{
		`{"name":"x","cmd":"./x","imagename":"bookworm","port":8080}`:                      "--port needs --continuous",
		`{"name":"x","cmd":"./x","imagename":"bookworm","retry":9}`:                        "--retry",
		`{"name":"x","cmd":"./x","imagename":"bookworm","schedule":"* * *"}`:               "--schedule",
		`{"name":"x","cmd":"./x","imagename":"bookworm","memory":"100Gi"}`:                 "--mem",
		`{"name":"x","cmd":"./x","imagename":"bookworm","privileged":true}`:                "unknown field",
		`{"name":"x","cmd":"./x","imagename":"evil.example/miner:latest"}`:                 "not in the image catalogue",
		`{"name":"../x","cmd":"./x","imagename":"bookworm"}`:                               "invalid job name",
		`{"name":"x","cmd":"./x","imagename":"bookworm","emails":"all"}`:                   "sends no email",
		`{"name":"x","cmd":"./x","imagename":"bookworm","continuous":true,"publish":true}`: "--publish needs --port",
	}
	for body, want := range bodies {
		resp, err := hc.Post(f.Server.URL+"/jobs/v1/tool/strict/jobs", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body) // the status says what failed; the body is for its message
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(buf.String(), want) {
			t.Errorf("POST %s = %d %s, want 400 with %q", body, resp.StatusCode, buf.String(), want)
		}
	}
	if left := frameworkObjects(t, "strict"); len(left) != 0 {
		t.Fatalf("refused input created %v", left)
	}
}

// Another tool's certificate reaches nothing of this tool's jobs, and a
// refused request changes nothing.
func TestAnotherToolCannotReadOrDeleteThisToolsJobs(t *testing.T) {
	f := setup(t)
	f.ok(t, "strict", "jobs", "run", "mine", "--command", "./x", "--image", "bookworm", "--schedule", "@monthly")
	defer f.ok(t, "strict", "jobs", "delete", "mine")
	other := f.Tools["other"]
	hc, err := apitest.Client(context.Background(), cluster, other.CertFile, other.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []struct{ method, path string }{
		{"GET", "/jobs/v1/tool/strict/jobs/mine"},
		{"GET", "/jobs/v1/tool/strict/jobs/mine/logs"},
		{"DELETE", "/jobs/v1/tool/strict/jobs/mine"},
		{"DELETE", "/jobs/v1/tool/strict/jobs"},
		{"POST", "/jobs/v1/tool/strict/jobs/mine/restart"},
		{"PATCH", "/jobs/v1/tool/strict/jobs"},
	} {
		r, _ := http.NewRequest(req.method, f.Server.URL+req.path, strings.NewReader(`{"name":"mine","cmd":"evil","imagename":"bookworm"}`))
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with another tool's certificate = %d, want 403", req.method, req.path, resp.StatusCode)
		}
	}
	if left := frameworkObjects(t, "strict"); len(left) != 1 || left[0] != "cronjob/mine" {
		t.Fatalf("after the attempts: %v", left)
	}
	if got := definitions(t, f, "strict")["mine"].Command; got != "./x" {
		t.Fatalf("the job was changed: %q", got)
	}
}
