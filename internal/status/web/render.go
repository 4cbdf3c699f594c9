package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticFiles are the stylesheet and icon, served under /static/.
func staticFiles() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded directory exists: a build-time fact
	}
	return sub
}

// view is what a page's template gets.
type view struct {
	Title    string
	Nav      string
	Observed time.Time
	JSONURL  string
	Data     any
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"age":  age,
	// The page's observation time, apart from the data's times: a cached
	// tool page leaves a hole for it (see toolPages).
	"observedISO":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"observedWhen": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"cores":        func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"bytes":        byteSize,
	"num":          func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
	"mul":          func(a, b float64) float64 { return a * b },
	"lower":        strings.ToLower,
	"join":         strings.Join,
	"stateClass": func(s string) string {
		switch strings.ToLower(s) {
		case "running", "completed", "succeeded", "ready":
			return "good"
		case "failed", "not running", "terminated", "terminating":
			return "bad"
		case "pending", "waiting", "suspended":
			return "warn"
		}
		return ""
	},
	"eventClass": func(e string) string {
		switch e {
		case "oomkilled", "unhealthy", "backoff", "failed":
			return "bad"
		}
		return ""
	},
}

// parsePages parses each page with the layout and the shared parts.
func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range []string{"overview", "nodes", "node", "tools", "tool", "pod", "images", "error"} {
		t, err := parsePage(name, funcs)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

func parsePage(name string, fm template.FuncMap) (*template.Template, error) {
	t, err := template.New(name).Funcs(fm).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html")
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	return t, nil
}

// age is how long ago t was, as of now, in its two largest units.
func age(t, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// byteSize is a byte count in binary units.
func byteSize(f float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for math.Abs(f) >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", f)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
