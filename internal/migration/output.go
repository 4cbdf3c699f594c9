package migration

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteReport is the report as a table and its totals.
func WriteReport(w io.Writer, r *Report) error {
	if len(r.Tools) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOOL\tCONTEXT\tSTATE\tWEBSERVICE\tSCHEDULED\tCONTINUOUS\tONE-OFF\tOTHER")
		for _, t := range r.Tools {
			ctx := t.Context
			if ctx == "" {
				ctx = "?"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", t.Tool, ctx, t.State, orDash(t.Webservice),
				len(t.Scheduled), len(t.Continuous), len(t.OneOff), orDash(strings.Join(t.Other, ",")))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	var states []string
	for _, s := range States {
		states = append(states, fmt.Sprintf("%s %d", s, r.Totals.States[s]))
	}
	fmt.Fprintf(w, "Tools: %d (%s)\n", r.Totals.Tools, strings.Join(states, ", "))
	_, err := fmt.Fprintf(w, "Left on %s: %d webservices, %d scheduled jobs, %d continuous jobs, %d one-off jobs, %d other workloads\n",
		r.From, r.Totals.Webservices, r.Totals.Scheduled, r.Totals.Continuous, r.Totals.OneOff, r.Totals.Other)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteForce is one line per tool: TOOL RESULT DETAILS.
func WriteForce(w io.Writer, results []ForceResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tRESULT\tDETAILS")
	for _, r := range results {
		var details []string
		if m := r.Moved; m != nil {
			if m.Web != "" {
				details = append(details, "webservice "+m.Web)
			}
			if len(m.Jobs) > 0 {
				details = append(details, "jobs "+strings.Join(m.Jobs, ","))
			}
			if m.Switched {
				details = append(details, "context switched")
			}
			if len(m.Stayed) > 0 {
				details = append(details, "one-off jobs still running stay: "+strings.Join(m.Stayed, ","))
			}
		}
		if len(r.Left) > 0 {
			details = append(details, "left for the tool to move: "+strings.Join(r.Left, ","))
		}
		if r.Reason != "" {
			details = append(details, oneLine(r.Reason))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Tool, r.Outcome, orDash(strings.Join(details, "; ")))
	}
	return tw.Flush()
}
