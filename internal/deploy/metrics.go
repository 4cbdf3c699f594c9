package deploy

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of `toolforge-admin deploy status --metrics-file`, written in
// Prometheus' text format for node_exporter's textfile collector on the
// host that runs the check (see docs/deploy.md for why there).
const (
	MetricInSync    = "toolforge_deploy_in_sync"
	MetricDrifted   = "toolforge_deploy_drifted_objects"
	MetricVersion   = "toolforge_deploy_version_matches_pin"
	MetricError     = "toolforge_deploy_check_error"
	MetricInfo      = "toolforge_deploy_info"
	MetricLastCheck = "toolforge_deploy_last_check_timestamp_seconds"
)

// WriteMetrics writes one set of gauges per component (atomically: a
// scrape never reads half a file).
func WriteMetrics(path, cluster string, statuses []Status, now time.Time) error {
	reg := prometheus.NewRegistry()
	labels := []string{"cluster", "component"}
	inSync := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricInSync, Help: "1 when the component runs exactly its pin (chart and image) and no live object drifted from its release; 0 otherwise."}, labels)
	drifted := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricDrifted, Help: "Objects of the component's release whose live state differs from it (changed or missing)."}, labels)
	version := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricVersion, Help: "1 when the deployed chart version and image tag are the pinned ones."}, labels)
	failed := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricError, Help: "1 when the component's state could not be read."}, labels)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricInfo, Help: "The pinned and deployed versions (always 1)."}, append(labels, "pinned_chart", "pinned_image", "deployed_chart", "deployed_image", "state"))
	last := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricLastCheck, Help: "When the check ran (alert when it stops running)."}, []string{"cluster"})
	reg.MustRegister(inSync, drifted, version, failed, info, last)
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, s := range statuses {
		inSync.WithLabelValues(cluster, s.Component).Set(b(s.InSync))
		failed.WithLabelValues(cluster, s.Component).Set(b(s.Error != ""))
		if s.Error != "" {
			continue
		}
		drifted.WithLabelValues(cluster, s.Component).Set(float64(len(s.Drift)))
		deployed := Version{}
		if s.Deployed != nil {
			deployed = *s.Deployed
		}
		version.WithLabelValues(cluster, s.Component).Set(b(deployed == s.Pinned))
		info.WithLabelValues(cluster, s.Component, s.Pinned.Chart, s.Pinned.Image, deployed.Chart, deployed.Image, s.State).Set(1)
	}
	last.WithLabelValues(cluster).Set(float64(now.Unix()))
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("write metrics to %s: %w", path, err)
	}
	return nil
}
