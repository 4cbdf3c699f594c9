package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	received, malformed, ignored, filed, storeErrors prometheus.Counter
	dropped                                          *prometheus.CounterVec
	storeLatency                                     prometheus.Histogram
}

// NewMetrics registers the ingestion's metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "toolforge", Subsystem: "logs_ingest", Name: name, Help: help})
	}
	m := &metrics{
		received:    c("lines_received_total", "Lines the collectors sent."),
		malformed:   c("lines_malformed_total", "Lines that were not the collector's JSON (skipped)."),
		ignored:     c("lines_ignored_total", "Lines of pods the platform keeps no logs of (other namespaces, interactive shells)."),
		filed:       c("lines_filed_total", "Lines filed for the store (sent again when the store did not take them)."),
		storeErrors: c("store_errors_total", "Writes the store did not take (the collector sends the block again)."),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "toolforge", Subsystem: "logs_ingest", Name: "lines_dropped_total",
			Help: "Lines dropped because their tool wrote more than its rate."}, []string{"tool"}),
		storeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "toolforge", Subsystem: "logs_ingest", Name: "store_write_seconds",
			Help: "Time the store took to take one tenant's part of a block.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	for _, col := range []prometheus.Collector{m.received, m.malformed, m.ignored, m.filed, m.storeErrors, m.dropped, m.storeLatency} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}
