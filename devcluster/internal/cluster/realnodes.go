package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/toolforge-go/toolforge/devcluster/internal/cgroups"
	"github.com/toolforge-go/toolforge/devcluster/internal/components"
	"github.com/toolforge-go/toolforge/devcluster/internal/node"
	"github.com/toolforge-go/toolforge/devcluster/internal/nodenet"
	"github.com/toolforge-go/toolforge/devcluster/internal/pki"
	"github.com/toolforge-go/toolforge/devcluster/internal/sandbox"
)

// realNode is one real node: its sandbox (the namespaces) and the
// components entered into it.
type realNode struct {
	index   int
	cfg     node.Config
	sandbox *child
	parts   []*child // containerd, kubelet, kube-proxy
}

func realNodeName(i int) string { return "node-" + strconv.Itoa(i) }

// cgroupRoot is where a cluster's kubelets put their pods; one per
// network slot, so clusters side by side never share one.
func cgroupRoot(plan nodenet.Plan) string { return "/devcluster-" + strconv.Itoa(plan.Slot) }

func (s *supervisor) newRealNode(i int) (*realNode, error) {
	name := realNodeName(i)
	d := s.l.PKI()
	if err := pki.EnsureNode(d, name, s.plan.NodeIP(i)); err != nil {
		return nil, fmt.Errorf("%s credentials: %w", name, err)
	}
	dir := s.l.NodeDir(name)
	cfg := node.Config{
		Name:               name,
		Dir:                dir,
		LogDir:             filepath.Join(dir, "pod-logs"),
		NodeIP:             s.plan.NodeIP(i),
		PodCIDR:            s.plan.NodePodCIDR(i),
		ClusterCIDR:        s.plan.PodCIDR(),
		APIServer:          "https://" + net.JoinHostPort(s.plan.Gateway().String(), strconv.Itoa(s.p.API)),
		CACert:             d.CACert(),
		KubeletCert:        d.Cert(pki.NodeClient(name)),
		KubeletKey:         d.Key(pki.NodeClient(name)),
		KubeletServingCert: d.Cert(pki.NodeServing(name)),
		KubeletServingKey:  d.Key(pki.NodeServing(name)),
		ProxyCert:          d.Cert("kube-proxy"),
		ProxyKey:           d.Key("kube-proxy"),
		CgroupRoot:         cgroupRoot(*s.plan) + "/" + name,
		DNSIP:              net.ParseIP(nodenet.DNSServiceIP),
		Domain:             nodenet.ClusterDomain,
		Runtime:            s.tools.runc,
		CNIBinDir:          s.tools.cniDir,
		SandboxImage:       SandboxImage,
		Mirrors:            s.mirrors(),
	}
	if err := cfg.Write(); err != nil {
		return nil, fmt.Errorf("%s configuration: %w", name, err)
	}
	n := &realNode{index: i, cfg: cfg}
	n.sandbox = &child{
		name: name + "/sandbox",
		exe:  s.tools.sandbox,
		args: []string{"--hostname", name, "--cni-state", cfg.CNIState(), "--bind", cfg.KubeletRoot() + ":" + node.KubeletRootInNode,
			// kubelet's links to its containers' logs, the node's own
			// (the collector reads them; logs.go).
			"--bind", containerLogLinks(cfg) + ":" + containerLogLinksInNode},
		logFile:    s.l.Log(name + "-sandbox"),
		cloneflags: sandbox.Cloneflags,
	}
	enter := func() int { return n.sandbox.pid() }
	// containerd finds its shim on PATH, next to itself.
	path := "PATH=" + filepath.Dir(s.tools.containerd) + ":" + os.Getenv("PATH")
	n.parts = []*child{
		{name: name + "/containerd", exe: s.tools.containerd, args: cfg.ContainerdArgs(), env: []string{path}, logFile: s.l.Log(name + "-containerd"), enter: enter},
		{name: name + "/kubelet", componentName: components.Kubelet, args: cfg.KubeletArgs(), logFile: s.l.Log(name + "-kubelet"), enter: enter, addr: net.JoinHostPort(cfg.NodeIP.String(), "10250")},
		{name: name + "/kube-proxy", componentName: components.KubeProxy, args: cfg.KubeProxyArgs(), logFile: s.l.Log(name + "-kube-proxy"), enter: enter},
	}
	return n, nil
}

// start brings the node up: sandbox, network, containerd, kubelet,
// kube-proxy. The node becomes Ready on its own once kubelet has
// registered and the network is configured.
func (s *supervisor) startRealNode(ctx context.Context, n *realNode) error {
	if err := cgroups.Ensure(n.cfg.CgroupRoot); err != nil {
		return fmt.Errorf("%s: %w", n.cfg.Name, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	n.sandbox.extraFiles = []*os.File{w}
	err = n.sandbox.start()
	w.Close()
	n.sandbox.extraFiles = nil
	if err != nil {
		r.Close()
		return err
	}
	line, err := readLine(r, 30*time.Second)
	r.Close()
	if err != nil || line != "ready" {
		if line != "" {
			err = errors.New(strings.TrimPrefix(line, "error: "))
		}
		return fmt.Errorf("%s sandbox: %w (log: %s)", n.cfg.Name, err, n.sandbox.logFile)
	}
	if err := nodenet.AttachNode(*s.plan, n.index, s.o.Nodes, n.sandbox.pid()); err != nil {
		return fmt.Errorf("%s: %w", n.cfg.Name, err)
	}
	containerd := n.parts[0]
	if err := containerd.start(); err != nil {
		return err
	}
	sock := filepath.Join("/proc", strconv.Itoa(n.sandbox.pid()), "root", node.ContainerdSocket)
	if err := s.waitFor(ctx, func(context.Context) error { return dialUnix(sock) }); err != nil {
		return fmt.Errorf("%s containerd: %w", n.cfg.Name, err)
	}
	for _, c := range n.parts[1:] {
		if err := c.start(); err != nil {
			return err
		}
	}
	return nil
}

// stopRealNode ends the sandbox, which ends everything in the node; the
// nsenter processes then exit with their children.
func (n *realNode) stop(grace time.Duration) {
	n.sandbox.stop(grace)
	for _, c := range n.parts {
		c.stop(grace)
		// Not started in the node's next life yet: a dead process of the
		// last one must not count as a failure while the node comes back
		// (waitFor fails on any started child that exited).
		c.cmd = nil
	}
}

func (n *realNode) children() []*child { return append([]*child{n.sandbox}, n.parts...) }

func readLine(r *os.File, timeout time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{strings.TrimSpace(line), err}
	}()
	select {
	case res := <-ch:
		if res.line == "" && res.err != nil {
			return "", fmt.Errorf("exited before it was ready")
		}
		return res.line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("not ready after %s", timeout)
	}
}

func dialUnix(path string) error {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}
