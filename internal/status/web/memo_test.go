package web

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func ok(body string) answer { return answer{code: 200, body: []byte(body)} }

func TestConcurrentFirstRequestsShareOneBuild(t *testing.T) {
	m := newMemo(time.Second)
	var builds, started atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			started.Add(1)
			m.get("overview html", func() answer {
				builds.Add(1)
				<-release
				return ok("x")
			})
		})
	}
	// The first build lasts until every request has started.
	deadline := time.Now().Add(5 * time.Second)
	for started.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("%d builds for 20 concurrent requests, want 1", n)
	}
}

func TestAStaleAnswerIsServedWhileOneRebuildRuns(t *testing.T) {
	now := time.Unix(1000, 0)
	m := newMemo(time.Second)
	m.now = func() time.Time { return now }
	if got := m.get("k", func() answer { return ok("first") }); string(got.body) != "first" {
		t.Fatalf("first answer %q", got.body)
	}
	now = now.Add(500 * time.Millisecond)
	if got := m.get("k", func() answer { t.Error("rebuilt a fresh answer"); return ok("x") }); string(got.body) != "first" {
		t.Errorf("fresh answer %q", got.body)
	}
	now = now.Add(time.Second)
	release := make(chan struct{})
	var rebuilds atomic.Int32
	rebuild := func() answer { rebuilds.Add(1); <-release; return ok("second") }
	for range 5 {
		if got := m.get("k", rebuild); string(got.body) != "first" {
			t.Errorf("while rebuilding got %q, want the stale answer", got.body)
		}
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for string(m.get("k", rebuild).body) != "second" {
		if time.Now().After(deadline) {
			t.Fatal("the rebuilt answer never replaced the stale one")
		}
		time.Sleep(time.Millisecond)
	}
	if n := rebuilds.Load(); n != 1 {
		t.Errorf("%d rebuilds started, want 1", n)
	}
}

func TestAnErrorAnswerIsNotKept(t *testing.T) {
	m := newMemo(time.Second)
	m.get("k", func() answer { return answer{code: 503, body: []byte("starting")} })
	if got := m.get("k", func() answer { return ok("x") }); string(got.body) != "x" {
		t.Errorf("after an error answer got %q, want a new build", got.body)
	}
}
