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
