package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// table is output in rows and columns: boxed for people on a terminal
// (the original CLI's look), plain aligned columns for scripts.
type table struct {
	headers []string
	rows    [][]string
}

func (t *table) add(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.Join(strings.Fields(c), " ")
	}
	t.rows = append(t.rows, cells)
}

func (t *table) render(w io.Writer, tty bool) error {
	if tty {
		return t.boxed(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range append([][]string{t.headers}, t.rows...) {
		if r == nil {
			continue
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (t *table) boxed(w io.Writer) error {
	all := t.rows
	if t.headers != nil {
		all = append([][]string{t.headers}, t.rows...)
	}
	if len(all) == 0 {
		return nil
	}
	widths := make([]int, len(all[0]))
	for _, r := range all {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	rule := func() {
		for _, wd := range widths {
			b.WriteString("+" + strings.Repeat("-", wd+2))
		}
		b.WriteString("+\n")
	}
	line := func(r []string) {
		for i, c := range r {
			b.WriteString("| " + c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)) + " ")
		}
		b.WriteString("|\n")
	}
	rule()
	for i, r := range all {
		line(r)
		// A header is ruled off; a key/value grid (no header) rules every row.
		if (t.headers != nil && i == 0) || t.headers == nil {
			rule()
		}
	}
	if t.headers != nil && len(all) > 1 {
		rule()
	}
	_, err := io.WriteString(w, b.String())
	return err
}
