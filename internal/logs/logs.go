// Package logs is the logs API's wire contract, which its server
// (internal/logs/server) and the CLI share: the paths, the line a response
// carries, and the time parameters' forms. Lines are kept in the platform's
// log store (VictoriaLogs, one tenant per tool); tools reach them only
// through this API. docs/logs.md describes the whole.
package logs

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Service is the API's name: its paths are under /logs/.
const Service = "logs"

// Kinds of what a line comes from: a stored line's kind field.
const (
	KindJob        = "job"
	KindWebservice = "webservice"
	KindBuild      = "build"
	// KindPod is any other pod of a tool's namespace.
	KindPod = "pod"
	// KindEvent is the platform's own line about a tool's workload (its
	// "of" field says which kind of workload).
	KindEvent = "event"
)

// Query parameters of the logs routes (the original logs API's start and
// end, as durations ago or times; lines and follow as the jobs API's).
const (
	ParamLines  = "lines"
	ParamStart  = "start"
	ParamEnd    = "end"
	ParamFollow = "follow"
)

// DefaultLines is how many of the newest lines a request without lines or
// start gets; MaxLines is the most one request gets.
const (
	DefaultLines = 1000
	MaxLines     = 100000
)

// Line is one line of a response, which is one JSON object per line
// (application/x-ndjson), oldest first.
type Line struct {
	Time time.Time `json:"time"`
	// Pod and Container are where the line was written (empty on the
	// platform's events about a workload as a whole).
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	Message   string `json:"message"`
	// Event is what happened, on event lines (created, updated, deleted,
	// started, exited, oomkilled, unhealthy, ...).
	Event string `json:"event,omitempty"`
}

// ContentType is the type of a logs response.
const ContentType = "application/x-ndjson"

// Prefix is the path of a tool's logs.
func Prefix(tool string) string { return "/logs/v1/tool/" + url.PathEscape(tool) }

// JobPath is a job's lines; WebservicePath the web service's; BuildPath a
// build's. The last segment is logs, logs_stream (following) or events.
func JobPath(tool, job, what string) string {
	return Prefix(tool) + "/job/" + url.PathEscape(job) + "/" + what
}

func WebservicePath(tool, what string) string { return Prefix(tool) + "/webservice/" + what }

func BuildPath(tool, build, what string) string {
	return Prefix(tool) + "/build/" + url.PathEscape(build) + "/" + what
}

// The last segments of a source's paths.
const (
	Logs       = "logs"
	LogsStream = "logs_stream"
	Events     = "events"
)

// TimeForms says which forms ParseTime accepts, for error messages.
const TimeForms = "a duration ago (30s, 10m, 2h, 3d, 1w, or 0s for now) or a time (2026-05-01T12:00:00Z, 2026-05-01T12:00:00+02:00, 2026-05-01 12:00:00 in UTC, or 2026-05-01)"

// ParseTime reads a time parameter: a duration before now or a time.
func ParseTime(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if d, err := ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not %s", v, TimeForms)
}

// ParseDuration is Go's durations with days (d) and weeks (w) besides:
// 3d, 1w, 1d12h.
func ParseDuration(v string) (time.Duration, error) {
	var total time.Duration
	rest := v
	for _, unit := range []struct {
		suffix string
		d      time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		i := strings.Index(rest, unit.suffix)
		if i <= 0 {
			continue
		}
		n, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q: not a duration", v)
		}
		total += time.Duration(n) * unit.d
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, err
		}
		total += d
	}
	if total < 0 || v == "" {
		return 0, fmt.Errorf("%q: not a duration", v)
	}
	return total, nil
}

// Builds run in BuildNamespace, where tools cannot create pods: the build
// service labels each build's pods with the tool (LabelBuildTool) and the
// build (LabelBuild), and the ingestion files their lines under that
// tool's tenant as the build's.
const (
	BuildNamespace = "image-build"
	LabelBuildTool = "toolforge.org/tool"
	LabelBuild     = "toolforge.org/build"
)
