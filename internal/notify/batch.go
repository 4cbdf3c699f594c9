package notify

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// jobEvents are the events of one job of a tool waiting to be sent.
type jobEvents struct {
	Name, Type, Emails string
	Events             []event
}

// batch collects the tools' events until the next message is composed.
// Events already sent are remembered (by key) so that a pod's later status
// writes, which repeat its state, are not sent again.
type batch struct {
	mu    sync.Mutex
	tools map[string]map[string]*jobEvents // tool -> job -> events
	sent  map[string]bool                  // event keys sent or pending
}

func newBatch() *batch {
	return &batch{tools: map[string]map[string]*jobEvents{}, sent: map[string]bool{}}
}

// add records e for job of tool; false when it is a repeat.
func (b *batch) add(tool, job, typ, emails string, e event) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := tool + "/" + e.key()
	if b.sent[k] {
		return false
	}
	b.sent[k] = true
	jobs := b.tools[tool]
	if jobs == nil {
		jobs = map[string]*jobEvents{}
		b.tools[tool] = jobs
	}
	j := jobs[job]
	if j == nil {
		j = &jobEvents{Name: job, Type: typ, Emails: emails}
		jobs[job] = j
	}
	j.Events = append(j.Events, e)
	return true
}

// forget drops the memory of a pod's events once the pod is gone.
func (b *batch) forget(tool, pod string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	prefix := tool + "/" + pod + "/"
	for k := range b.sent {
		if strings.HasPrefix(k, prefix) {
			delete(b.sent, k)
		}
	}
}

// take empties the batch: each tool's jobs, by name.
func (b *batch) take() map[string][]*jobEvents {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string][]*jobEvents{}
	for tool, jobs := range b.tools {
		for _, j := range jobs {
			out[tool] = append(out[tool], j)
		}
		sort.Slice(out[tool], func(a, c int) bool { return out[tool][a].Name < out[tool][c].Name })
	}
	b.tools = map[string]map[string]*jobEvents{}
	return out
}

// subject is the message's subject, as the original's.
func subject(tool string, jobs []*jobEvents) string {
	if len(jobs) == 1 {
		return fmt.Sprintf("[Toolforge] [%s] notification about job %s", tool, jobs[0].Name)
	}
	return fmt.Sprintf("[Toolforge] [%s] notification about %d jobs", tool, len(jobs))
}

// body is the message's text, after the original's.
func body(tool string, jobs []*jobEvents) string {
	var b strings.Builder
	fmt.Fprintf(&b, "We wanted to notify you about the activity of some jobs in the '%s' Toolforge tool.\n", tool)
	for _, j := range jobs {
		fmt.Fprintf(&b, "\n* Job '%s' (%s) (emails: %s) had %d events:\n", j.Name, j.Type, j.Emails, len(j.Events))
		for _, e := range j.Events {
			fmt.Fprintf(&b, "  -- %s\n", e)
		}
	}
	b.WriteString("\n\nIf you requested 'filelog' for any of the jobs mentioned above, you may find " +
		"additional information about what happened in the associated log files " +
		"(otherwise: toolforge jobs logs <job>).\n\n" +
		"You are receiving this email because:\n" +
		" 1) when the job was created, it was requested to send email notifications.\n" +
		" 2) you are listed as tool maintainer for this tool.\n")
	return b.String()
}
