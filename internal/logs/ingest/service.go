package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/logs/store"
)

// Options are `toolforged logs-ingest`'s flags.
type Options struct {
	Addr string
	// Rate is each tool's lines per second (0: no limit); Burst how many
	// above it a tool may write at once.
	Rate  float64
	Burst int
}

// DefaultAddr is where the ingestion listens: beside the node's collector
// (the chart runs it in the collector's pod), so nothing else reaches it.
const DefaultAddr = "127.0.0.1:9429"

// Service is `toolforged logs-ingest`.
type Service struct{ opts Options }

// NewService is the ingestion with its defaults: 1,000 lines per second
// per tool (2.5 times Toolforge's Loki limit of 400 for a whole node), in
// bursts of 10,000.
func NewService() *Service {
	return &Service{opts: Options{Addr: DefaultAddr, Rate: 1000, Burst: 10000}}
}

func (s *Service) Name() string { return "logs-ingest" }

func (s *Service) Short() string {
	return "File the nodes' collected log lines into the log store, each under its tool's tenant, within each tool's rate"
}

func (s *Service) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.opts.Addr, "logs-ingest-addr", s.opts.Addr, "address the collectors (vlagent -remoteWrite.url=http://<addr>"+Path+") send lines to; never one tools can reach")
	fs.Float64Var(&s.opts.Rate, "logs-rate-limit", s.opts.Rate, "lines per second each tool may write (per ingestion process, i.e. per node in the chart); 0 for no limit")
	fs.IntVar(&s.opts.Burst, "logs-rate-burst", s.opts.Burst, "lines above the rate a tool may write at once")
}

// Setup serves the ingestion when the platform has a log store.
func (s *Service) Setup(_ context.Context, mgr manager.Manager, env *daemon.Env) error {
	if env.Common.LogsStoreURL == "" {
		if env.Standalone {
			return daemon.Usagef("toolforged logs-ingest needs --logs-store-url")
		}
		env.Log.Info("no --logs-store-url: the platform keeps no logs", "service", s.Name())
		return nil
	}
	if s.opts.Rate < 0 || s.opts.Burst < 1 {
		return daemon.Usagef("--logs-rate-limit must be at least 0 and --logs-rate-burst at least 1 (got %g and %d)", s.opts.Rate, s.opts.Burst)
	}
	if _, _, err := net.SplitHostPort(s.opts.Addr); err != nil {
		return daemon.Usagef("--logs-ingest-addr %q: %v", s.opts.Addr, err)
	}
	st, err := store.New(env.Common.LogsStoreURL)
	if err != nil {
		return daemon.UsageError{Err: err}
	}
	m, err := NewMetrics(ctrlmetrics.Registry)
	if err != nil {
		return err
	}
	log := env.Log.With("service", s.Name())
	r := &runner{addr: s.opts.Addr, handler: New(st, s.opts.Rate, s.opts.Burst, m, log), log: log}
	if err := mgr.AddReadyzCheck(s.Name(), func(*http.Request) error {
		if !r.serving.Load() {
			return errors.New("the logs ingestion does not serve yet")
		}
		return nil
	}); err != nil {
		return err
	}
	return mgr.Add(r)
}

// runner serves the ingestion on every replica.
type runner struct {
	addr    string
	handler http.Handler
	log     *slog.Logger
	serving atomic.Bool
}

func (r *runner) NeedLeaderElection() bool { return false }

func (r *runner) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("listen on --logs-ingest-addr %s: %w", r.addr, err)
	}
	srv := &http.Server{Handler: r.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	r.serving.Store(true)
	r.log.Info("taking collected log lines", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("logs ingestion: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
