package logs

import (
	"testing"
	"time"
)

func TestTimesAreDurationsAgoOrTimes(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"0s", now, true},
		{"90s", now.Add(-90 * time.Second), true},
		{"2h", now.Add(-2 * time.Hour), true},
		{"3d", now.Add(-72 * time.Hour), true},
		{"1w", now.Add(-7 * 24 * time.Hour), true},
		{"1d12h", now.Add(-36 * time.Hour), true},
		{"2026-05-01T12:00:00Z", time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), true},
		{"2026-05-01T14:00:00+02:00", time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), true},
		{"2026-05-01 12:00:00", time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), true},
		{"2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), true},
		{"-5m", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"3dd", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, err := ParseTime(tc.in, now)
		if (err == nil) != tc.ok || (tc.ok && !got.Equal(tc.want)) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
