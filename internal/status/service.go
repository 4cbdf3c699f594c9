// Package status is `toolforged status`: the public, read-only status page
// of the cluster and of every tool (SPEC §8, the seeds' k8s-status),
// served from watch caches (package inventory) as HTML and JSON (packages
// pages, wire and web), reading through its own least-privilege identity.
package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/logs/store"
	"github.com/toolforge-go/toolforge/internal/status/inventory"
	"github.com/toolforge-go/toolforge/internal/status/pages"
	"github.com/toolforge-go/toolforge/internal/status/web"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/version"
)

// Options are the flags of `toolforged status`.
type Options struct {
	Addr string
}

// Service is `toolforged status`.
type Service struct{ opts Options }

// NewService returns the status service with default flags.
func NewService() *Service { return &Service{opts: Options{Addr: tenancy.DefaultStatusAddr}} }

func (s *Service) Name() string { return "status" }

func (s *Service) Short() string {
	return "Serve the public status page of the cluster and its tools (HTML and JSON)"
}

func (s *Service) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.opts.Addr, "status-addr", s.opts.Addr, "address the status page listens on (plain HTTP; put TLS in front)")
}

// Setup installs the page's RBAC when the platform's credentials may, and
// then reads as its ServiceAccount (impersonated); otherwise (or with
// --install-rbac=false, in the chart) it reads with the credentials as
// they are, which should be that ServiceAccount's.
func (s *Service) Setup(ctx context.Context, mgr manager.Manager, env *daemon.Env) error {
	if _, _, err := net.SplitHostPort(s.opts.Addr); err != nil {
		return daemon.Usagef("--status-addr %q: %v", s.opts.Addr, err)
	}
	log := env.Log.With("service", "status")
	ns := env.Common.PlatformNamespace
	kube, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS = -1 // a handful of lists and watches; the API server's fairness governs
	cfg.UserAgent = "toolforged-status/" + version.String()
	if !env.Common.InstallRBAC {
		log.Info("status page reads with its own credentials (RBAC installed by the chart)")
	} else if err := InstallRBAC(ctx, kube, ns); err != nil {
		log.Info("status RBAC not installed (an admin installs it); reading with the platform's own credentials", "err", err)
	} else {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: User(ns)}
		log.Info("status page reads as its ServiceAccount", "user", User(ns))
	}
	inv, err := inventory.New(cfg, ns, log)
	if err != nil {
		return err
	}
	if err := mgr.Add(inv); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("status-caches", func(*http.Request) error {
		if !inv.Synced() {
			return errors.New("status caches not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	b := &pages.Builder{Src: inv}
	if env.Common.LogsStoreURL != "" {
		st, err := store.New(env.Common.LogsStoreURL)
		if err != nil {
			return daemon.UsageError{Err: err}
		}
		b.Events = eventsFrom(st, log)
	}
	srv, err := web.New(web.Options{
		Pages: b, Ready: inv.Synced, Log: log,
		Metrics:    promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}),
		Registerer: ctrlmetrics.Registry,
	})
	if err != nil {
		return err
	}
	return mgr.Add(&runner{addr: s.opts.Addr, handler: srv, log: log})
}

// runner serves the page until the manager stops.
type runner struct {
	addr    string
	handler http.Handler
	log     *slog.Logger
}

// NeedLeaderElection is false: every replica serves.
func (r *runner) NeedLeaderElection() bool { return false }

func (r *runner) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("status page: listen on --status-addr: %w", err)
	}
	srv := &http.Server{
		Handler:           r.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	r.log.Info("status page serving", "addr", ln.Addr().String())
	select {
	case err := <-done:
		return fmt.Errorf("status page: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("status page: shut down: %w", err)
	}
	return nil
}
