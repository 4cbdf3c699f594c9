package workloads_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAJobRunsItsCommandInTheToolsHomeAsTheTool(t *testing.T) {
	p := setup(t)
	t.Parallel()
	tool := p.Tools["runner"]
	home := "/data/project/runner"
	p.ok(t, "runner", "jobs", "run", "hello", "--image", "python3.11", "--no-filelog", "--wait", "300", "--command",
		`echo hello; id -u; pwd; echo "HOME=$HOME"; echo "DATA=$TOOL_DATA_DIR"; echo "made by a job" > made-by-job.txt`)
	want := fmt.Sprintf("hello\n%d\n%s\nHOME=%s\nDATA=%s\n", tool.UID, home, home, home)
	if got := p.ok(t, "runner", "jobs", "logs", "hello").Stdout; got != want {
		t.Fatalf("the job's output:\n%s\nwant:\n%s", got, want)
	}
	// What the job wrote is in the home the maintainer sees, owned by the
	// tool.
	file := filepath.Join(tool.Home, "made-by-job.txt")
	data, err := os.ReadFile(file)
	if err != nil || string(data) != "made by a job\n" {
		t.Fatalf("%s: %q, %v", file, data, err)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int64(uid) != tool.UID {
		t.Fatalf("%s is owned by uid %d, want the tool's %d", file, uid, tool.UID)
	}

	// A catalogue image expects the home: --mount none is for built images
	// only (the original's refusal).
	r := p.toolforge(t, "runner", "jobs", "run", "homeless", "--image", "python3.11", "--no-filelog", "--mount", "none", "--command", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Mount type none is only supported for build service images") {
		t.Fatalf("--mount none of a catalogue image: %s", r)
	}
}

func TestFileLogsAreAppendedToFilesInTheHomeAcrossRuns(t *testing.T) {
	p := setup(t)
	t.Parallel()
	tool := p.Tools["filer"]
	// File logs are the default of a catalogue image, as in the original.
	p.ok(t, "filer", "jobs", "run", "logged", "--image", "python3.11", "--wait", "300", "--command", `echo "out $(cat /proc/sys/kernel/random/uuid)"; echo "err line" >&2`)
	read := func(name string) string {
		data, _ := os.ReadFile(filepath.Join(tool.Home, name))
		return string(data)
	}
	first := read("logged.out")
	if !strings.HasPrefix(first, "out ") || strings.Count(first, "\n") != 1 || read("logged.err") != "err line\n" {
		t.Fatalf("after one run: logged.out %q, logged.err %q", first, read("logged.err"))
	}
	// A second run appends.
	p.ok(t, "filer", "jobs", "restart", "logged")
	until(t, imageTimeout, func() error {
		if out := read("logged.out"); strings.Count(out, "\n") != 2 || !strings.HasPrefix(out, first) || read("logged.err") != "err line\nerr line\n" {
			return fmt.Errorf("logged.out %q, logged.err %q", out, read("logged.err"))
		}
		return nil
	})
	// Such a job's output is in its files, not its logs (the original's
	// answer).
	if r := p.toolforge(t, "filer", "jobs", "logs", "logged"); r.Code != 1 || !strings.Contains(r.Stderr, "Job 'logged' does not have any logs available") {
		t.Fatalf("logs of a job with file logs: %s", r)
	}
	// -o and -e name the files; one file may take both streams.
	p.ok(t, "filer", "jobs", "run", "named", "--image", "python3.11", "-o", "both.log", "-e", "both.log", "--wait", "300", "--command", `echo to stdout; sleep 0.2; echo to stderr >&2`)
	if got := read("both.log"); got != "to stdout\nto stderr\n" {
		t.Fatalf("both.log: %q", got)
	}
	// With --no-filelog nothing is written to files.
	p.ok(t, "filer", "jobs", "run", "quiet", "--image", "python3.11", "--no-filelog", "--wait", "300", "--command", "echo only in the logs")
	for _, f := range []string{"quiet.out", "quiet.err"} {
		if _, err := os.Stat(filepath.Join(tool.Home, f)); !os.IsNotExist(err) {
			t.Fatalf("a job with --no-filelog made %s (%v)", f, err)
		}
	}
	if got := p.ok(t, "filer", "jobs", "logs", "quiet").Stdout; got != "only in the logs\n" {
		t.Fatalf("logs: %q", got)
	}
}

func TestWaitExitsWithTheCommandsExitCodeAfterItsLastLines(t *testing.T) {
	p := setup(t)
	t.Parallel()
	r := p.toolforge(t, "waiter", "jobs", "run", "failing", "--image", "python3.11", "--no-filelog", "--wait", "300", "--command", `for i in $(seq 1 15); do echo "line $i"; done; exit 7`)
	if r.Code != 7 {
		t.Fatalf("--wait of a command exiting 7: %s", r)
	}
	if !strings.Contains(r.Stderr, "Last lines of its output:\n  line 6\n") || !strings.Contains(r.Stderr, "  line 15\n") || strings.Contains(r.Stderr, "line 5\n") {
		t.Fatalf("--wait does not show the last 10 lines:\n%s", r.Stderr)
	}
	if !strings.Contains(r.Stderr, "exited with code 7") {
		t.Fatalf("--wait does not say the exit code:\n%s", r.Stderr)
	}
	if r := p.toolforge(t, "waiter", "jobs", "run", "fine", "--image", "python3.11", "--wait", "300", "--command", "true"); r.Code != 0 {
		t.Fatalf("--wait of a command exiting 0: %s", r)
	}
}

func TestLogsShowEveryPodOfTheJobNewestLast(t *testing.T) {
	p := setup(t)
	t.Parallel()
	// Two tries, each a pod of its own, each saying its name.
	r := p.toolforge(t, "logger", "jobs", "run", "twice", "--image", "python3.11", "--no-filelog", "--retry", "1", "--wait", "300", "--command", `echo "try on $(hostname)"; exit 1`)
	if r.Code != 1 {
		t.Fatalf("a job failing twice: %s", r)
	}
	var lines []string
	until(t, time.Minute, func() error {
		lines = strings.Split(strings.TrimSpace(p.ok(t, "logger", "jobs", "logs", "twice").Stdout), "\n")
		if len(lines) != 2 {
			return fmt.Errorf("logs: %q", lines)
		}
		return nil
	})
	var pods []string
	for _, l := range lines {
		// [<pod>] try on <pod>: each line prefixed by the pod it came from.
		pod, rest, ok := strings.Cut(strings.TrimPrefix(l, "["), "] ")
		if !ok || rest != "try on "+pod {
			t.Fatalf("line %q is not prefixed by its pod", l)
		}
		pods = append(pods, pod)
	}
	older, newer := podCreated(t, "logger", pods[0]), podCreated(t, "logger", pods[1])
	if !older.Before(newer) {
		t.Fatalf("pods in the order %v (created %s, %s): the newest is not last", pods, older, newer)
	}
	// -l counts lines of the whole job, not of each pod: the newest one.
	if got := p.ok(t, "logger", "jobs", "logs", "twice", "-l", "1").Stdout; strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "try on "+pods[1]+"\n") {
		t.Fatalf("-l 1 of two pods (%v): %q", pods, got)
	}
}

func TestAScheduledJobFiresOnItsSchedule(t *testing.T) {
	p := setup(t)
	t.Parallel()
	p.ok(t, "cron", "jobs", "run", "every-minute", "--image", "python3.11", "--no-filelog", "--schedule", "* * * * *", "--command", `echo "fired at $(date -u +%H:%M)"`)
	until(t, 3*time.Minute+imageTimeout, func() error {
		r := p.toolforge(t, "cron", "jobs", "logs", "every-minute")
		if !strings.HasPrefix(r.Stdout, "fired at ") {
			return fmt.Errorf("no run's output yet: %s", r)
		}
		return nil
	})
}

func TestAJobOverItsMemoryLimitIsOOMKilled(t *testing.T) {
	p := setup(t)
	t.Parallel()
	r := p.toolforge(t, "hog", "jobs", "run", "hungry", "--image", "python3.11", "--mem", "128Mi", "--wait", "300", "--command", `python3 -c 'x = bytearray(512 * 1024 * 1024); print("allocated", len(x))'`)
	if r.Code != 137 || strings.Contains(r.Stderr, "allocated") {
		t.Fatalf("a job over its memory limit: %s", r)
	}
	if show := p.ok(t, "hog", "jobs", "show", "hungry").Stdout; !strings.Contains(show, "OOMKilled") {
		t.Fatalf("show does not say OOMKilled:\n%s", show)
	}
	// The limits are the container's cgroup's (v2, or v1 as on this
	// project's machines).
	p.ok(t, "hog", "jobs", "run", "limits", "--image", "python3.11", "--no-filelog", "--mem", "256Mi", "--cpu", "0.5", "--wait", "300", "--command",
		`if [ -f /sys/fs/cgroup/cpu.max ]; then cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max; else cg=/sys/fs/cgroup; echo "$(cat $cg/cpu/cpu.cfs_quota_us) $(cat $cg/cpu/cpu.cfs_period_us)"; cat $cg/memory/memory.limit_in_bytes; fi`)
	if got := p.ok(t, "hog", "jobs", "logs", "limits").Stdout; got != "50000 100000\n268435456\n" {
		t.Fatalf("the job's cgroup limits (cpu.max, memory.max): %q", got)
	}
	// Within its limit the same job runs.
	if r := p.toolforge(t, "hog", "jobs", "run", "fed", "--image", "python3.11", "--mem", "1Gi", "--wait", "300", "--command", `python3 -c 'x = bytearray(512 * 1024 * 1024); print("allocated", len(x))'`); r.Code != 0 {
		t.Fatalf("a job within its memory limit: %s", r)
	}
}

// The original's envvars-smoke-test.bats "envvars are set inside jobs":
// the job's output is in its file log, by default.
func TestEnvvarsReachTheToolsJobs(t *testing.T) {
	p := setup(t)
	t.Parallel()
	p.ok(t, "vars", "envvars", "create", "TEST_ENVVAR_1", "test-envvar-1-contents")
	p.ok(t, "vars", "jobs", "run", "--wait", "--image", "python3.11", "--command", "env", "test1")
	out, err := os.ReadFile(filepath.Join(p.Tools["vars"].Home, "test1.out"))
	if err != nil || !slices.Contains(strings.Split(string(out), "\n"), "TEST_ENVVAR_1=test-envvar-1-contents") {
		t.Fatalf("test1.out (%v):\n%s", err, out)
	}
}
