package web

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Registerer takes the page metrics (the daemon's registry).
type Registerer = prometheus.Registerer

type metrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics(reg Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toolforge_status_requests_total", Help: "Status page requests by page and HTTP status code.",
		}, []string{"page", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "toolforge_status_request_seconds", Help: "Time to build and render a status page.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"page"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.seconds} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(page string, code int, d time.Duration) {
	m.requests.WithLabelValues(page, strconv.Itoa(code)).Inc()
	m.seconds.WithLabelValues(page).Observe(d.Seconds())
}
