package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The runner's argument handling, run by the host's sh (the servers
// themselves are tested in containers, in run_test.go).
func TestTheRunnerSaysWhatIsWrong(t *testing.T) {
	script := filepath.Join(t.TempDir(), "webservice-runner")
	if err := os.WriteFile(script, runnerScript, 0o755); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no type is a usage error", nil, 1, "--type is required"},
		{"a port must be a number", []string{"--type", "jdk17", "--port", "http"}, 1, "--port must be a number"},
		{"an unknown option is a usage error", []string{"--type", "jdk17", "--verbose"}, 2, "usage: webservice-runner"},
		{"a generic type needs a command", []string{"--type", "golang1.21"}, 1, "runs the command given after --, and none was given"},
		{"python needs app.py", []string{"--type=python3.11"}, 1, "www/python/src/app.py does not exist"},
		{"node needs www/js", []string{"--type", "node20"}, 1, "www/js does not exist"},
		{"a generic type runs its command with PORT set", []string{"--type", "jdk17", "--port", "8123", "--", "sh", "-c", "echo port=$PORT"}, 0,
			"webservice-runner: starting jdk17 on port 8123\nport=8123"},
		{"the port defaults to 8000", []string{"--type", "ruby3.1", "--", "sh", "-c", "echo port=$PORT"}, 0, "port=8000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", append([]string{script}, tt.args...)...)
			cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || !strings.Contains(string(out), tt.want) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tt.wantCode, tt.want)
			}
		})
	}
}
