package workloads_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The original's webservice-smoke-test.bats (toolforge-deploy's
// functional-tests/tools/webservice) in its own terms: the same commands
// and asserted lines, run as the tool from a script. One deliberate
// difference: a bare start runs our default type, php8.2, where the
// original's runs php7.4 (docs/compatibility.md); php7.4 itself runs the
// shell, as the original's last test does.
func TestOriginalWebserviceSmokeTest(t *testing.T) {
	p := setup(t)
	t.Parallel()
	const tool = "web-orig"
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"status of stopped webservice", func(t *testing.T) {
			if r := p.ok(t, tool, "webservice", "status"); !strings.Contains(r.Stdout, "webservice is not running") {
				t.Fatalf("status: %s", r)
			}
		}},
		{"start webservice", func(t *testing.T) {
			if r := p.ok(t, tool, "webservice", "start"); !strings.Contains(r.Stdout, "Starting webservice") {
				t.Fatalf("start: %s", r)
			}
			if r := p.ok(t, tool, "webservice", "status"); !strings.Contains(r.Stdout, "webservice of type php8.2 is running") {
				t.Fatalf("status: %s", r)
			}
		}},
		{"get logs", func(t *testing.T) {
			// lighttpd runs although the tool has no public_html yet.
			until(t, imageTimeout, func() error {
				if logs := p.toolforge(t, tool, "webservice", "logs").Stdout; !strings.Contains(logs, "/usr/sbin/lighttpd") {
					return fmt.Errorf("logs:\n%s", logs)
				}
				return nil
			})
		}},
		{"restart", func(t *testing.T) {
			last := lastLine(p.ok(t, tool, "webservice", "logs").Stdout)
			if r := p.ok(t, tool, "webservice", "restart"); !strings.Contains(r.Stdout, "Restarting") {
				t.Fatalf("restart: %s", r)
			}
			until(t, imageTimeout, func() error {
				if now := lastLine(p.toolforge(t, tool, "webservice", "logs").Stdout); now == last {
					return fmt.Errorf("the last line of the logs is still %q", now)
				}
				return nil
			})
		}},
		{"can be reached by external url", func(t *testing.T) {
			// Before the tool has pages, the server answers 404 (not a
			// runner's failure).
			until(t, time.Minute, func() error {
				if code, body, err := curl(t, p.toolURL(tool, "/healthz")); err != nil || code != 404 {
					return fmt.Errorf("%d %q %v", code, body, err)
				}
				return nil
			})
			writeAsTool(t, p.Tools[tool], "public_html/healthz", "OK\n")
			until(t, time.Minute, func() error {
				if code, body, err := curl(t, p.toolURL(tool, "/healthz")); err != nil || code != 200 || body != "OK\n" {
					return fmt.Errorf("%d %q %v", code, body, err)
				}
				return nil
			})
		}},
		{"stop", func(t *testing.T) {
			r := p.ok(t, tool, "webservice", "stop")
			if !hasLine(r.Stdout, "Stopping webservice") {
				t.Fatalf("stop: %s", r)
			}
			if r := p.ok(t, tool, "webservice", "status"); !strings.Contains(r.Stdout, "webservice is not running") {
				t.Fatalf("status: %s", r)
			}
		}},
		{"shell starts and echoes", func(t *testing.T) {
			token := fmt.Sprintf("%d-token", time.Now().UnixNano()%100000)
			var r = p.toolforge(t, tool, "webservice", "php7.4", "shell", "--", "echo", token)
			if r.Code != 0 || !strings.Contains(r.Stdout, token) {
				t.Fatalf("shell -- echo: %s", r)
			}
			// The command's exit status is the shell's, and it ran in
			// php7.4's image, in the tool's home.
			r = p.toolforge(t, tool, "webservice", "php7.4", "shell", "--", "sh", "-c", `php -r 'echo PHP_VERSION, PHP_EOL;'; pwd; exit 3`)
			if r.Code != 3 || !strings.HasPrefix(r.Stdout, "7.4.") || !strings.Contains(r.Stdout, "/data/project/"+tool+"\n") {
				t.Fatalf("shell -- a failing command: %s", r)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			// As the original's suite: the steps build on each other.
			t.FailNow()
		}
	}
}

// lastLine is `tail -n 1`.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// hasLine is bats-assert's `assert_line`: a whole line equal to want.
func hasLine(s, want string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l == want {
			return true
		}
	}
	return false
}
