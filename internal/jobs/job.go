// Package jobs is the jobs framework's contract between the CLI and the
// API server: a tool's job definitions (one-off, scheduled, continuous),
// their validation, and the API's request and response bodies. It links no
// server code, so the CLI (internal/cli) can share it without carrying the
// server; internal/jobs/server serves the API under /jobs/v1.
package jobs

import (
	"fmt"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"strconv"
	"strings"
)

// Job is a job definition as the user asked for it. It is what the API
// accepts and returns, what `dump` writes and `load` reads, and what is
// stored on the Kubernetes object (so list and show report it, and drift
// from it can be detected). Field names follow the original Toolforge API.
type Job struct {
	Name    string `json:"name"`
	Command string `json:"cmd"`
	// Image is the catalogue name (or alias) the user gave.
	Image      string `json:"imagename"`
	Schedule   string `json:"schedule,omitempty"`
	Continuous bool   `json:"continuous,omitempty"`
	// Memory and CPU are the container's limits (Kubernetes quantities);
	// empty means the tool's LimitRange default.
	Memory string `json:"memory,omitempty"`
	CPU    string `json:"cpu,omitempty"`
	// Retry is the number of retries of a failed one-off or scheduled run.
	Retry  int    `json:"retry,omitempty"`
	Emails string `json:"emails,omitempty"`
	// Filelog appends the job's stdout and stderr to files in the tool's
	// home: FilelogStdout and FilelogStderr, default <name>.out and .err.
	Filelog       bool   `json:"filelog,omitempty"`
	FilelogStdout string `json:"filelog_stdout,omitempty"`
	FilelogStderr string `json:"filelog_stderr,omitempty"`
	// Mount is all (the tool's storage is mounted) or none.
	Mount string `json:"mount,omitempty"`
	// Timeout limits a one-off or scheduled run, in seconds.
	Timeout int `json:"timeout,omitempty"`
	// Port (with PortProtocol tcp or udp) exposes a continuous job through
	// a Service.
	Port         int    `json:"port,omitempty"`
	PortProtocol string `json:"port_protocol,omitempty"`
	// Publish also routes <tool>.<domain> to the port from outside the
	// cluster (an Ingress), as current Toolforge's published jobs.
	Publish     bool         `json:"publish,omitempty"`
	Replicas    int          `json:"replicas,omitempty"`
	HealthCheck *HealthCheck `json:"health_check,omitempty"`
}

// HealthCheck probes a continuous job: a shell script, or an HTTP GET of a
// path on its port.
type HealthCheck struct {
	Type   string `json:"type"`
	Script string `json:"script,omitempty"`
	Path   string `json:"path,omitempty"`
}

// Health check types.
const (
	HealthScript = "script"
	HealthHTTP   = "http"
)

// Kind is how a job runs.
type Kind int

const (
	OneOff Kind = iota
	Scheduled
	Continuous
)

// Kind is the job's kind.
func (j *Job) Kind() Kind {
	switch {
	case j.Continuous:
		return Continuous
	case j.Schedule != "":
		return Scheduled
	}
	return OneOff
}

// Component is the app.kubernetes.io/component label value of the kind.
func (k Kind) Component() string {
	switch k {
	case Scheduled:
		return tenancy.ComponentCron
	case Continuous:
		return tenancy.ComponentDeploy
	}
	return tenancy.ComponentJobs
}

// Values of the emails and mount settings.
var (
	EmailsValues = []string{"none", "all", "onfinish", "onfailure"}
	MountValues  = []string{"all", "none"}
)

// Normalize fills in defaults, so that two definitions meaning the same
// job compare equal (load leaves such a job alone).
func (j *Job) Normalize() {
	j.Name = strings.TrimSpace(j.Name)
	j.Command = strings.TrimSpace(j.Command)
	j.Image = strings.TrimSpace(j.Image)
	j.Schedule = strings.Join(strings.Fields(j.Schedule), " ")
	if j.Emails == "" {
		j.Emails = "none"
	}
	if j.Mount == "" {
		// A built image runs without the tool's home unless asked; a
		// catalogue image's job works in it.
		j.Mount = "all"
		if IsBuiltImage(j.Image) {
			j.Mount = "none"
		}
	}
	if j.FilelogStdout != "" || j.FilelogStderr != "" {
		j.Filelog = true
	}
	if j.Filelog {
		if j.FilelogStdout == "" {
			j.FilelogStdout = j.Name + ".out"
		}
		if j.FilelogStderr == "" {
			j.FilelogStderr = j.Name + ".err"
		}
	}
	if j.Continuous && j.Replicas == 0 {
		j.Replicas = 1
	}
	if j.Port != 0 && j.PortProtocol == "" {
		j.PortProtocol = "tcp"
	}
	j.PortProtocol = strings.ToLower(j.PortProtocol)
	if j.HealthCheck != nil && j.HealthCheck.Type == "" && j.HealthCheck.Script == "" && j.HealthCheck.Path == "" {
		j.HealthCheck = nil
	}
}

// Equal says whether two normalized definitions are the same job.
func (j *Job) Equal(o *Job) bool {
	a, b := *j, *o
	ha, hb := a.HealthCheck, b.HealthCheck
	a.HealthCheck, b.HealthCheck = nil, nil
	if a != b {
		return false
	}
	if (ha == nil) != (hb == nil) {
		return false
	}
	return ha == nil || *ha == *hb
}

// TypeString is how the CLI shows the kind: normal, continuous or
// "schedule: <cron>" (the original's wording, which scripts grep for).
func (j *Job) TypeString() string {
	switch j.Kind() {
	case Scheduled:
		return "schedule: " + j.Schedule
	case Continuous:
		return "continuous"
	}
	return "normal"
}

// ParsePort reads the --port flag's N[/tcp|udp].
func ParsePort(s string) (int, string, error) {
	num, proto, _ := strings.Cut(s, "/")
	port, err := strconv.Atoi(num)
	if err != nil {
		return 0, "", fmt.Errorf("--port %q: want a number, optionally with /tcp or /udp (e.g. 8080 or 5353/udp)", s)
	}
	return port, strings.ToLower(proto), nil
}
