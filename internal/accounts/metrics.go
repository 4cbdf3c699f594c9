package accounts

import (
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the SPEC §4 metrics, named as the original
// maintain-kubeusers named them so existing dashboards keep working.
type metrics struct {
	runSeconds  prometheus.Gauge
	runFinished prometheus.Gauge
	created     *prometheus.CounterVec
	renewed     *prometheus.CounterVec
	disabled    *prometheus.CounterVec
	removed     *prometheus.CounterVec
	errors      *prometheus.CounterVec
	writes      *prometheus.CounterVec
	// homesRefused counts the accounts of the source whose home is refused.
	homesRefused *prometheus.GaugeVec
	// totalWrites mirrors writes for tests and logs.
	totalWrites atomic.Int64
}

func newMetrics(reg prometheus.Registerer) *metrics {
	account := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"account_type"})
	}
	m := &metrics{
		runSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "maintain_kubeusers_run_seconds",
			Help: "Duration of the last full pass over every account.",
		}),
		runFinished: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "maintain_kubeusers_run_finished",
			Help: "Unix time the last full pass over every account finished.",
		}),
		created:  account("maintain_kubeusers_accounts_created", "Accounts provisioned for the first time."),
		renewed:  account("maintain_kubeusers_accounts_renewed", "Accounts whose credentials were renewed or regenerated."),
		disabled: account("maintain_kubeusers_accounts_disabled", "Accounts whose access was removed because they are disabled."),
		removed:  account("maintain_kubeusers_accounts_removed", "Accounts removed from the cluster after leaving the source."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maintain_kubeusers_errors",
			Help: "Accounts that could not be provisioned, by reason (invalid_name, invalid_entry, source, reconcile, home_refused, foreign_claim).",
		}, []string{"account_type", "reason"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maintain_kubeusers_api_writes",
			Help: "Write requests sent to the Kubernetes API (a converged pass sends none).",
		}, []string{"verb"}),
		homesRefused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maintain_kubeusers_homes_refused",
			Help: "Accounts of the source whose home is refused (outside its root, or shared with another account) as of the last pass.",
		}, []string{"account_type"}),
	}
	m.runSeconds = register(reg, m.runSeconds)
	m.runFinished = register(reg, m.runFinished)
	m.created = register(reg, m.created)
	m.renewed = register(reg, m.renewed)
	m.disabled = register(reg, m.disabled)
	m.removed = register(reg, m.removed)
	m.errors = register(reg, m.errors)
	m.writes = register(reg, m.writes)
	m.homesRefused = register(reg, m.homesRefused)
	return m
}

// register registers c, or returns the collector registered before under
// its name (a second accounts service in one process shares the metrics).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector.(T)
		}
		panic(err)
	}
	return c
}

// countWrites wraps a transport to count every request that is not a read.
func (m *metrics) countWrites(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			m.writes.WithLabelValues(req.Method).Inc()
			m.totalWrites.Add(1)
		}
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
