package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolforge_api_requests_total",
			Help: "API requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "toolforge_api_request_duration_seconds",
			Help:    "API request durations by route template and method (log streams included).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(route, method, code string, took time.Duration) {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
	default:
		method = "other" // clients choose methods; labels must stay few
	}
	m.requests.WithLabelValues(route, method, code).Inc()
	m.duration.WithLabelValues(route, method).Observe(took.Seconds())
}

// registerers registers a collector with each of several registries.
type registerers []prometheus.Registerer

func (r registerers) Register(c prometheus.Collector) error {
	for i, reg := range r {
		if err := reg.Register(c); err != nil {
			for _, done := range r[:i] {
				done.Unregister(c)
			}
			return err
		}
	}
	return nil
}

func (r registerers) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r registerers) Unregister(c prometheus.Collector) bool {
	ok := true
	for _, reg := range r {
		ok = reg.Unregister(c) && ok
	}
	return ok
}
