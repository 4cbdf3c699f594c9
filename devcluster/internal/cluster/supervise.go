package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/toolforge-go/toolforge/devcluster/internal/components"
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
	l        Layout
	o        Options
	p        ports
	state    State
	etcd     *embed.Etcd
	children []*child
	log      *slog.Logger
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
	s.p = ports{API: s.o.Port}
	for _, port := range []*int{&s.p.EtcdClient, &s.p.EtcdPeer, &s.p.ControllerManager, &s.p.Scheduler, &s.p.Kwok} {
		if *port, err = freePort(); err != nil {
			return fmt.Errorf("pick a free port: %w", err)
		}
	}
	if err := writeConfig(s.l, s.o, s.p); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	s.state = State{
		Phase:         PhaseStarting,
		SupervisorPID: os.Getpid(),
		APIURL:        s.p.apiURL(),
		Nodes:         s.o.Nodes,
		StartedAt:     time.Now(),
	}
	s.publish()
	allArgs := args(s.l, s.o, s.p)
	for _, name := range components.Processes {
		s.children = append(s.children, &child{name: name, args: allArgs[name], env: componentEnv[name], logFile: s.l.Log(name)})
	}
	kwok := &child{name: components.Kwok, run: components.RunKwok, args: allArgs[components.Kwok], logFile: s.l.Log(components.Kwok)}
	s.children = append(s.children, kwok)
	apiserver, kcm, sched := s.children[0], s.children[1], s.children[2]

	s.etcd, err = components.StartEtcd(components.EtcdConfig{
		DataDir:   s.l.EtcdData(),
		ClientURL: "http://" + hostPort(s.p.EtcdClient),
		PeerURL:   "http://" + hostPort(s.p.EtcdPeer),
		LogFile:   s.l.Log(components.Etcd),
	})
	if err != nil {
		return err
	}
	s.publish()
	if err := s.startAndWait(ctx, apiserver, func(ctx context.Context) error {
		return s.apiReady(ctx)
	}); err != nil {
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
	if err := ensureNodes(ctx, client, s.o.Nodes); err != nil {
		return err
	}
	if err := installCRDs(ctx, s.l); err != nil {
		return err
	}
	if err := kwok.start(); err != nil {
		return err
	}
	s.publish()
	checks := []func(ctx context.Context) error{
		func(ctx context.Context) error {
			return httpsGetOK(ctx, "https://"+hostPort(s.p.ControllerManager)+"/healthz")
		},
		func(ctx context.Context) error { return httpsGetOK(ctx, "https://"+hostPort(s.p.Scheduler)+"/healthz") },
		func(ctx context.Context) error { return nodesReady(ctx, client, s.o.Nodes) },
		func(ctx context.Context) error { return defaultServiceAccount(ctx, client) },
	}
	for _, check := range checks {
		if err := s.waitFor(ctx, check); err != nil {
			return err
		}
	}
	s.state.Phase, s.state.ReadyAt = PhaseReady, time.Now()
	s.publish()
	s.log.Info("cluster ready", "api", s.state.APIURL, "nodes", s.o.Nodes, "took", s.state.ReadyAt.Sub(s.state.StartedAt).Round(time.Millisecond))
	return s.watch(ctx)
}

// watch restarts components that die once the cluster is up.
func (s *supervisor) watch(ctx context.Context) error {
	recent := map[string][]time.Time{}
	for {
		exited := make(chan *child, len(s.children))
		stopWatch := make(chan struct{})
		for _, c := range s.children {
			go func(c *child) {
				select {
				case <-c.done:
					exited <- c
				case <-stopWatch:
				}
			}(c)
		}
		select {
		case <-ctx.Done():
			close(stopWatch)
			return nil
		case err := <-s.etcd.Err():
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
			c.restarts++
			if err := c.start(); err != nil {
				return err
			}
			s.publish()
		}
	}
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
		for _, c := range s.children {
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

func (s *supervisor) client() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.l.Kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return kubernetes.NewForConfig(cfg)
}

// stopAll stops components in reverse start order, so that nothing loses
// the API server or etcd while it is still shutting down.
func (s *supervisor) stopAll() {
	s.state.Phase = PhaseStopping
	s.publish()
	for i := len(s.children) - 1; i >= 0; i-- {
		s.children[i].stop(15 * time.Second)
	}
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
}

func (s *supervisor) publish() {
	s.state.Procs = s.state.Procs[:0]
	if s.etcd != nil {
		s.state.Procs = append(s.state.Procs, Proc{Name: components.Etcd, PID: os.Getpid(), InSupervisor: true})
	}
	for _, c := range s.children {
		if pid := c.pid(); pid != 0 {
			s.state.Procs = append(s.state.Procs, Proc{Name: c.name, PID: pid, Restarts: c.restarts, InSupervisor: c.run != nil})
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
