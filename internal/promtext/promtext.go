// Package promtext reads Prometheus text expositions (a /metrics page) with
// the Prometheus parser, for the tests and benchmarks that check a
// server's metrics: one parser, never a hand-split line.
package promtext

import (
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families parses an exposition.
func Families(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// Sum adds up the samples of metric name (a counter, gauge or untyped
// metric) whose labels include every pair of match; found says whether the
// exposition has the metric at all.
func Sum(r io.Reader, name string, match map[string]string) (sum float64, found bool, err error) {
	fams, err := Families(r)
	if err != nil {
		return 0, false, err
	}
	fam, ok := fams[name]
	if !ok {
		return 0, false, nil
	}
	for _, m := range fam.GetMetric() {
		if !matches(m, match) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		default:
			return 0, true, fmt.Errorf("metric %s is a %s, not a number", name, fam.GetType())
		}
	}
	return sum, true, nil
}

// Histogram adds up the sample sums and counts of histogram name over
// every label set.
func Histogram(r io.Reader, name string) (sum float64, count uint64, err error) {
	fams, err := Families(r)
	if err != nil {
		return 0, 0, err
	}
	fam, ok := fams[name]
	if !ok {
		return 0, 0, fmt.Errorf("no metric %s", name)
	}
	for _, m := range fam.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			return 0, 0, fmt.Errorf("metric %s is a %s, not a histogram", name, fam.GetType())
		}
		sum += h.GetSampleSum()
		count += h.GetSampleCount()
	}
	return sum, count, nil
}

func matches(m *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
