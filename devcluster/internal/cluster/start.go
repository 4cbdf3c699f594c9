package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/toolforge-go/toolforge/devcluster/internal/nodenet"
)

// UsageError is bad input from the user (exit code 2).
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Validate checks the options before anything is touched.
func (o *Options) Validate() error {
	if o.Dir == "" {
		return UsageError{"--dir is required"}
	}
	if o.Nodes < 0 || o.KwokNodes < 0 {
		return UsageError{fmt.Sprintf("--nodes and --kwok-nodes cannot be negative (got %d and %d)", o.Nodes, o.KwokNodes)}
	}
	if o.Nodes+o.KwokNodes < 1 {
		return UsageError{"a cluster needs at least one node: --nodes N (real) or --kwok-nodes K (simulated)"}
	}
	if o.Nodes > nodenet.MaxNodes {
		return UsageError{fmt.Sprintf("--nodes must be at most %d (got %d)", nodenet.MaxNodes, o.Nodes)}
	}
	if o.Nodes > 0 && (o.IngressPort < 1 || o.IngressPort > 65535) {
		return UsageError{fmt.Sprintf("--ingress-port must be between 1 and 65535 (got %d)", o.IngressPort)}
	}
	if o.Port < 1 || o.Port > 65535 {
		return UsageError{fmt.Sprintf("--port must be between 1 and 65535 (got %d)", o.Port)}
	}
	if err := o.Logs.validate(); err != nil {
		return err
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("--dir %q: %w", o.Dir, err)
	}
	o.Dir = abs
	return nil
}

// Start starts a supervisor for the cluster in o.Dir in the background and
// returns once the cluster is ready, or with the reason it could not start
// (in which case nothing it started is left running). Progress goes to
// msgs; the summary of a ready cluster to out.
func Start(ctx context.Context, o Options, timeout time.Duration, out, msgs io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	l := Layout{Dir: o.Dir}
	if running(l) {
		return alreadyRunning(ctx, l, timeout, out, msgs)
	}
	// Check the port before touching the directory: a start refused for
	// bad input leaves nothing behind.
	ln, err := net.Listen("tcp", hostPort(o.Port))
	if err != nil {
		return fmt.Errorf("port %d on %s is already in use; choose another with --port", o.Port, loopback)
	}
	ln.Close()
	if err := usableDir(o.Dir); err != nil {
		return err
	}
	if o.Nodes > 0 {
		// Refuse a machine that cannot run real nodes before starting
		// anything; the supervisor checks again for itself.
		if _, err := preflight(o); err != nil {
			return err
		}
	}
	lock, ok, err := lockDir(l)
	if err != nil {
		return err
	}
	if !ok { // lost a race with another start
		return alreadyRunning(ctx, l, timeout, out, msgs)
	}
	defer lock.Close()
	if err := os.MkdirAll(l.LogDir(), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", l.LogDir(), err)
	}
	// A state file left by an earlier run must not be mistaken for this one.
	if err := l.writeState(State{Phase: PhaseStarting}); err != nil {
		return fmt.Errorf("write %s: %w", l.StateFile(), err)
	}
	sup, err := spawnSupervisor(l, o, lock)
	if err != nil {
		return err
	}
	fmt.Fprintf(msgs, "Starting devcluster in %s (supervisor pid %d, logs in %s)\n", o.Dir, sup.Process.Pid, l.LogDir())
	return waitReady(ctx, l, sup, timeout, out, msgs)
}

func alreadyRunning(ctx context.Context, l Layout, timeout time.Duration, out, msgs io.Writer) error {
	st, _ := l.readState()
	if st.Phase == PhaseReady {
		fmt.Fprintf(msgs, "devcluster in %s is already running (API %s, supervisor pid %d)\n", l.Dir, st.APIURL, st.SupervisorPID)
		return nil
	}
	fmt.Fprintf(msgs, "devcluster in %s is already starting; waiting for it\n", l.Dir)
	return waitReady(ctx, l, nil, timeout, out, msgs)
}

func usableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot use --dir %s: %w", dir, unwrapPath(err))
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("cannot use --dir %s: not writable: %w", dir, unwrapPath(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// spawnSupervisor starts `devcluster supervise` in its own session, handing
// it the held directory lock (fd 3) so that no second start can slip in.
func spawnSupervisor(l Layout, o Options, lock *os.File) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(l.Log("supervisor"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	args := []string{"supervise", "--dir", o.Dir, "--nodes", strconv.Itoa(o.Nodes), "--kwok-nodes", strconv.Itoa(o.KwokNodes),
		"--port", strconv.Itoa(o.Port), "--ingress-port", strconv.Itoa(o.IngressPort), "--lock-fd", "3"}
	if o.AuditLog {
		args = append(args, "--audit-log")
	}
	args = append(args, o.Logs.args()...)
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{lock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	return cmd, nil
}

// waitReady follows the state file until the cluster is ready or failed.
// sup is the supervisor when this process started it, else nil.
func waitReady(ctx context.Context, l Layout, sup *exec.Cmd, timeout time.Duration, out, msgs io.Writer) error {
	supDone := make(chan struct{})
	if sup != nil {
		go func() { _ = sup.Wait(); close(supDone) }()
	}
	begin := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	seen := map[string]bool{}
	abort := func(reason error) error {
		if sup != nil {
			_ = sup.Process.Signal(syscall.SIGTERM)
			<-supDone
		}
		return reason
	}
	for {
		st, _ := l.readState()
		for _, p := range st.Procs {
			if !seen[p.Name] {
				seen[p.Name] = true
				where := ""
				if p.InSupervisor {
					where = " (in supervisor)"
				}
				fmt.Fprintf(msgs, "  %-24s pid %d%s\n", p.Name, p.PID, where)
			}
		}
		switch st.Phase {
		case PhaseReady:
			fmt.Fprintf(msgs, "devcluster ready in %.1fs\n", time.Since(begin).Seconds())
			fmt.Fprintf(out, "API server: %s\nnodes: %d real, %d simulated, all Ready\nkubeconfig: %s\n", st.APIURL, st.Nodes, st.KwokNodes, l.Kubeconfig())
			if st.IngressURL != "" {
				fmt.Fprintf(out, "ingress: %s (any <name>.localhost resolves to loopback)\n", st.IngressURL)
				registryLines(out, st)
			}
			if st.Git != "" {
				fmt.Fprintf(out, "git: %s/ (serves %s/NAME.git)\n", st.Git, l.GitDir())
			}
			return nil
		case PhaseFailed:
			if sup != nil {
				<-supDone
			}
			return errors.New(st.Error)
		}
		if sup == nil && !running(l) {
			return fmt.Errorf("the supervisor that was starting %s is gone (see %s)", l.Dir, l.Log("supervisor"))
		}
		select {
		case <-supDone:
			st, _ := l.readState()
			if st.Phase == PhaseFailed {
				return errors.New(st.Error)
			}
			if line := lastErrorLine(l.Log("supervisor")); line != "" {
				return fmt.Errorf("supervisor exited before the cluster was ready: %s", line)
			}
			return fmt.Errorf("supervisor exited before the cluster was ready (see %s)", l.Log("supervisor"))
		case <-ctx.Done():
			return abort(errors.New("interrupted; stopped what was started"))
		case <-deadline.C:
			return abort(fmt.Errorf("not ready after %s; stopped what was started (logs in %s)", timeout, l.LogDir()))
		case <-tick.C:
		}
	}
}
