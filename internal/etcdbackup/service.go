package etcdbackup

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/toolforge-go/toolforge/internal/daemon"
)

// Service is `toolforged backup`: etcd snapshots on a schedule, verified
// and pruned as `toolforge-admin etcd backup` does, with metrics an alert
// can fire on (no success for too long).
type Service struct {
	cfg           Config
	devclusterDir string
	dir           string
	schedule      string
	keep          int
}

// NewService returns the backup service with default flags.
func NewService() *Service { return &Service{schedule: "@every 1h", keep: 48} }

func (s *Service) Name() string { return "backup" }

func (s *Service) Short() string {
	return "Back up etcd on a schedule: verified snapshots, retention, /metrics for alerts"
}

// StandaloneOnly: `toolforged all` leaves this service out. It needs
// etcd's own address and client certificate and a directory for the
// snapshots, none of which all's minimal form
// (--kubeconfig, --accounts-file, --home-root) gives or can derive.
func (s *Service) StandaloneOnly() string {
	return "needs etcd's endpoints and client certificate and a backup directory"
}

func (s *Service) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&s.cfg.Endpoints, "etcd-endpoints", nil, "etcd client URLs (https://host:2379,…)")
	fs.StringVar(&s.cfg.CACert, "etcd-cacert", "", "CA bundle of etcd's serving certificate")
	fs.StringVar(&s.cfg.Cert, "etcd-cert", "", "client certificate etcd accepts")
	fs.StringVar(&s.cfg.Key, "etcd-key", "", "its key")
	fs.StringVar(&s.devclusterDir, "devcluster-dir", "", "a devcluster's directory (its etcd, instead of --etcd-endpoints)")
	fs.StringVar(&s.dir, "backup-dir", "", "directory of the snapshots (required)")
	fs.StringVar(&s.schedule, "backup-schedule", s.schedule, "when to take a snapshot: a cron line (0 3 * * *) or @every <duration>; one is also taken at start")
	fs.IntVar(&s.keep, "backup-keep", s.keep, "how many snapshots to keep (retention)")
}

// Setup validates the flags and adds the scheduler, which runs on the
// leader only (one backup per schedule however many replicas).
func (s *Service) Setup(_ context.Context, mgr manager.Manager, env *daemon.Env) error {
	if s.dir == "" {
		return daemon.Usagef("--backup-dir is required")
	}
	if s.keep < 1 {
		return daemon.Usagef("--backup-keep must be at least 1 (got %d)", s.keep)
	}
	sched, err := cron.ParseStandard(s.schedule)
	if err != nil {
		return daemon.Usagef("--backup-schedule %q: %v", s.schedule, err)
	}
	cfg := s.cfg
	switch {
	case s.devclusterDir != "" && len(cfg.Endpoints) > 0:
		return daemon.Usagef("give --etcd-endpoints or --devcluster-dir, not both")
	case s.devclusterDir != "":
		if cfg, err = (Devcluster{Dir: s.devclusterDir}).EtcdConfig(); err != nil {
			return err
		}
	case len(cfg.Endpoints) == 0:
		return daemon.Usagef("give --etcd-endpoints (with --etcd-cacert, --etcd-cert, --etcd-key) or --devcluster-dir")
	}
	if _, err := cfg.tls(); err != nil {
		return daemon.UsageError{Err: err}
	}
	return mgr.Add(&scheduler{cfg: cfg, dir: s.dir, keep: s.keep, schedule: sched, metrics: newMetrics(ctrlmetrics.Registry), log: env.Log.With("service", "backup")})
}

type metrics struct {
	lastSuccess, lastFailure, size, duration, keys prometheus.Gauge
	runs                                           *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "toolforge_etcd_backup_" + name, Help: help})
	}
	m := &metrics{
		lastSuccess: g("last_success_timestamp_seconds", "Unix time of the last verified snapshot (alert when too old)."),
		lastFailure: g("last_failure_timestamp_seconds", "Unix time of the last failed backup."),
		size:        g("last_size_bytes", "Size of the last verified snapshot."),
		duration:    g("last_duration_seconds", "How long the last successful backup took (transfer and verification)."),
		keys:        g("last_keys", "Keys in the last verified snapshot."),
		runs:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "toolforge_etcd_backup_runs_total", Help: "Backups by result."}, []string{"result"}),
	}
	reg.MustRegister(m.lastSuccess, m.lastFailure, m.size, m.duration, m.keys, m.runs)
	// Both results exist from the start, so a rate() over them works at once.
	m.runs.WithLabelValues("success")
	m.runs.WithLabelValues("failure")
	return m
}

type scheduler struct {
	cfg      Config
	dir      string
	keep     int
	schedule cron.Schedule
	metrics  *metrics
	log      *slog.Logger
}

func (s *scheduler) NeedLeaderElection() bool { return true }

func (s *scheduler) Start(ctx context.Context) error {
	s.log.Info("backups scheduled", "dir", s.dir, "keep", s.keep, "next", s.schedule.Next(time.Now()))
	for {
		s.backup(ctx)
		next := s.schedule.Next(time.Now())
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backup takes, verifies and prunes; a failure is logged and counted, and
// the next run comes as scheduled.
func (s *scheduler) backup(ctx context.Context) {
	snap, err := Take(ctx, s.cfg, s.dir, time.Now())
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		s.metrics.runs.WithLabelValues("failure").Inc()
		s.metrics.lastFailure.SetToCurrentTime()
		s.log.Error("etcd backup failed", "err", err)
		return
	}
	s.log.Info("etcd backup taken", "path", snap.Path, "bytes", snap.Size, "revision", snap.Revision, "keys", snap.LiveKeys, "took", snap.Duration.Round(time.Millisecond))
	// Retention before the metrics: a run counted is a run finished.
	removed, err := Prune(s.dir, s.keep)
	for _, r := range removed {
		s.log.Info("old snapshot removed", "path", r, "keep", s.keep)
	}
	if err != nil {
		s.log.Error("retention", "err", fmt.Errorf("prune %s: %w", s.dir, err))
	}
	s.metrics.runs.WithLabelValues("success").Inc()
	s.metrics.lastSuccess.Set(float64(snap.Taken.UnixNano()) / 1e9)
	s.metrics.size.Set(float64(snap.Size))
	s.metrics.duration.Set(snap.Duration.Seconds())
	s.metrics.keys.Set(float64(snap.LiveKeys))
}
