package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/toolforge-go/toolforge/internal/version"
)

// Every service that writes (the accounts controller, the admission
// installer, the notifier, the backup scheduler) has one leader at a time,
// elected by its own Lease in the platform namespace, named after the
// service alone: `toolforged all`, `toolforged <service>` and the Helm
// chart's component of it all take the same lease, so any two copies
// meet. Services that only serve (the API, the status page, the webhooks)
// run on every replica and take no lease.

// LeaseName is the Lease of service's leader.
func LeaseName(service string) string { return "toolforged-" + service }

// The election's timing, controller-runtime's defaults: a leader that
// cannot renew within RenewDeadline stops (and the process exits) before
// another may take the lease, LeaseDuration after its last renewal.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// Identity names this process in leases and in the user agent of its
// requests (so the API server's audit log tells two processes of one
// identity apart): the host and a random suffix, as controller-runtime's.
func Identity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("identity for leader election: %w", err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return host + "_" + hex.EncodeToString(b), nil
}

// UserAgent is the user agent of service's requests from the process id:
// the API server records "toolforged-<service>" as the manager of what it
// writes.
func UserAgent(service, id string) string {
	return fmt.Sprintf("toolforged-%s/%s (%s)", service, version.String(), id)
}

// serviceManager is the manager a service registers with: what needs a
// leader goes to the service's own election; the rest to the process's
// manager, as controller-runtime would place it.
type serviceManager struct {
	manager.Manager
	elector *elector // nil: no election (--leader-elect=false)
}

func (m *serviceManager) Add(r manager.Runnable) error {
	if m.elector == nil || !needsLeader(r) {
		return m.Manager.Add(r)
	}
	return m.elector.add(r)
}

// Elected is closed once this process leads the service.
func (m *serviceManager) Elected() <-chan struct{} {
	if m.elector == nil {
		return m.Manager.Elected()
	}
	m.elector.mu.Lock()
	defer m.elector.mu.Unlock()
	m.elector.wanted = true
	return m.elector.elected
}

// needsLeader mirrors the manager's placement of runnables: caches,
// webhook servers and runnables that say so run on every replica,
// everything else (controllers by default) on the leader.
func needsLeader(r manager.Runnable) bool {
	switch x := r.(type) {
	case *manager.Server:
		return x.NeedLeaderElection()
	case interface{ GetCache() cache.Cache }:
		return false
	case webhook.Server:
		return false
	case manager.LeaderElectionRunnable:
		return x.NeedLeaderElection()
	}
	return true
}

// elector runs a service's leader runnables while this process holds the
// service's lease.
type elector struct {
	lease, namespace, id string
	cfg                  *rest.Config
	log                  *slog.Logger

	mu        sync.Mutex
	runnables []manager.Runnable
	wanted    bool // someone waits for Elected
	started   bool
	elected   chan struct{}
}

func newElector(service, namespace, id string, cfg *rest.Config, log *slog.Logger) *elector {
	return &elector{lease: LeaseName(service), namespace: namespace, id: id, cfg: cfg, log: log.With("lease", namespace+"/"+LeaseName(service)), elected: make(chan struct{})}
}

func (e *elector) add(r manager.Runnable) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return fmt.Errorf("a runnable needing the leader of %s was added after the start", e.lease)
	}
	e.runnables = append(e.runnables, r)
	return nil
}

// needed says whether the service has anything for a leader to do.
func (e *elector) needed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.runnables) > 0 || e.wanted
}

// NeedLeaderElection is false: the elector itself runs on every replica.
func (e *elector) NeedLeaderElection() bool { return false }

// Start campaigns for the lease and, once held, runs the runnables until
// ctx ends or the lease is lost. It returns only after they stopped, and
// releases the lease after that, so that a successor never overlaps. A
// lost lease is an error: the process exits rather than write beside the
// new leader.
func (e *elector) Start(ctx context.Context) error {
	e.mu.Lock()
	e.started = true
	runnables := e.runnables
	e.mu.Unlock()

	kube, err := kubernetes.NewForConfig(e.cfg)
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, e.namespace, e.lease, kube.CoreV1(), kube.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: e.id})
	if err != nil {
		return err
	}
	lost := make(chan struct{})
	var lostOnce sync.Once
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		ReleaseOnCancel: true, Name: e.lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(e.elected) },
			OnStoppedLeading: func() { lostOnce.Do(func() { close(lost) }) },
			OnNewLeader: func(id string) {
				if id != e.id {
					e.log.Info("another process leads", "leader", id)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	// The election outlives ctx until the runnables have stopped.
	electCtx, stopElection := context.WithCancel(context.WithoutCancel(ctx))
	electionDone := make(chan struct{})
	go func() { defer close(electionDone); le.Run(electCtx) }()
	defer func() { stopElection(); <-electionDone }()

	e.log.Info("waiting for the lease", "identity", e.id)
	select {
	case <-ctx.Done():
		return nil
	case <-lost:
		return errors.New("leader election of " + e.lease + " ended before it was won")
	case <-e.elected:
	}
	e.log.Info("leading", "identity", e.id)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, len(runnables))
	var wg sync.WaitGroup
	for _, r := range runnables {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Start(runCtx); err != nil {
				errc <- err
			}
		}()
	}
	var result error
	select {
	case <-ctx.Done():
	case <-lost:
		result = fmt.Errorf("lost the lease %s/%s: stopping, so that only its new holder writes", e.namespace, e.lease)
	case result = <-errc:
	}
	stop()
	wg.Wait()
	if result == nil {
		e.log.Info("stopped leading; releasing the lease")
	}
	return result
}
