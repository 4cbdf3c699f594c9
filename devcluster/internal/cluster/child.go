package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nsenter (util-linux) enters a node's namespaces: Go cannot join another
// process's mount or pid namespace itself.
const nsenterPath = "nsenter"

// child is one supervised component: a process, or (with run set) a
// goroutine of the supervisor.
type child struct {
	name   string
	run    func(ctx context.Context, args []string, log io.Writer) error
	cancel context.CancelFunc
	// exe is the program; empty means this binary's `component <name>`
	// (componentName when the display name differs).
	exe           string
	componentName string
	args          []string
	env           []string // added to the supervisor's environment
	logFile       string
	// cloneflags start the process in new namespaces (a node's sandbox).
	cloneflags uintptr
	// enter, when set, names the process whose namespaces this one runs
	// in (a node's sandbox), entered with nsenter.
	enter func() int
	// extraFiles are passed from descriptor 3 on.
	extraFiles []*os.File
	// addr is where it listens, for status.
	addr     string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	err      error         // why it exited, valid after done
	restarts int
	started  time.Time
}

func (c *child) start() error {
	if c.run != nil {
		return c.startInProcess()
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	log, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", c.name, err)
	}
	fmt.Fprintf(log, "\n==== %s starting %s\n", time.Now().Format(time.RFC3339), c.name)
	component := c.name
	if c.componentName != "" {
		component = c.componentName
	}
	argv := append([]string{exe, "component", component}, c.args...)
	if c.exe != "" {
		argv = append([]string{c.exe}, c.args...)
	}
	if c.enter != nil {
		target := c.enter()
		if target == 0 {
			log.Close()
			return fmt.Errorf("start %s: its node is not running", c.name)
		}
		argv = append([]string{nsenterPath, "--target", strconv.Itoa(target), "--pid", "--mount", "--net", "--uts", "--ipc", "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), c.env...)
	cmd.ExtraFiles = c.extraFiles
	// A supervisor that dies, even by SIGKILL, takes its children with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Cloneflags: c.cloneflags}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	c.cmd, c.done, c.err, c.started = cmd, make(chan struct{}), nil, time.Now()
	go func() {
		err := cmd.Wait()
		log.Close()
		if err == nil {
			err = fmt.Errorf("exited")
		}
		c.err = err
		close(c.done)
	}()
	return nil
}

func (c *child) startInProcess() error {
	log, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", c.name, err)
	}
	fmt.Fprintf(log, "\n==== %s starting %s (in the supervisor)\n", time.Now().Format(time.RFC3339), c.name)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done, c.err, c.started = cancel, make(chan struct{}), nil, time.Now()
	go func() {
		err := c.run(ctx, c.args, log)
		log.Close()
		if err == nil {
			err = fmt.Errorf("returned")
		}
		c.err = err
		close(c.done)
	}()
	return nil
}

func (c *child) pid() int {
	if c.exited() {
		return 0
	}
	if c.run != nil {
		return os.Getpid()
	}
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

func (c *child) exited() bool {
	if c.done == nil {
		return true
	}
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end, and kills it after grace.
func (c *child) stop(grace time.Duration) {
	if c.exited() {
		return
	}
	if c.run != nil {
		c.cancel()
		select {
		case <-c.done:
		case <-time.After(grace): // leave it: the supervisor exits anyway
		}
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// failure describes why the child died, with the last error-looking line of
// its log so the user sees the cause without opening the file.
func (c *child) failure() error {
	line := lastErrorLine(c.logFile)
	if line == "" {
		return fmt.Errorf("%s %v (log: %s)", c.name, c.err, c.logFile)
	}
	return fmt.Errorf("%s %v: %s (log: %s)", c.name, c.err, line, c.logFile)
}

// lastErrorLine returns the last line of a log that looks like an error,
// else its last non-empty line, trimmed to a readable length.
func lastErrorLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last, lastErr string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "====") {
			continue
		}
		last = line
		lower := strings.ToLower(line)
		if strings.HasPrefix(line, "E") || strings.HasPrefix(line, "F") || strings.Contains(lower, "error") || strings.Contains(lower, "failed") {
			lastErr = line
		}
	}
	if lastErr != "" {
		last = lastErr
	}
	if len(last) > 400 {
		last = last[:400] + "…"
	}
	return last
}
