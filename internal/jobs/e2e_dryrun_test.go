package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/toolforge-go/toolforge/internal/api/apitest"
	"github.com/toolforge-go/toolforge/internal/jobs"
)

// A dry run (PATCH ?dry_run=true, what a migration asks the new cluster)
// makes every check an apply makes and says what would be done, writing
// nothing.
func TestADryRunChecksEverythingAnApplyChecksAndWritesNothing(t *testing.T) {
	f := setup(t)
	const tool = "dryrun"
	tl := f.Tools[tool]
	hc, err := apitest.Client(context.Background(), cluster, tl.CertFile, tl.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	patch := func(dryRun bool, j jobs.Job) (int, jobs.ApplyResponse) {
		t.Helper()
		body, _ := json.Marshal(j)
		url := f.Server.URL + "/jobs/v1/tool/" + tool + "/jobs"
		if dryRun {
			url += "?dry_run=true"
		}
		req, _ := http.NewRequest(http.MethodPatch, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out jobs.ApplyResponse
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	cron := jobs.Job{Name: "nightly", Command: "./n", Image: "bookworm", Schedule: "@daily"}
	cases := []struct {
		name       string
		job        jobs.Job
		wantStatus int
		want       string
	}{
		{"a new job would be created", cron, http.StatusOK, jobs.Created},
		{"an unknown image is refused", jobs.Job{Name: "x", Command: "./x", Image: "cobol85", Schedule: "@daily"}, http.StatusBadRequest, "--image"},
		{"more memory than a job may have is refused", jobs.Job{Name: "big", Command: "./b", Image: "bookworm", Continuous: true, Memory: "5Gi"}, http.StatusBadRequest, "--mem 5Gi is over the tool's limit of 4Gi"},
	}
	before := frameworkObjects(t, tool)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := patch(true, tc.job)
			got := out.Result
			if code != http.StatusOK {
				got = strings.Join(out.Messages.Error, "; ")
			}
			if code != tc.wantStatus || !strings.Contains(got, tc.want) {
				t.Fatalf("%d %+v, want %d %q", code, out, tc.wantStatus, tc.want)
			}
		})
	}
	if after := frameworkObjects(t, tool); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("a dry run wrote: %v → %v", before, after)
	}
	t.Run("an existing job is unchanged, or would be updated", func(t *testing.T) {
		if code, out := patch(false, cron); code != http.StatusOK || out.Result != jobs.Created {
			t.Fatalf("%d %+v", code, out)
		}
		if _, out := patch(true, cron); out.Result != jobs.Unchanged {
			t.Fatalf("%+v", out)
		}
		changed := cron
		changed.Command = "./other"
		if _, out := patch(true, changed); out.Result != jobs.Updated {
			t.Fatalf("%+v", out)
		}
		if d := definitions(t, f, tool); d["nightly"].Command != "./n" {
			t.Fatalf("the dry run changed the job: %+v", d["nightly"])
		}
	})
}
