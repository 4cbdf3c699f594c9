package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/toolforge-go/toolforge/devcluster/internal/nodenet"
	"github.com/toolforge-go/toolforge/devcluster/internal/sandbox"
)

// stopGrace is how long the supervisor gets to stop its components before
// everything left is killed.
const stopGrace = 60 * time.Second

// Stop stops every process of the cluster in dir and returns once they are
// all gone. Stopping a cluster that is not running is not an error.
func Stop(ctx context.Context, dir string, msgs io.Writer) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	l := Layout{Dir: abs}
	st, err := l.readState()
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(msgs, "devcluster in %s is not running\n", abs)
		return nil
	}
	if running(l) {
		if st.SupervisorPID > 0 {
			_ = syscall.Kill(st.SupervisorPID, syscall.SIGTERM)
		}
		deadline := time.Now().Add(stopGrace)
		for running(l) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
		}
		if running(l) && st.SupervisorPID > 0 {
			// The supervisor leads its own session: kill the whole group.
			_ = syscall.Kill(-st.SupervisorPID, syscall.SIGKILL)
		}
	}
	// Components die with their supervisor (parent-death signal), but make
	// sure: wait for, then kill, any recorded process that is still ours.
	left := ours(l, st)
	deadline := time.Now().Add(10 * time.Second)
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		left = ours(l, st)
	}
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for i := 0; i < 200 && len(ours(l, st)) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if left := ours(l, st); len(left) > 0 {
		return fmt.Errorf("processes %v of %s would not die", left, abs)
	}
	// The supervisor undoes what real nodes changed on the host; after a
	// supervisor that was killed, do it here.
	if plan, ok, _ := nodenet.Load(abs); ok {
		if err := cleanupHost(plan); err != nil {
			return fmt.Errorf("clean up after %s: %w", abs, err)
		}
	}
	if st.Phase != PhaseStopped && st.Phase != PhaseFailed {
		if fresh, err := l.readState(); err == nil && fresh.Phase != PhaseStopped && fresh.Phase != PhaseFailed {
			fresh.Phase, fresh.Procs = PhaseStopped, nil
			_ = l.writeState(fresh)
		}
	}
	var names []string
	for _, p := range st.Procs {
		names = append(names, p.Name)
	}
	if len(names) > 0 {
		fmt.Fprintf(msgs, "stopped: supervisor, %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintf(msgs, "devcluster in %s stopped\n", abs)
	return nil
}

// ours lists the recorded pids that still run this devcluster binary for
// this directory (a recycled pid belongs to someone else).
func ours(l Layout, st State) []int {
	var pids []int
	candidates := []int{st.SupervisorPID}
	for _, p := range st.Procs {
		candidates = append(candidates, p.PID)
	}
	for _, pid := range candidates {
		if pid > 0 && isOurs(pid, l.Dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func isOurs(pid int, dir string) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		// A zombie is already gone for our purposes.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			return false
		}
	}
	args := bytes.Split(cmdline, []byte{0})
	if len(args) < 2 {
		return false
	}
	switch filepath.Base(string(args[0])) {
	case nsenterPath, "containerd", coreDNS, ingress, metricsServer, sandbox.Program:
		// A node's component entered into its namespaces, or a program
		// devcluster runs beside the control plane.
	default:
		if string(args[1]) != "component" && string(args[1]) != "supervise" {
			return false
		}
	}
	for _, a := range args {
		if string(a) == dir || bytes.Contains(a, []byte(dir+"/")) {
			return true
		}
	}
	return false
}
