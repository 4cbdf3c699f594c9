package jobs_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// These tests are the original's functional tests (toolforge-deploy's
// functional-tests/tools/jobs-api) in its own terms: the same commands,
// flags and asserted lines, run as a tool would from a script (no
// terminal). Each starts as the original's setup does, with a bare flush.

// origSetup is jobs-common.bash's _jobs_setup: `toolforge jobs flush`,
// no flag, off a terminal.
func origSetup(t *testing.T, f fixture, tool string) {
	t.Helper()
	if r := f.toolforge(t, tool, nil, "jobs", "flush"); r.Code != 0 {
		t.Fatalf("a bare flush in a script: %s", r)
	}
	if left := frameworkObjects(t, tool); len(left) != 0 {
		t.Fatalf("left after a bare flush: %v", left)
	}
}

// assertLine is bats-assert's `assert_line --regexp`: some line of out
// matches re.
func assertLine(t *testing.T, out, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	for _, l := range strings.Split(out, "\n") {
		if rx.MatchString(l) {
			return
		}
	}
	t.Fatalf("no line matches %q in:\n%s", re, out)
}

// mount-defaults.bats.
func TestOriginalMountDefaults(t *testing.T) {
	f := setup(t)
	const tool = "original"
	t.Run("ensure default mount is all for pre-built images", func(t *testing.T) {
		origSetup(t, f, tool)
		f.ok(t, tool, "jobs", "run", "--command=date", "--image=python3.13", "test-1")
		assertLine(t, f.ok(t, tool, "jobs", "show", "test-1").Stdout, `Mounts: *all$`)
	})
	t.Run("ensure mount=none fails for pre-built images", func(t *testing.T) {
		origSetup(t, f, tool)
		r := f.toolforge(t, tool, nil, "jobs", "run", "--command=date", "--image=python3.13", "--no-filelog", "--mount=none", "test-2")
		if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "Mount type none is only supported for build service images") {
			t.Fatalf("--mount=none of a catalogue image: %s", r)
		}
		if left := frameworkObjects(t, tool); len(left) != 0 {
			t.Fatalf("a refused job left %v", left)
		}
	})
	t.Run("ensure mount=all sets the mount for pre-built images", func(t *testing.T) {
		origSetup(t, f, tool)
		f.ok(t, tool, "jobs", "run", "--command=date", "--image=python3.13", "--mount=all", "test-3")
		show := f.ok(t, tool, "jobs", "show", "test-3").Stdout
		assertLine(t, show, `Mounts: *all$`)
		// And file logs, the catalogue image's default.
		assertLine(t, show, `File log: *yes$`)
		assertLine(t, show, `Output log: *test-3\.out$`)
	})
}

// dump-and-load.bats.
func TestOriginalDumpAndLoad(t *testing.T) {
	f := setup(t)
	const tool = "original"
	dir := t.TempDir()
	t.Run("do a simple dump and load", func(t *testing.T) {
		origSetup(t, f, tool)
		f.ok(t, tool, "jobs", "run", "--schedule", "* * * * *", "--command", "echo 'test-11'", "--image=python3.11", "test-11")
		file := filepath.Join(dir, "test-11.yaml")
		if err := os.WriteFile(file, []byte(f.ok(t, tool, "jobs", "dump").Stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		f.ok(t, tool, "jobs", "flush")
		if out := f.ok(t, tool, "jobs", "list", "-o", "name").Stdout; out != "" {
			t.Fatalf("list after flush: %q", out)
		}
		f.ok(t, tool, "jobs", "load", file)
		if out := f.ok(t, tool, "jobs", "list", "-o", "name").Stdout; out != "test-11\n" {
			t.Fatalf("list after load: %q", out)
		}
	})
	t.Run("doing a load does not flush all other jobs (T364204)", func(t *testing.T) {
		origSetup(t, f, tool)
		f.ok(t, tool, "jobs", "run", "--schedule", "* * * * *", "--command", "echo 'test-12'", "--image=python3.11", "test-12")
		file := filepath.Join(dir, "test-12.yaml")
		if err := os.WriteFile(file, []byte(f.ok(t, tool, "jobs", "dump").Stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		f.ok(t, tool, "jobs", "flush")
		f.ok(t, tool, "jobs", "run", "--schedule", "* * * * *", "--command", "echo 'test2-12'", "--image=python3.11", "test2-12")
		f.ok(t, tool, "jobs", "load", file)
		out := f.ok(t, tool, "jobs", "list", "-o", "name").Stdout
		assertLine(t, out, `^test-12$`)
		assertLine(t, out, `^test2-12$`)
	})
}

// continuous-job-publish.bats and continuous-job-port.bats, as far as they
// go without the job's pods running (its pods really run in
// internal/workloads).
func TestOriginalContinuousJobPublishAndRestart(t *testing.T) {
	f := setup(t)
	const tool = "original"
	origSetup(t, f, tool)
	f.ok(t, tool, "jobs", "run", "--command", "echo 'OK'>status && python3 -m http.server ${PORT?No port set}",
		"--port=1234", "--continuous", "--publish", "--mount=all", "--image=python3.11", "test-21")
	show := f.ok(t, tool, "jobs", "show", "test-21").Stdout
	assertLine(t, show, `Port:.*1234`)
	assertLine(t, show, `Public:.*https?://`)
	// A job without a port shows none.
	f.ok(t, tool, "jobs", "run", "--command", "while true; do echo 'test-22' > 'test-22'; sleep 10; done", "--continuous", "--mount=all", "--image=python3.11", "test-22")
	assertLine(t, f.ok(t, tool, "jobs", "show", "test-22").Stdout, `Port:.*none`)

	// "restarting a published job preserves ingress access": the restart
	// is the annotation the original sets on the pod template, which the
	// tool reads with its own kubectl.
	f.ok(t, tool, "jobs", "restart", "test-21")
	out, err := testcluster.Kubectl(context.Background(), f.Tools[tool].Kubeconfig,
		"get", "deployment", "test-21", "-o", `jsonpath={.spec.template.metadata.annotations.app\.kubernetes\.io/restartedAt}`)
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("restartedAt after a restart: %q %v", out, err)
	}
}
