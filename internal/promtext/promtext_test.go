package promtext

import (
	"strings"
	"testing"
)

const exposition = `# HELP requests_total Requests.
# TYPE requests_total counter
requests_total{code="200",route="/a"} 3
requests_total{code="403",route="/a"} 2
requests_total{code="403",route="/b"} 5
requests_total_other 100
# HELP duration_seconds Durations.
# TYPE duration_seconds histogram
duration_seconds_bucket{route="/a",le="1"} 1
duration_seconds_bucket{route="/a",le="+Inf"} 2
duration_seconds_sum{route="/a"} 1.5
duration_seconds_count{route="/a"} 2
duration_seconds_bucket{route="/b",le="1"} 1
duration_seconds_bucket{route="/b",le="+Inf"} 1
duration_seconds_sum{route="/b"} 0.5
duration_seconds_count{route="/b"} 1
`

func TestSumAddsTheSamplesWhoseLabelsMatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"every sample", nil, 10},
		{"one label", map[string]string{"code": "403"}, 7},
		{"two labels", map[string]string{"code": "403", "route": "/a"}, 2},
		{"no sample matches", map[string]string{"code": "500"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := Sum(strings.NewReader(exposition), "requests_total", tc.match)
			if err != nil || !found || got != tc.want {
				t.Fatalf("Sum = %v, %v, %v; want %v (a metric sharing the prefix is another metric)", got, found, err, tc.want)
			}
		})
	}
	if _, found, err := Sum(strings.NewReader(exposition), "absent_total", nil); found || err != nil {
		t.Fatalf("an absent metric: found %v, %v", found, err)
	}
}

func TestHistogramAddsSumsAndCounts(t *testing.T) {
	sum, count, err := Histogram(strings.NewReader(exposition), "duration_seconds")
	if err != nil || sum != 2 || count != 3 {
		t.Fatalf("Histogram = %v, %v, %v", sum, count, err)
	}
}
