package web

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
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
	if err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return started.Load() == 20, nil
	}); err != nil {
		t.Fatalf("%d of 20 requests started: %v", started.Load(), err)
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
	if err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return string(m.get("k", rebuild).body) == "second", nil
	}); err != nil {
		t.Fatalf("the rebuilt answer never replaced the stale one: %v", err)
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
