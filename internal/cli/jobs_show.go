package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/jobs"
)

func newJobsListCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var long bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your jobs",
		Args:  NoArgs,
	}
	out := addOutputFlag(cmd, "normal", "long", "name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if long {
			out.Format = "long" // the original's deprecated -l
		}
		if err := out.check(); err != nil {
			return err
		}
		c, err := newAPIClient(s, api)
		if err != nil {
			return err
		}
		var list jobs.JobList
		if err := c.call(cmd.Context(), http.MethodGet, c.jobsPath("/jobs"), nil, &list); err != nil {
			return err
		}
		return writeJobList(s.Out, s.TTY, out.Format, list.Jobs)
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "same as -o long")
	_ = cmd.Flags().MarkHidden("long")
	return cmd
}

// writeJobList is list's output; its plain form is a contract (golden
// files).
func writeJobList(w io.Writer, tty bool, output string, list []jobs.Info) error {
	switch output {
	case OutputJSON, OutputYAML:
		if list == nil {
			list = []jobs.Info{}
		}
		return printData(w, output, list)
	case "name":
		for _, j := range list {
			fmt.Fprintln(w, j.Name)
		}
		return nil
	}
	if len(list) == 0 {
		return nil
	}
	t := &table{headers: []string{"Job name:", "Job type:", "Status:"}}
	if output == "long" {
		t.headers = []string{"Job name:", "Command:", "Job type:", "Image:", "Port:", "File log:", "Output log:", "Error log:", "Emails:", "Resources:", "Mounts:", "Retry:", "Health check:", "Status:"}
	}
	for _, j := range list {
		f := jobFields(j)
		if output == "long" {
			t.add(j.Name, j.Command, j.TypeString(), f.image, f.port, f.filelog, f.stdout, f.stderr, j.Emails, f.resources, j.Mount, f.retry, f.health, j.StatusShort)
		} else {
			t.add(j.Name, j.TypeString(), j.StatusShort)
		}
	}
	return t.render(w, tty)
}

// fields are a job's settings as the CLI shows them (the original's
// wording, which scripts grep for).
type fields struct {
	image, port, filelog, stdout, stderr, resources, retry, health, replicas, timeout string
}

func jobFields(j jobs.Info) fields {
	f := fields{image: j.Image, port: "none", filelog: "no", stdout: "none", stderr: "none", resources: "default", retry: "no", health: "none", replicas: "-", timeout: "none"}
	if j.ImageState != "" && j.ImageState != "stable" {
		f.image += " (" + j.ImageState + ")"
	}
	if j.Port != 0 {
		f.port = fmt.Sprintf("%d/%s", j.Port, j.PortProtocol)
	}
	if j.FileLogs() {
		f.filelog, f.stdout, f.stderr = "yes", j.FilelogStdout, j.FilelogStderr
	}
	if j.Memory != "" || j.CPU != "" {
		f.resources = fmt.Sprintf("mem: %s, cpu: %s", orDefault(j.Memory), orDefault(j.CPU))
	}
	if j.Retry > 0 {
		f.retry = fmt.Sprintf("yes: %d time(s)", j.Retry)
	}
	if hc := j.HealthCheck; hc != nil {
		if hc.Type == jobs.HealthHTTP {
			f.health = "http: " + hc.Path
		} else {
			f.health = "script: " + hc.Script
		}
	}
	if j.Continuous {
		f.replicas = fmt.Sprint(j.Replicas)
	}
	if j.Timeout > 0 {
		f.timeout = fmt.Sprintf("%ds", j.Timeout)
	}
	return f
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func newJobsShowCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "show NAME",
		Short:             "Show a job's settings and status",
		Args:              ExactArgs(1, "NAME"),
		ValidArgsFunction: completeFirstArg(jobNames(s, api)),
	}
	readCommand(cmd, s, api,
		func(c *apiClient, args []string) string { return c.jobsPath("/jobs/" + url.PathEscape(args[0])) },
		func(r jobs.JobResponse) any { return r.Job },
		func(w io.Writer, tty bool, r jobs.JobResponse) error { return writeJob(w, tty, r.Job) })
	return cmd
}

// writeJob is show's output.
func writeJob(w io.Writer, tty bool, j jobs.Info) error {
	f := jobFields(j)
	t := &table{}
	t.add("Job name:", j.Name)
	t.add("Command:", j.Command)
	t.add("Job type:", j.TypeString())
	if j.ScheduleActual != "" && j.ScheduleActual != j.Schedule {
		t.add("Actual schedule:", j.ScheduleActual+" (UTC)")
	}
	t.add("Image:", f.image)
	t.add("Port:", f.port)
	if j.Publish {
		// The original's label, which its tests and scripts match.
		t.add("Public:", orNone(j.URL))
	}
	t.add("File log:", f.filelog)
	t.add("Output log:", f.stdout)
	t.add("Error log:", f.stderr)
	t.add("Emails:", j.Emails)
	t.add("Resources:", f.resources)
	t.add("Replicas:", f.replicas)
	t.add("Mounts:", j.Mount)
	t.add("Retry:", f.retry)
	t.add("Timeout:", f.timeout)
	t.add("Health check:", f.health)
	t.add("Status:", j.StatusShort)
	if j.Usage != "" {
		t.add("Usage:", j.Usage)
	}
	hints := j.StatusLong
	for _, d := range j.Drift {
		hints += " Differs from its definition: " + d + "."
	}
	t.add("Hints:", hints)
	return t.render(w, tty)
}
