// Package sandbox is a real node's first process: pid 1 of new pid, mount,
// network, UTS and IPC namespaces, which it holds while containerd, kubelet
// and kube-proxy are entered into them. When the sandbox ends, the kernel
// kills everything inside — containers, shims, the node's components — and
// its mounts, network devices and iptables rules go with its namespaces, so
// a stopped node leaves nothing on the host.
//
// It is its own small program (devcluster-sandbox) rather than a mode of
// the devcluster binary: it only waits, and the multi-call binary costs
// ~150 MiB of resident pages a process just to start.
package sandbox

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Program is the sandbox's executable name, beside devcluster.
const Program = "devcluster-sandbox"

// Cloneflags are the namespaces a node's sandbox is started in.
const Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC

// ReadyFD is the descriptor on which the sandbox says it is ready
// (one line, then closes it); the starter passes a pipe there.
const ReadyFD = 3

// Run is the sandbox's main: it prepares the node's mount namespace,
// reports ready, then reaps orphans (it is their init) until it is told to
// stop. args: --hostname NAME --cni-state DIR.
func Run(args []string) int {
	fs := flag.NewFlagSet("node-sandbox", flag.ContinueOnError)
	hostname := fs.String("hostname", "", "the node's host name")
	cniState := fs.String("cni-state", "", "directory mounted on /var/lib/cni (CNI's fixed cache path)")
	var binds []string
	fs.Func("bind", "SRC:DST: bind SRC on DST, a path under the node's own /run (repeatable)", func(v string) error {
		if !strings.Contains(v, ":") {
			return fmt.Errorf("want SRC:DST, got %q", v)
		}
		binds = append(binds, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ready := os.NewFile(ReadyFD, "ready")
	if err := prepare(*hostname, *cniState, binds); err != nil {
		fmt.Fprintf(os.Stderr, "node sandbox: %v\n", err)
		if ready != nil {
			fmt.Fprintf(ready, "error: %v\n", err)
		}
		return 1
	}
	if ready != nil {
		fmt.Fprintln(ready, "ready")
		ready.Close()
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	child := make(chan os.Signal, 1)
	signal.Notify(child, syscall.SIGCHLD)
	for {
		select {
		case <-term:
			return 0
		case <-child:
			reap()
		}
	}
}

// prepare makes the node's view of the file system: the host's mounts
// (received, never sent back), its own /proc for its pid namespace, its
// own /run (containerd's state, network namespaces' bind mounts, the
// xtables lock) and its own CNI cache.
func prepare(hostname, cniState string, binds []string) error {
	if os.Getpid() != 1 {
		return fmt.Errorf("must be pid 1 of a new pid namespace (is %d)", os.Getpid())
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"stop mount propagation to the host", func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, "") }},
		{"mount /proc", func() error {
			return unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}},
		{"mount /run", func() error { return unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755") }},
		{"mount /var/lib/cni", func() error {
			if err := os.MkdirAll(cniState, 0o700); err != nil {
				return err
			}
			// The mount point itself must exist on the host's file system;
			// an empty directory, which stop removes when it made it.
			if err := os.MkdirAll("/var/lib/cni", 0o755); err != nil {
				return err
			}
			return unix.Mount(cniState, "/var/lib/cni", "", unix.MS_BIND, "")
		}},
		// Short paths on the node's own /run for directories holding
		// unix sockets (kubelet's), whose paths may not exceed 108 bytes
		// and the cluster directory can be long.
		{"bind directories into /run", func() error {
			for _, b := range binds {
				src, dst, _ := strings.Cut(b, ":")
				if err := os.MkdirAll(src, 0o700); err != nil {
					return err
				}
				if err := os.MkdirAll(dst, 0o700); err != nil {
					return err
				}
				if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("%s on %s: %w", src, dst, err)
				}
			}
			return nil
		}},
		{"set the host name", func() error { return unix.Sethostname([]byte(hostname)) }},
		// The node routes between its pods' bridge and the cluster, and
		// its bridged pod traffic must pass kube-proxy's rules. These
		// sysctls are the node's own: they belong to its network namespace.
		{"enable forwarding", func() error { return sysctl("net/ipv4/ip_forward", "1") }},
		{"filter bridged traffic", func() error { return sysctl("net/bridge/bridge-nf-call-iptables", "1") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

func sysctl(name, value string) error {
	return os.WriteFile("/proc/sys/"+name, []byte(value), 0o644)
}

// reap collects the orphans (reparented to the sandbox, their init) that
// have exited.
func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
