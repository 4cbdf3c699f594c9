package ingest

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps each tool within its rate of lines (a token bucket per
// tool, in this process: one per node in the chart). A tool over its
// limit has lines dropped, and each stream that lost lines is told once
// per episode, in a line of its own; an episode ends after quiet.
type limiter struct {
	rate  rate.Limit
	burst int
	quiet time.Duration

	// now is read under the lock: blocks are filed concurrently, and a
	// token bucket handed times out of order refills twice.
	now func() time.Time

	mu    sync.Mutex
	tools map[string]*toolLimit
}

type toolLimit struct {
	bucket   *rate.Limiter
	lastDrop time.Time
	told     map[string]bool
	lastSeen time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, quiet: 10 * time.Second, now: time.Now, tools: map[string]*toolLimit{}}
}

// verdict of one line.
type verdict int

const (
	keep verdict = iota
	// dropTell: drop it, and tell its stream (the first drop there in
	// this episode).
	dropTell
	drop
)

func (l *limiter) admit(s source) verdict {
	if l.rate <= 0 {
		return keep
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	t := l.tools[s.tool]
	if t == nil {
		t = &toolLimit{bucket: rate.NewLimiter(l.rate, l.burst), told: map[string]bool{}}
		l.tools[s.tool] = t
	}
	t.lastSeen = now
	if t.bucket.AllowN(now, 1) {
		if !t.lastDrop.IsZero() && now.Sub(t.lastDrop) > l.quiet {
			t.lastDrop, t.told = time.Time{}, map[string]bool{}
		}
		return keep
	}
	t.lastDrop = now
	if t.told[s.key()] {
		return drop
	}
	t.told[s.key()] = true
	return dropTell
}

// notice is the line a stream gets when its tool's lines start being
// dropped.
func (l *limiter) notice() string {
	return fmt.Sprintf("[toolforge] log lines dropped: this tool writes more than its limit of %g lines per second (bursts of %d); lines over the limit are not kept until it writes less", float64(l.rate), l.burst)
}

// forget drops the state of tools not seen for a while.
func (l *limiter) forget(idle time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for tool, t := range l.tools {
		if now.Sub(t.lastSeen) > idle {
			delete(l.tools, tool)
		}
	}
}
