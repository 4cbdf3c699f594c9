package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/jobs"
)

// fileJob is a job in a load/dump file: the original's YAML keys, which
// are run's flags.
type fileJob struct {
	Name              string    `json:"name" yaml:"name"`
	Command           string    `json:"command" yaml:"command"`
	Image             string    `json:"image" yaml:"image"`
	Schedule          string    `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	Continuous        bool      `json:"continuous,omitempty" yaml:"continuous,omitempty"`
	Filelog           bool      `json:"filelog,omitempty" yaml:"filelog,omitempty"`
	NoFilelog         bool      `json:"no-filelog,omitempty" yaml:"no-filelog,omitempty"`
	FilelogStdout     string    `json:"filelog-stdout,omitempty" yaml:"filelog-stdout,omitempty"`
	FilelogStderr     string    `json:"filelog-stderr,omitempty" yaml:"filelog-stderr,omitempty"`
	Retry             int       `json:"retry,omitempty" yaml:"retry,omitempty"`
	Mem               string    `json:"mem,omitempty" yaml:"mem,omitempty"`
	CPU               string    `json:"cpu,omitempty" yaml:"cpu,omitempty"`
	Emails            string    `json:"emails,omitempty" yaml:"emails,omitempty"`
	Mount             string    `json:"mount,omitempty" yaml:"mount,omitempty"`
	Timeout           int       `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	Port              portValue `json:"port,omitempty" yaml:"port,omitempty"`
	Publish           bool      `json:"publish,omitempty" yaml:"publish,omitempty"`
	Replicas          int       `json:"replicas,omitempty" yaml:"replicas,omitempty"`
	HealthCheckScript string    `json:"health-check-script,omitempty" yaml:"health-check-script,omitempty"`
	HealthCheckHTTP   string    `json:"health-check-http,omitempty" yaml:"health-check-http,omitempty"`
	// Wait makes load wait for a one-off job to finish.
	Wait bool `json:"wait,omitempty" yaml:"wait,omitempty"`
}

// portValue is a port as a number (8080) or with its protocol ("53/udp").
type portValue string

func (p *portValue) UnmarshalJSON(b []byte) error {
	var n int
	if json.Unmarshal(b, &n) == nil {
		*p = portValue(strconv.Itoa(n))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("port: want a number or \"N/tcp\" or \"N/udp\"")
	}
	*p = portValue(s)
	return nil
}

func (p portValue) MarshalYAML() (any, error) {
	if n, err := strconv.Atoi(string(p)); err == nil {
		return n, nil
	}
	return string(p), nil
}

func (p portValue) MarshalJSON() ([]byte, error) {
	if n, err := strconv.Atoi(string(p)); err == nil {
		return json.Marshal(n)
	}
	return json.Marshal(string(p))
}

// definition is the job the entry describes, normalized and checked.
func (f fileJob) definition() (*jobs.Job, error) {
	if f.NoFilelog && (f.Filelog || f.FilelogStdout != "" || f.FilelogStderr != "") {
		return nil, fmt.Errorf("no-filelog cannot go with filelog, filelog-stdout or filelog-stderr")
	}
	j := &jobs.Job{
		Name: f.Name, Command: f.Command, Image: f.Image, Schedule: f.Schedule, Continuous: f.Continuous,
		FilelogStdout: f.FilelogStdout, FilelogStderr: f.FilelogStderr,
		Retry: f.Retry, Memory: f.Mem, CPU: f.CPU, Emails: f.Emails, Mount: f.Mount, Timeout: f.Timeout, Replicas: f.Replicas,
		Publish: f.Publish,
	}
	switch {
	case f.Filelog:
		j.Filelog = ptr.To(true)
	case f.NoFilelog:
		j.Filelog = ptr.To(false)
	}
	if f.Port != "" {
		port, proto, err := jobs.ParsePort(string(f.Port))
		if err != nil {
			return nil, err
		}
		j.Port, j.PortProtocol = port, proto
	}
	if f.HealthCheckScript != "" && f.HealthCheckHTTP != "" {
		return nil, fmt.Errorf("health-check-script and health-check-http cannot be used together")
	}
	if f.HealthCheckScript != "" {
		j.HealthCheck = &jobs.HealthCheck{Type: jobs.HealthScript, Script: f.HealthCheckScript}
	}
	if f.HealthCheckHTTP != "" {
		j.HealthCheck = &jobs.HealthCheck{Type: jobs.HealthHTTP, Path: f.HealthCheckHTTP}
	}
	j.Normalize()
	if err := j.Validate(); err != nil {
		return nil, err
	}
	if f.Wait && j.Kind() != jobs.OneOff {
		return nil, fmt.Errorf("wait applies to one-off jobs")
	}
	return j, nil
}

// fileJobOf is how dump writes a job: only what differs from the defaults
// (of its image's kind, for file logs and mounts).
func fileJobOf(j jobs.Job) fileJob {
	f := fileJob{
		Name: j.Name, Command: j.Command, Image: j.Image, Schedule: j.Schedule, Continuous: j.Continuous,
		Retry: j.Retry, Mem: j.Memory, CPU: j.CPU, Timeout: j.Timeout, Publish: j.Publish,
	}
	defaults := jobs.DefaultsFor(j.ImageKind())
	if j.Emails != "none" {
		f.Emails = j.Emails
	}
	if j.Mount != defaults.Mount {
		f.Mount = j.Mount
	}
	switch {
	case j.FileLogs() && !defaults.Filelog:
		f.Filelog = true
	case !j.FileLogs() && defaults.Filelog:
		f.NoFilelog = true
	}
	if j.FileLogs() {
		if j.FilelogStdout != j.Name+".out" {
			f.FilelogStdout = j.FilelogStdout
		}
		if j.FilelogStderr != j.Name+".err" {
			f.FilelogStderr = j.FilelogStderr
		}
	}
	if j.Port != 0 {
		f.Port = portValue(strconv.Itoa(j.Port))
		if j.PortProtocol != "tcp" {
			f.Port = portValue(fmt.Sprintf("%d/%s", j.Port, j.PortProtocol))
		}
	}
	if j.Continuous && j.Replicas != 1 {
		f.Replicas = j.Replicas
	}
	if hc := j.HealthCheck; hc != nil {
		if hc.Type == jobs.HealthHTTP {
			f.HealthCheckHTTP = hc.Path
		} else {
			f.HealthCheckScript = hc.Script
		}
	}
	return f
}

// parseJobsFile reads and checks a whole load file before anything is
// changed.
func parseJobsFile(data []byte, name string) ([]fileJob, []*jobs.Job, error) {
	var list []fileJob
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	seen := map[string]int{}
	defs := make([]*jobs.Job, len(list))
	for i, f := range list {
		def, err := f.definition()
		if err != nil {
			label := f.Name
			if label == "" {
				label = "(no name)"
			}
			return nil, nil, fmt.Errorf("%s: job %d %s: %w", name, i+1, label, err)
		}
		if prev, dup := seen[def.Name]; dup {
			return nil, nil, fmt.Errorf("%s: jobs %d and %d are both named %q", name, prev, i+1, def.Name)
		}
		seen[def.Name] = i + 1
		defs[i] = def
	}
	return list, defs, nil
}

func newJobsLoadCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	o := &loadOptions{}
	cmd := &cobra.Command{
		Use:   "load FILE",
		Short: "Create and update your jobs from a YAML file; jobs not in it are left alone",
		Long: `Make the jobs of FILE, a YAML list of jobs with run's flags as keys (name,
command, image, schedule, continuous, mem, cpu, ...; see 'dump'), exist as
defined: a missing job is created, a job that differs is updated, and a job
that matches is left alone (running pods are not touched). Each job's result
is printed: created, updated or already up to date.

Jobs that are not in FILE are left alone, as the original does since it
stopped flushing them (T364204). --replace deletes them too: it lists them
and asks first (off a terminal, pass --yes). --job loads one job of FILE.`,
		Example: `  toolforge jobs load jobs.yaml
  toolforge jobs load jobs.yaml --job backup
  toolforge jobs load jobs.yaml --replace --yes`,
		Args: ExactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			if o.only != "" && o.replace {
				return Usagef("--replace makes your jobs the whole of %s; it cannot go with --job", o.file)
			}
			data, err := os.ReadFile(o.file)
			if err != nil {
				return Usagef("%v", err)
			}
			files, defs, err := parseJobsFile(data, o.file)
			if err != nil {
				return Usagef("%v", err)
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			return loadJobs(cmd.Context(), s, c, o, files, defs)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.only, "job", "", "load only the job of this name from FILE")
	f.BoolVar(&o.replace, "replace", false, "also delete the jobs that FILE does not have (asks first)")
	f.BoolVarP(&o.yes, "yes", "y", false, "with --replace: delete without asking")
	_ = cmd.RegisterFlagCompletionFunc("job", func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		// The jobs of the file being loaded.
		return completeNames(cmd, toComplete, func(context.Context) ([]string, error) {
			if len(args) == 0 {
				return nil, nil
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return nil, err
			}
			_, defs, err := parseJobsFile(data, args[0])
			var names []string
			for _, d := range defs {
				names = append(names, d.Name)
			}
			return names, err
		})
	})
	return cmd
}

// loadOptions are load's flags.
type loadOptions struct {
	file    string
	only    string
	replace bool
	yes     bool
}

// loadResults are the words load prints for each job (the original's).
var loadResults = map[string]string{
	jobs.Created:   "created",
	jobs.Updated:   "updated",
	jobs.Unchanged: "is already up to date",
}

func loadJobs(ctx context.Context, s *IOStreams, c *apiClient, o *loadOptions, files []fileJob, defs []*jobs.Job) error {
	var extra []string
	if o.replace {
		var list jobs.JobList
		if err := c.call(ctx, http.MethodGet, c.jobsPath("/jobs"), nil, &list); err != nil {
			return err
		}
		inFile := map[string]bool{}
		for _, def := range defs {
			inFile[def.Name] = true
		}
		for _, j := range list.Jobs {
			if !inFile[j.Name] {
				extra = append(extra, j.Name)
			}
		}
		if len(extra) > 0 {
			question := fmt.Sprintf("--replace deletes the job(s) that %s does not have: %s. Go ahead?", o.file, strings.Join(extra, ", "))
			if err := Confirm(s, o.yes, "--yes", question); err != nil {
				return err
			}
		}
	}
	found := false
	for i, def := range defs {
		if o.only != "" && def.Name != o.only {
			continue
		}
		found = true
		var out jobs.ApplyResponse
		if err := c.callWithMessages(ctx, http.MethodPatch, c.jobsPath("/jobs"), def, &out, false); err != nil {
			return fmt.Errorf("job %s: %w", def.Name, err)
		}
		fmt.Fprintf(s.Out, "Job '%s' %s\n", def.Name, loadResults[out.Result])
		if files[i].Wait && out.Result != jobs.Unchanged {
			if err := waitForJob(ctx, s, c, def.Name, defaultWait*time.Second, waitPoll); err != nil {
				return err
			}
		}
	}
	if o.only != "" && !found {
		return Usagef("--job %s: %s has no job of that name", o.only, o.file)
	}
	// Deleted last: a file that fails half-way deletes nothing.
	for _, name := range extra {
		err := c.callWithMessages(ctx, http.MethodDelete, c.jobsPath("/jobs/"+url.PathEscape(name)), nil, nil, false)
		if err != nil && !isNotFound(err) {
			return err
		}
		fmt.Fprintf(s.Out, "Job '%s' deleted\n", name)
	}
	return nil
}

func newJobsDumpCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "dump",
		Short: "Write your jobs as a YAML file that load reads",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			var list jobs.JobList
			if err := c.call(cmd.Context(), http.MethodGet, c.jobsPath("/jobs"), nil, &list); err != nil {
				return err
			}
			data, err := dumpJobs(list.Jobs)
			if err != nil {
				return err
			}
			if file == "" {
				_, err = s.Out.Write(data)
				return err
			}
			if err := os.WriteFile(file, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(s.ErrOut, "%d job(s) written to %s\n", len(list.Jobs), file)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "to-file", "f", "", "write to FILE instead of stdout")
	return cmd
}

// dumpJobs is the YAML of jobs, sorted by name (a contract: golden file).
func dumpJobs(list []jobs.Info) ([]byte, error) {
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	out := make([]fileJob, len(list))
	for i, j := range list {
		out[i] = fileJobOf(j.Job)
	}
	if len(out) == 0 {
		return []byte("[]\n"), nil
	}
	// yaml.v3 keeps the struct's field order (name first), as people
	// write these files.
	var buf bytes.Buffer
	buf.WriteString("# toolforge jobs dump; restore with: toolforge jobs load FILE\n")
	enc := yamlv3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}
