package web

import (
	"sync"
	"time"
)

// memo keeps the rendered answers of the pages that cover the whole
// cluster (overview, nodes, tools, images) for a short while. Building one
// walks every pod and namespace: at thousands of tools that is tens of
// milliseconds, and twenty clients asking at once would each pay it. With
// the memo one request builds and the others wait for it and share the
// result; the data is at most maxAge older than its observation time.
type memo struct {
	maxAge time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*memoEntry
}

type memoEntry struct {
	mu  sync.Mutex // held while building: one build at a time per key
	at  time.Time
	ans answer
}

// answer is a rendered response.
type answer struct {
	code        int
	contentType string
	body        []byte
}

func newMemo(maxAge time.Duration) *memo {
	return &memo{maxAge: maxAge, now: time.Now, entries: map[string]*memoEntry{}}
}

// get returns the answer for key, built by build when there is none
// younger than maxAge.
func (m *memo) get(key string, build func() answer) answer {
	m.mu.Lock()
	e := m.entries[key]
	if e == nil {
		e = &memoEntry{}
		m.entries[key] = e
	}
	m.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ans.body != nil && m.now().Sub(e.at) < m.maxAge {
		return e.ans
	}
	ans := build()
	if ans.code == 200 {
		e.ans, e.at = ans, m.now()
	}
	return ans
}
