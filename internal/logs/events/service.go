package events

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/logs/store"
)

// Service is `toolforged logs-events`.
type Service struct{}

// NewService is the events writer.
func NewService() *Service { return &Service{} }

func (s *Service) Name() string { return "logs-events" }

func (s *Service) Short() string {
	return "Write the platform's events about tools' jobs and web services (created, runs, exits, OOM kills, failed health checks) to the log store"
}

func (s *Service) AddFlags(*pflag.FlagSet) {}

// Setup runs the writer (on the leader) when the platform has a log store.
func (s *Service) Setup(_ context.Context, mgr manager.Manager, env *daemon.Env) error {
	if env.Common.LogsStoreURL == "" {
		if env.Standalone {
			return daemon.Usagef("toolforged logs-events needs --logs-store-url")
		}
		return nil
	}
	st, err := store.New(env.Common.LogsStoreURL)
	if err != nil {
		return daemon.UsageError{Err: err}
	}
	kube, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	m, err := newMetrics(ctrlmetrics.Registry)
	if err != nil {
		return err
	}
	return mgr.Add(&Controller{Kube: kube, Store: st, Log: env.Log.With("service", s.Name()), metrics: m})
}

type metrics struct {
	written *prometheus.CounterVec
	dropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "toolforge", Subsystem: "logs_events", Name: "written_total", Help: "Events written to the log store, by reason."}, []string{"reason"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "toolforge", Subsystem: "logs_events", Name: "dropped_total", Help: "Events dropped because too many waited for the store."}),
	}
	for _, c := range []prometheus.Collector{m.written, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
