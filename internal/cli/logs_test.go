package cli

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/logs"
)

func TestJobsLogsReadTheStoreAndFallBackToTheKubeletSayingSoOnce(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		status      int
		stored      []logs.Line
		kubelet     string
		args        []string
		code        int
		out, errOut string
		kubeletRead bool
	}{
		{name: "the store's lines of one pod, as written",
			stored: []logs.Line{{Time: at, Pod: "p1", Message: "one"}, {Time: at.Add(time.Second), Pod: "p1", Message: "two"}},
			out:    "one\ntwo\n"},
		{name: "lines of two runs carry their pod",
			stored: []logs.Line{{Time: at, Pod: "run-1", Message: "first run"}, {Time: at.Add(time.Hour), Pod: "run-2", Message: "second run"}},
			out:    "[run-1] first run\n[run-2] second run\n"},
		{name: "a store that cannot be reached: the kubelet's, with one warning",
			status: http.StatusServiceUnavailable, kubelet: "from the kubelet\n",
			out: "from the kubelet\n", errOut: "warning: the log store cannot be reached (the logs API answers 503): showing what the kubelet keeps of the current pods only\n", kubeletRead: true},
		{name: "a store without lines of it: the jobs API answers, as before",
			status: http.StatusNotFound, code: 1, errOut: "error: Job 'backup' does not have any logs available\n", kubeletRead: true},
		{name: "a window the kubelet cannot give fails when the store is down",
			status: http.StatusServiceUnavailable, args: []string{"--since", "1h"}, code: 1,
			errOut: "error: the logs API answers 503 (the kubelet's logs have no --since, --until or --events)\n"},
		{name: "a window with nothing in it says so",
			status: http.StatusNotFound, args: []string{"--since", "1h"}, code: 1, errOut: "error: the logs API answers 404\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.logsStatus, f.storedLines, f.kubelet = tc.status, tc.stored, tc.kubelet
			r := toolforge(t, false, "", append([]string{"jobs", "logs", "backup"}, tc.args...)...)
			if r.code != tc.code || r.stdout != tc.out || r.stderr != tc.errOut {
				t.Fatalf("exit %d\nstdout %q\nstderr %q\nwant exit %d, %q, %q", r.code, r.stdout, r.stderr, tc.code, tc.out, tc.errOut)
			}
			if got := slices.Contains(f.calls, "GET /jobs/v1/tool/demo/jobs/backup/logs"); got != tc.kubeletRead {
				t.Errorf("the kubelet's logs read: %v, want %v (%v)", got, tc.kubeletRead, f.calls)
			}
		})
	}
}

func TestBadLogWindowsAreRefusedBeforeAnythingIsAsked(t *testing.T) {
	for _, args := range [][]string{
		{"--since", "yesterday"},
		{"--until", "soon"},
		{"--since", "1h", "--until", "2h"},
		{"-l", "-1"},
		{"--until", "1h", "-f"},
		{"--events", "-f"},
	} {
		f := newFakeAPI(t)
		r := toolforge(t, false, "", append([]string{"jobs", "logs", "backup"}, args...)...)
		if r.code != ExitUsage || len(f.calls) != 0 {
			t.Errorf("jobs logs %v: exit %d (%s), calls %v", args, r.code, strings.TrimSpace(r.stderr), f.calls)
		}
	}
}
