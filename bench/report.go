package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// report is one suite's table: a row per measured figure, with its target
// and whether the figure meets it.
type report struct {
	title string
	notes []string
	rows  []row
}

type row struct {
	metric, value, target, verdict string
}

// add records a figure without a target.
func (r *report) add(metric, format string, args ...any) {
	r.rows = append(r.rows, row{metric: metric, value: fmt.Sprintf(format, args...)})
}

// check records a figure against a target; ok says whether it is met.
func (r *report) check(metric, value, target string, ok bool) {
	verdict := "MISSED"
	if ok {
		verdict = "ok"
	}
	r.rows = append(r.rows, row{metric, value, target, verdict})
}

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s\n", r.title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tVALUE\tTARGET\t")
	for _, row := range r.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.metric, row.value, row.target, row.verdict)
	}
	tw.Flush()
	for _, n := range r.notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// latencies summarises a set of durations.
type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p/100*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(kib int64) string { return fmt.Sprintf("%d MiB", kib/1024) }

func joinDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.1f", d.Seconds())
	}
	return strings.Join(parts, " ")
}

// cleanup runs a deferred clean-up step; a failure is worth a line (a
// cluster left running skews the next measurement), not the run's result.
func cleanup(what string, f func() error) {
	if err := f(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", what, err)
	}
}
