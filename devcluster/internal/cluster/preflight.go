package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/toolforge-go/toolforge/devcluster/internal/cgroups"
	"github.com/toolforge-go/toolforge/devcluster/internal/sandbox"
)

// tools are the programs real nodes run besides this binary.
type tools struct {
	containerd, shim, coredns, traefik string // built from their Go modules (make)
	metricsServer                      string // built from its Go module (make)
	victoriaLogs, vlagent              string // the log store and its collector (make)
	sandbox                            string // devcluster-sandbox, built with devcluster
	runc, cniDir, iptables, nsenter    string // Debian packages
}

// cniPlugins are the CNI plugins a node's network uses (containerd calls
// loopback itself).
var cniPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// preflight checks what real nodes need before anything starts, so that a
// machine that cannot run them gets one line naming the cause and the fix.
func preflight(o Options) (tools, error) {
	var t tools
	if os.Geteuid() != 0 {
		return t, errors.New("real nodes need root (network namespaces, mounts, cgroups): run as root, or use --nodes 0 --kwok-nodes K for simulated nodes only")
	}
	var err error
	for _, b := range []struct {
		dst  *string
		name string
	}{{&t.containerd, "containerd"}, {&t.shim, "containerd-shim-runc-v2"}, {&t.coredns, "coredns"}, {&t.traefik, "traefik"}, {&t.metricsServer, metricsServer}, {&t.sandbox, sandbox.Program}, {&t.victoriaLogs, victoriaLogsProgram}, {&t.vlagent, vlagentProgram}} {
		if *b.dst, err = besideSelf(b.name); err != nil {
			return t, err
		}
	}
	for _, b := range []struct {
		dst       *string
		name, pkg string
	}{{&t.runc, "runc", "runc"}, {&t.iptables, "iptables", "iptables"}, {&t.nsenter, "nsenter", "util-linux"}} {
		if *b.dst, err = lookPath(b.name); err != nil {
			return t, fmt.Errorf("%s not found: real nodes need it (install the Debian package %s: apt-get install %s)", b.name, b.pkg, b.pkg)
		}
	}
	t.cniDir = os.Getenv("DEVCLUSTER_CNI_DIR")
	if t.cniDir == "" {
		t.cniDir = "/usr/lib/cni"
	}
	for _, p := range cniPlugins {
		if _, err := os.Stat(filepath.Join(t.cniDir, p)); err != nil {
			return t, fmt.Errorf("CNI plugin %s not found in %s: install the Debian package containernetworking-plugins (apt-get install containernetworking-plugins)", p, t.cniDir)
		}
	}
	if err := cgroups.Required(); err != nil {
		return t, fmt.Errorf("kubelet cannot run here: %w", err)
	}
	if err := portFree(o.IngressPort); err != nil {
		return t, err
	}
	return t, nil
}

// lookPath finds a program on PATH or in the sbin directories, which a
// non-login root shell may not have on PATH.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// besideSelf finds a program built with devcluster (make puts them all in
// bin/), else on PATH.
func besideSelf(name string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found next to devcluster or on PATH: build it with `make bin/%s`", name, name)
}

func portFree(port int) error {
	ln, err := net.Listen("tcp", hostPort(port))
	if err != nil {
		return fmt.Errorf("ingress port %d on %s is already in use; choose another with --ingress-port", port, loopback)
	}
	return ln.Close()
}
