package notify

import (
	"fmt"
	"sort"
	"strings"
)

// jobEvents are the events of one job of a tool waiting to be sent.
type jobEvents struct {
	Name, Type, Emails string
	Events             []event
}

// group makes the jobs of a message from its events: by job name, each
// job's events in the order they happened.
func group(events []queued) []*jobEvents {
	byName := map[string]*jobEvents{}
	var out []*jobEvents
	for _, q := range events {
		j := byName[q.Job]
		if j == nil {
			j = &jobEvents{Name: q.Job, Type: q.Type, Emails: q.Emails}
			byName[q.Job] = j
			out = append(out, j)
		}
		j.Events = append(j.Events, q.Event)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// subject is the message's subject, as the original's.
func subject(tool string, jobs []*jobEvents) string {
	if len(jobs) == 1 {
		return fmt.Sprintf("[Toolforge] [%s] notification about job %s", tool, jobs[0].Name)
	}
	return fmt.Sprintf("[Toolforge] [%s] notification about %d jobs", tool, len(jobs))
}

// body is the message's text, after the original's; dropped says how
// many earlier events were not kept (a long SMTP outage).
func body(tool string, jobs []*jobEvents, dropped int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "We wanted to notify you about the activity of some jobs in the '%s' Toolforge tool.\n", tool)
	if dropped > 0 {
		fmt.Fprintf(&b, "\n(%d earlier events could not be kept while mail could not be sent.)\n", dropped)
	}
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
