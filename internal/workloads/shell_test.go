package workloads_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tmux drives a program through a pseudo-terminal, as a person at a
// terminal: what is typed goes in, the screen is read back.
type tmux struct{ socket, session string }

func (m tmux) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", m.socket}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (m tmux) screen(t *testing.T) string {
	return m.run(t, "capture-pane", "-p", "-J", "-S", "-200", "-t", m.session)
}

func TestWebserviceShellIsARealInteractiveShellInTheToolsImageAndHome(t *testing.T) {
	p := setup(t)
	t.Parallel()
	tool := p.Tools["sheller"]
	m := tmux{socket: "workloads-" + filepath.Base(cluster.Dir), session: "shell"}
	// The shell runs as the tool logged in would: its HOME, in its home.
	cmd := fmt.Sprintf("cd %s && env HOME=%s USER=%s PATH=%s %s webservice python3.11 shell; echo SHELL-ENDED-$?; sleep 600",
		tool.Home, tool.Home, tool.Name, os.Getenv("PATH"), p.CLI)
	m.run(t, "new-session", "-d", "-s", m.session, "-x", "160", "-y", "50", cmd)
	defer exec.Command("tmux", "-L", m.socket, "kill-server").Run() //nolint:errcheck // cleanup of a test's terminal
	// A prompt of the pod's login shell.
	until(t, imageTimeout, func() error {
		if s := m.screen(t); !strings.Contains(s, "$ ") {
			return fmt.Errorf("no prompt yet:\n%s", s)
		}
		return nil
	})
	m.run(t, "send-keys", "-t", m.session, `echo "home is $HOME, uid $(id -u), python $(python3 -c 'import sys; print(sys.version_info[1])')"; echo typed > typed-in-a-shell.txt; exit`, "Enter")
	until(t, time.Minute, func() error {
		if s := m.screen(t); !strings.Contains(s, "SHELL-ENDED-0") {
			return fmt.Errorf("the shell has not ended:\n%s", s)
		}
		return nil
	})
	s := m.screen(t)
	if want := fmt.Sprintf("home is /data/project/sheller, uid %d, python 11", tool.UID); !strings.Contains(s, want) {
		t.Fatalf("the shell did not run what was typed (%q):\n%s", want, s)
	}
	if data, err := os.ReadFile(filepath.Join(tool.Home, "typed-in-a-shell.txt")); err != nil || string(data) != "typed\n" {
		t.Fatalf("the shell's file in the home: %q %v", data, err)
	}
	// Its pod is gone once it ended.
	until(t, time.Minute, func() error {
		pods, err := cluster.Client.CoreV1().Pods("tool-sheller").List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=webservice-interactive"})
		if err != nil {
			return err
		}
		if len(pods.Items) != 0 {
			return fmt.Errorf("%d shell pod(s) left", len(pods.Items))
		}
		return nil
	})
}
