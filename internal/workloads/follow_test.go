package workloads_test

import (
	"bufio"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestLogsFollowAContinuousJobAsItPrints(t *testing.T) {
	p := setup(t)
	t.Parallel()
	p.ok(t, "logger", "jobs", "run", "ticker", "--image", "python3.11", "--no-filelog", "--continuous", "--command", `i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done`)
	ctx, cancel := context.WithTimeout(context.Background(), imageTimeout)
	defer cancel()
	var cmd *exec.Cmd
	var sc *bufio.Scanner
	// Until the pod runs, logs says there are none; then it streams.
	until(t, imageTimeout, func() error {
		cmd = exec.CommandContext(ctx, p.CLI, "jobs", "logs", "ticker", "-f")
		cmd.Env = p.Tools["logger"].Env()
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		sc = bufio.NewScanner(out)
		if !sc.Scan() {
			_ = cmd.Wait()
			return errNoLine
		}
		return nil
	})
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Lines keep coming, one after another, as the job prints them.
	prev := tick(t, sc.Text())
	for range 3 {
		if !sc.Scan() {
			t.Fatalf("logs -f ended after tick %d: %v", prev, sc.Err())
		}
		if cur := tick(t, sc.Text()); cur != prev+1 {
			t.Fatalf("tick %d after tick %d", cur, prev)
		}
		prev++
	}
}

func tick(t *testing.T, line string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(line, "tick "))
	if err != nil {
		t.Fatalf("line %q", line)
	}
	return n
}

var errNoLine = errString("logs -f printed nothing")

type errString string

func (e errString) Error() string { return string(e) }
