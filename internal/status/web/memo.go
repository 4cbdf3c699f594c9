package web

import (
	"bytes"
	"sync"
	"time"
)

// memo keeps the rendered answers of the pages that cover the whole
// cluster (overview, nodes, tools, images). Building one walks every pod
// and namespace: at thousands of tools that is tens of milliseconds, and
// twenty clients asking at once would each pay it. With the memo, the
// first request builds; later ones get the last answer at once, and one of
// them starts a rebuild in the background once that answer is older than
// maxAge. An answer is thus at most maxAge plus one build older than its
// observation time.
type memo struct {
	maxAge time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*memoEntry
}

type memoEntry struct {
	mu       sync.Mutex // held while the first answer is built
	at       time.Time
	ans      answer
	building bool
}

// answer is a rendered response. A body in a pooled buffer (buf) is
// valid until release.
type answer struct {
	code        int
	contentType string
	body        []byte
	buf         *bytes.Buffer
}

// kept is the answer with a body of its own, for keeping.
func (a answer) kept() answer {
	if a.buf == nil {
		return a
	}
	a.body = bytes.Clone(a.body)
	a.release()
	a.buf = nil
	return a
}

// release returns the body's buffer to the pool.
func (a answer) release() {
	if a.buf != nil {
		buffers.Put(a.buf)
	}
}

func newMemo(maxAge time.Duration) *memo {
	return &memo{maxAge: maxAge, now: time.Now, entries: map[string]*memoEntry{}}
}

// get returns the answer for key: the last one built, or a new one when
// there is none (or the last was an error). A stale answer starts a
// rebuild (one at a time) with build.
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
	if e.ans.code != 200 {
		e.ans, e.at = build(), m.now()
		return e.ans
	}
	if m.now().Sub(e.at) >= m.maxAge && !e.building {
		e.building = true
		go func() {
			ans := build()
			e.mu.Lock()
			defer e.mu.Unlock()
			e.building = false
			if ans.code == 200 {
				e.ans, e.at = ans, m.now()
			}
		}()
	}
	return e.ans
}
