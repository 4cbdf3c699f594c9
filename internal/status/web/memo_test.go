package web

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentRequestsShareOneBuild(t *testing.T) {
	m := newMemo(time.Second)
	var builds atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			m.get("overview html", func() answer {
				builds.Add(1)
				<-release
				return answer{code: 200, body: []byte("x")}
			})
		})
	}
	// Let the first build finish only once every request has asked.
	deadline := time.Now().Add(5 * time.Second)
	for builds.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("%d builds for 20 concurrent requests, want 1", n)
	}
}

func TestAnswersAreRebuiltOnceOlderThanMaxAge(t *testing.T) {
	now := time.Unix(1000, 0)
	m := newMemo(time.Second)
	m.now = func() time.Time { return now }
	builds := 0
	build := func() answer { builds++; return answer{code: 200, body: []byte("x")} }
	cases := []struct {
		name    string
		advance time.Duration
		builds  int
	}{
		{"the first request builds", 0, 1},
		{"a request within max age reuses it", 900 * time.Millisecond, 1},
		{"a request past max age rebuilds", 200 * time.Millisecond, 2},
	}
	for _, tc := range cases {
		now = now.Add(tc.advance)
		m.get("k", build)
		if builds != tc.builds {
			t.Errorf("%s: %d builds, want %d", tc.name, builds, tc.builds)
		}
	}
	m.get("other", func() answer { builds++; return answer{code: 503, body: []byte("starting")} })
	m.get("other", func() answer { builds++; return answer{code: 200, body: []byte("x")} })
	if builds != 4 {
		t.Errorf("an error answer was kept: %d builds, want 4", builds)
	}
}
