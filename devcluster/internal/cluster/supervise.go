package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/toolforge-go/toolforge/devcluster/internal/components"
	"github.com/toolforge-go/toolforge/devcluster/internal/nodenet"
	"github.com/toolforge-go/toolforge/devcluster/internal/pki"
)

// startTimeout bounds each start-up step; a 2-core machine under load from
// other tests needs headroom beyond the ~5 s a quiet start takes.
const startTimeout = 90 * time.Second

// crash-loop guard: a component that died this many times within
// restartWindow is left down and the cluster is marked failed.
const (
	maxRestarts   = 5
	restartWindow = 2 * time.Minute
)

// componentEnv tunes components' Go runtime. The API server spends about
// an eighth of its CPU in garbage collection under write load on a
// 2-core machine; a GC target of 200% halves that for ~60 MiB more heap.
var componentEnv = map[string][]string{
	components.APIServer: {"GOGC=200"},
}

type supervisor struct {
	l     Layout
	o     Options
	p     ports
	state State
	etcd  *embed.Etcd
	// children are the control plane and the nodes' services, in start
	// order; nodes are the real nodes (their own children apart).
	children []*child
	nodes    []*realNode
	// Real nodes only: the network plan, the programs they run, and the
	// services the supervisor runs for them in-process.
	plan     *nodenet.Plan
	tools    tools
	services []service
	log      *slog.Logger
}

// service is something the supervisor runs in-process for the nodes (the
// API forwarder, the registry); Close stops it.
type service interface{ Close() error }

// namedService is a service status reports by name, with where it
// listens.
type namedService struct {
	service
	name, addr string
}

// Supervise runs the cluster until ctx ends. lock must be the held directory
// lock; it is released when Supervise returns.
func Supervise(ctx context.Context, o Options, lock *os.File) error {
	defer lock.Close()
	l := Layout{Dir: o.Dir}
	s := &supervisor{l: l, o: o, log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	err := s.run(ctx)
	s.stopAll()
	s.state.Procs = nil
	if err != nil {
		s.state.Phase, s.state.Error = PhaseFailed, err.Error()
		s.log.Error("cluster failed", "err", err)
	} else {
		s.state.Phase = PhaseStopped
		s.log.Info("cluster stopped")
	}
	if werr := l.writeState(s.state); werr != nil {
		s.log.Error("write state", "err", werr)
	}
	return err
}

func (s *supervisor) run(ctx context.Context) error {
	var err error
	if s.o.Nodes > 0 {
		if s.tools, err = preflight(s.o); err != nil {
			return err
		}
		// Clusters whose directory was deleted under them cannot be
		// stopped any more; their leftovers would hold address ranges.
		if orphans, err := nodenet.Orphans(); err == nil {
			for _, o := range orphans {
				s.log.Info("removing the leftovers of a cluster whose directory is gone", "dir", o.Dir, "bridge", o.Bridge())
				if err := cleanupHost(o); err != nil {
					s.log.Warn("remove leftovers", "dir", o.Dir, "err", err)
				}
			}
		}
		plan, err := nodenet.Choose(s.l.Dir)
		if err != nil {
			return err
		}
		s.plan = &plan
		// What a crashed earlier run of this cluster left behind.
		if err := cleanupHost(plan); err != nil {
			return err
		}
		if err := nodenet.SetupHost(plan); err != nil {
			return err
		}
	}
	s.p = ports{API: s.o.Port}
	for _, port := range []*int{&s.p.EtcdClient, &s.p.EtcdPeer, &s.p.ControllerManager, &s.p.Scheduler, &s.p.Kwok, &s.p.Registry, &s.p.DNSHealth, &s.p.DNSReady, &s.p.IngressPing, &s.p.LogsStore} {
		if *port, err = freePort(); err != nil {
			return fmt.Errorf("pick a free port: %w", err)
		}
	}
	if err := writeConfig(s.l, s.o, s.p, s.plan); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	s.state = State{
		Phase:         PhaseStarting,
		SupervisorPID: os.Getpid(),
		APIURL:        s.p.apiURL(),
		EtcdURL:       "https://" + hostPort(s.p.EtcdClient),
		EtcdCACert:    s.l.PKI().EtcdCACert(),
		EtcdCert:      s.l.PKI().Cert(pki.EtcdAdminClient),
		EtcdKey:       s.l.PKI().Key(pki.EtcdAdminClient),
		Nodes:         s.o.Nodes,
		KwokNodes:     s.o.KwokNodes,
		StartedAt:     time.Now(),
	}
	if s.plan != nil {
		s.state.IngressURL = "http://" + hostPort(s.o.IngressPort)
		s.state.Registry = hostPort(s.p.Registry)
		s.state.RegistryGateway = net.JoinHostPort(s.plan.Gateway().String(), strconv.Itoa(RegistryGatewayPort))
		s.state.RegistryCredentials = s.l.RegistryCredentials()
		s.state.LogsStore = "http://" + hostPort(s.p.LogsStore)
		s.state.Network = &NetworkState{Bridge: s.plan.Bridge(), Gateway: s.plan.Gateway().String(), PodCIDR: s.plan.PodCIDR().String(), ServiceCIDR: nodenet.ServiceCIDR}
	}
	s.publish()
	allArgs := args(s.l, s.o, s.p, s.plan)
	apiserver := s.addChild(&child{name: components.APIServer, args: allArgs[components.APIServer], env: componentEnv[components.APIServer], logFile: s.l.Log(components.APIServer), addr: hostPort(s.p.API)})
	kcm := s.addChild(&child{name: components.ControllerManager, args: allArgs[components.ControllerManager], logFile: s.l.Log(components.ControllerManager), addr: hostPort(s.p.ControllerManager)})
	sched := s.addChild(&child{name: components.Scheduler, args: allArgs[components.Scheduler], logFile: s.l.Log(components.Scheduler), addr: hostPort(s.p.Scheduler)})

	s.etcd, err = components.StartEtcd(components.EtcdConfig{
		DataDir:   s.l.EtcdData(),
		ClientURL: s.state.EtcdURL,
		PeerURL:   "https://" + hostPort(s.p.EtcdPeer),
		CertFile:  s.l.PKI().Cert(pki.EtcdServer),
		KeyFile:   s.l.PKI().Key(pki.EtcdServer),
		CAFile:    s.l.PKI().EtcdCACert(),
		LogFile:   s.l.Log(components.Etcd),
	})
	if err != nil {
		return err
	}
	s.publish()
	if err := s.startAndWait(ctx, apiserver, s.apiReady); err != nil {
		return err
	}
	client, err := s.client()
	if err != nil {
		return err
	}
	// The controller-manager and scheduler start while nodes and CRDs are
	// made; kwok needs its CRDs served before it starts.
	for _, c := range []*child{kcm, sched} {
		if err := c.start(); err != nil {
			return err
		}
	}
	s.publish()
	if err := ensureNodes(ctx, client, s.wantedNodes()); err != nil {
		return err
	}
	if s.o.KwokNodes > 0 {
		if err := installCRDs(ctx, s.l); err != nil {
			return err
		}
		kwok := s.addChild(&child{name: components.Kwok, run: components.RunKwok, args: allArgs[components.Kwok], logFile: s.l.Log(components.Kwok)})
		if err := kwok.start(); err != nil {
			return err
		}
		s.publish()
	}
	checks := []func(ctx context.Context) error{
		func(ctx context.Context) error {
			return httpsGetOK(ctx, "https://"+hostPort(s.p.ControllerManager)+"/healthz")
		},
		func(ctx context.Context) error { return httpsGetOK(ctx, "https://"+hostPort(s.p.Scheduler)+"/healthz") },
	}
	if s.plan != nil {
		nodeChecks, err := s.startNodeServices(ctx)
		if err != nil {
			return err
		}
		checks = append(checks, nodeChecks...)
	}
	checks = append(checks,
		func(ctx context.Context) error { return nodesReady(ctx, client, s.o.Nodes+s.o.KwokNodes) },
		func(ctx context.Context) error { return defaultServiceAccount(ctx, client) },
	)
	for _, check := range checks {
		if err := s.waitFor(ctx, check); err != nil {
			return err
		}
	}
	s.state.Phase, s.state.ReadyAt = PhaseReady, time.Now()
	s.publish()
	s.log.Info("cluster ready", "api", s.state.APIURL, "nodes", s.o.Nodes, "kwokNodes", s.o.KwokNodes, "took", s.state.ReadyAt.Sub(s.state.StartedAt).Round(time.Millisecond))
	return s.watch(ctx)
}

func (s *supervisor) addChild(c *child) *child {
	s.children = append(s.children, c)
	return c
}

// allChildren is every supervised process, nodes' included.
func (s *supervisor) allChildren() []*child {
	out := append([]*child(nil), s.children...)
	for _, n := range s.nodes {
		out = append(out, n.children()...)
	}
	return out
}

// watch restarts components that die once the cluster is up. A node whose
// sandbox died is restarted whole (its namespaces are gone).
func (s *supervisor) watch(ctx context.Context) error {
	recent := map[string][]time.Time{}
	for {
		all := s.allChildren()
		exited := make(chan *child, len(all))
		stopWatch := make(chan struct{})
		for _, c := range all {
			go func(c *child) {
				select {
				case <-c.done:
					exited <- c
				case <-stopWatch:
				}
			}(c)
		}
		var etcdErr <-chan error
		if s.etcd != nil {
			etcdErr = s.etcd.Err()
		}
		select {
		case <-ctx.Done():
			close(stopWatch)
			return nil
		case err := <-etcdErr:
			close(stopWatch)
			return fmt.Errorf("etcd: %w (log: %s)", err, s.l.Log(components.Etcd))
		case c := <-exited:
			close(stopWatch)
			s.log.Warn("component exited, restarting", "component", c.name, "err", c.failure())
			now := time.Now()
			var kept []time.Time
			for _, t := range recent[c.name] {
				if now.Sub(t) < restartWindow {
					kept = append(kept, t)
				}
			}
			recent[c.name] = append(kept, now)
			if len(recent[c.name]) > maxRestarts {
				return fmt.Errorf("%w; it crashed %d times in %s", c.failure(), maxRestarts, restartWindow)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			if err := s.restart(ctx, c); err != nil {
				return err
			}
			s.publish()
		}
	}
}

func (s *supervisor) restart(ctx context.Context, c *child) error {
	for _, n := range s.nodes {
		for _, part := range n.children() {
			if part != c {
				continue
			}
			if n.sandbox.exited() {
				n.stop(15 * time.Second)
				n.sandbox.restarts++
				return s.startRealNode(ctx, n)
			}
			c.restarts++
			return c.start()
		}
	}
	c.restarts++
	return c.start()
}

func (s *supervisor) startAndWait(ctx context.Context, c *child, ready func(context.Context) error) error {
	if err := c.start(); err != nil {
		return err
	}
	s.publish()
	return s.waitFor(ctx, ready)
}

// waitFor polls check until it passes, failing early if any started
// component dies or ctx ends.
func (s *supervisor) waitFor(ctx context.Context, check func(context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for {
		for _, c := range s.allChildren() {
			if (c.cmd != nil || c.cancel != nil) && c.exited() {
				return c.failure()
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.New("interrupted while starting")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", startTimeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *supervisor) apiReady(ctx context.Context) error {
	client, err := s.client()
	if err != nil {
		return err
	}
	body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("kube-apiserver /readyz: %w (%s)", err, body)
	}
	return nil
}

func (s *supervisor) restConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.l.Kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

func (s *supervisor) client() (kubernetes.Interface, error) {
	cfg, err := s.restConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// stopAll stops components in reverse start order, so that nothing loses
// the API server or etcd while it is still shutting down. Nodes go first:
// ending a sandbox ends everything in the node at once. Then what the
// cluster changed on the host is undone.
func (s *supervisor) stopAll() {
	s.state.Phase = PhaseStopping
	s.publish()
	for _, n := range s.nodes {
		n.stop(15 * time.Second)
	}
	for i := len(s.children) - 1; i >= 0; i-- {
		s.children[i].stop(15 * time.Second)
	}
	for i := len(s.services) - 1; i >= 0; i-- {
		if err := s.services[i].Close(); err != nil {
			s.log.Warn("stop service", "err", err)
		}
	}
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
	if s.plan != nil {
		if err := cleanupHost(*s.plan); err != nil {
			s.log.Error("clean up the host", "err", err)
		}
	}
}

func (s *supervisor) publish() {
	s.state.Procs = s.state.Procs[:0]
	if s.etcd != nil {
		s.state.Procs = append(s.state.Procs, Proc{Name: components.Etcd, PID: os.Getpid(), InSupervisor: true, Addr: hostPort(s.p.EtcdClient) + " " + hostPort(s.p.EtcdPeer)})
	}
	for _, svc := range s.services {
		if n, ok := svc.(namedService); ok {
			s.state.Procs = append(s.state.Procs, Proc{Name: n.name, PID: os.Getpid(), InSupervisor: true, Addr: n.addr})
		}
	}
	for _, c := range s.allChildren() {
		if pid := c.pid(); pid != 0 {
			s.state.Procs = append(s.state.Procs, Proc{Name: c.name, PID: pid, Restarts: c.restarts, InSupervisor: c.run != nil, Addr: c.addr})
		}
	}
	if err := s.l.writeState(s.state); err != nil {
		s.log.Error("write state", "err", err)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", hostPort(0))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
