package force

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Write is one line per tool: TOOL RESULT DETAILS.
func Write(w io.Writer, results []Result) error {
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

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
