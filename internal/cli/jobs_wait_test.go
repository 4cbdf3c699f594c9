package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/route"
)

// statusServer answers GET job with the statuses in turn (the last one
// for ever), or 404 when the status is "". "Failed:N" is a failure whose
// command exited N.
func statusServer(t *testing.T, statuses ...string) *apiClient {
	t.Helper()
	var calls atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := min(int(calls.Add(1))-1, len(statuses)-1)
		if statuses[i] == "" {
			m := route.NewMessages()
			m.Error = []string{"Job 'j' does not exist"}
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(route.Envelope{Messages: m})
			return
		}
		info := jobs.Info{Job: jobs.Job{Name: "j"}, StatusShort: statuses[i], StatusLong: "because"}
		if st, code, ok := strings.Cut(statuses[i], ":"); ok {
			n, _ := strconv.Atoi(code)
			info.StatusShort, info.ExitCode = st, ptr.To(int32(n))
		}
		_ = json.NewEncoder(w).Encode(jobs.JobResponse{Job: info, Messages: route.NewMessages()})
	}))
	t.Cleanup(ts.Close)
	return &apiClient{base: ts.URL, tool: &Tool{Name: "alpha"}, http: ts.Client(), s: &IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
}

func TestWaitTurnsTheJobsOutcomeIntoTheExitCode(t *testing.T) {
	cases := []struct {
		name     string
		statuses []string
		code     int // 0: success
		says     string
	}{
		{"a completed job exits 0", []string{"Pending", "Running", "Completed"}, 0, "Job 'j' completed"},
		{"a failed job without an exit code exits 1", []string{"Running", "Failed"}, 1, "job 'j' failed: because"},
		{"a failed job exits with its command's exit code", []string{"Running", "Failed:7"}, 7, "job 'j' failed: because"},
		{"a job killed by a signal exits with the shell's 128+N", []string{"Failed:137"}, 137, "job 'j' failed"},
		{"a job that vanishes exits 1", []string{"Running", ""}, 1, "disappeared before it finished"},
		{"a job still running at the timeout exits 1", []string{"Running"}, 1, "timed out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := statusServer(t, tc.statuses...)
			err := waitForJob(context.Background(), c.s, c, "j", 50*time.Millisecond, time.Millisecond)
			msgs := c.s.ErrOut.(*bytes.Buffer).String()
			if err != nil {
				msgs += err.Error()
			}
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tc.code != 0:
				ee, ok := err.(*ExitError)
				if !ok || ee.Code != tc.code {
					t.Fatalf("err = %#v, want exit %d", err, tc.code)
				}
			}
			if !strings.Contains(msgs, tc.says) {
				t.Fatalf("output %q does not say %q", msgs, tc.says)
			}
		})
	}
}
