package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/jobs"
)

func init() { nouns = append(nouns, newJobsCommand) }

func newJobsCommand(s *IOStreams) *cobra.Command {
	api := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Run one-off, scheduled and continuous jobs for your tool",
		Long: `The Toolforge jobs framework: run your tool's commands as one-off jobs, on a
schedule (cron), or continuously, in your tool's namespace, from an image of
the catalogue (see 'toolforge jobs images').`,
		Args: NoArgs,
	}
	api.addTo(cmd)
	cmd.AddCommand(
		newJobsRunCommand(s, api),
		newJobsListCommand(s, api),
		newJobsShowCommand(s, api),
		newJobsLogsCommand(s, api),
		newJobsDeleteCommand(s, api),
		newJobsFlushCommand(s, api),
		newJobsRestartCommand(s, api),
		newJobsLoadCommand(s, api),
		newJobsDumpCommand(s, api),
		newJobsImagesCommand(s, api),
		newJobsQuotaCommand(s, api),
		newJobsMigrateCommand(s, api),
	)
	return cmd
}

// runOptions are `jobs run`'s flags.
type runOptions struct {
	Job               jobs.Job
	Port              string
	NoFilelog         bool
	HealthCheckScript string
	HealthCheckHTTP   string
	Wait              string
}

// defaultWait is --wait without a value, in seconds.
const defaultWait = 600

func newJobsRunCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run NAME --command CMD --image IMAGE [flags]",
		Short: "Run a new job",
		Long: `Run a new job: once (the default), on a --schedule, or --continuous.

A scheduled job takes five cron fields (minute hour day-of-month month
day-of-week, UTC) or @hourly, @daily, @weekly, @monthly or @yearly, which
run at a fixed time picked for this job so that jobs spread over the period.`,
		Example: `  toolforge jobs run backup --command ./backup.sh --image bookworm --schedule @daily
  toolforge jobs run bot --command "python3 bot.py" --image python3.11 --continuous
  toolforge jobs run api --command ./serve --image golang1.21 --continuous --port 8080 --health-check-http /healthz
  toolforge jobs run once --command ./once.sh --image bookworm --wait`,
		Args: ExactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Job.Name = args[0]
			return runJob(cmd.Context(), s, api, o, cmd)
		},
	}
	f := cmd.Flags()
	j := &o.Job
	f.StringVar(&j.Command, "command", "", "the command to run (in the tool's home directory)")
	f.StringVar(&j.Image, "image", "", "image from the catalogue (see 'toolforge jobs images')")
	_ = cmd.RegisterFlagCompletionFunc("image", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completeNames(cmd, toComplete, imageNames(s, api))
	})
	f.StringVar(&j.Schedule, "schedule", "", "run on a cron schedule (e.g. '15 3 * * *' or @daily)")
	f.BoolVar(&j.Continuous, "continuous", false, "run continuously, restarted when it stops")
	f.StringVar(&o.Wait, "wait", "", "wait up to SECS (default 600) for a one-off job to finish; its outcome is the exit code")
	// --wait, --wait=120 and, as the original takes it, --wait 120.
	optionalValue(cmd, "wait", strconv.Itoa(defaultWait), `^[0-9]+$`)
	f.StringVar(&j.Memory, "mem", "", "memory limit (e.g. 1Gi; default: the tool's default)")
	f.StringVar(&j.CPU, "cpu", "", "CPU limit (e.g. 0.5; default: the tool's default)")
	f.IntVar(&j.Retry, "retry", 0, "retry a failed run up to N times (0-5)")
	f.StringVar(&j.Emails, "emails", "none", "email notifications: none, all, onfinish or onfailure")
	f.BoolVar(&j.Filelog, "filelog", false, "append stdout and stderr to NAME.out and NAME.err in the tool's home")
	f.BoolVar(&o.NoFilelog, "no-filelog", false, "keep no log files (the default; see 'toolforge jobs logs')")
	f.StringVarP(&j.FilelogStdout, "filelog-stdout", "o", "", "append stdout to FILE (implies --filelog)")
	f.StringVarP(&j.FilelogStderr, "filelog-stderr", "e", "", "append stderr to FILE (implies --filelog)")
	f.StringVar(&j.Mount, "mount", "", "mount the tool's storage: all or none (default: all for catalogue images, none for built images)")
	f.IntVar(&j.Timeout, "timeout", 0, "stop a one-off or scheduled run after S seconds")
	f.StringVar(&o.Port, "port", "", "expose a continuous job on port N[/tcp|udp] through a Service (and $PORT)")
	f.BoolVar(&j.Publish, "publish", false, "also publish the continuous job's --port at https://<tool>.<domain>/ (an Ingress)")
	f.IntVar(&j.Replicas, "replicas", 0, "number of copies of a continuous job (default 1)")
	f.StringVar(&o.HealthCheckScript, "health-check-script", "", "command whose failure restarts a continuous job")
	f.StringVar(&o.HealthCheckHTTP, "health-check-http", "", "path on --port whose failure restarts a continuous job")
	return cmd
}

// job is the definition the flags describe, checked as far as it can be
// without the API (usage errors, exit 2).
func (o *runOptions) job() (*jobs.Job, error) {
	j := o.Job
	if o.Port != "" {
		port, proto, err := jobs.ParsePort(o.Port)
		if err != nil {
			return nil, Usagef("%v", err)
		}
		j.Port, j.PortProtocol = port, proto
	}
	if o.NoFilelog && (j.Filelog || j.FilelogStdout != "" || j.FilelogStderr != "") {
		return nil, Usagef("--no-filelog cannot go with --filelog, -o/--filelog-stdout or -e/--filelog-stderr")
	}
	if o.Wait != "" && (j.Continuous || j.Schedule != "") {
		return nil, Usagef("--wait applies to one-off jobs, not --schedule or --continuous")
	}
	if o.HealthCheckScript != "" && o.HealthCheckHTTP != "" {
		return nil, Usagef("--health-check-script and --health-check-http cannot be used together")
	}
	switch {
	case o.HealthCheckScript != "":
		j.HealthCheck = &jobs.HealthCheck{Type: jobs.HealthScript, Script: o.HealthCheckScript}
	case o.HealthCheckHTTP != "":
		j.HealthCheck = &jobs.HealthCheck{Type: jobs.HealthHTTP, Path: o.HealthCheckHTTP}
	}
	j.Normalize()
	if err := j.Validate(); err != nil {
		return nil, Usagef("%v", err)
	}
	return &j, nil
}

func runJob(ctx context.Context, s *IOStreams, api *apiFlags, o *runOptions, cmd *cobra.Command) error {
	j, err := o.job()
	if err != nil {
		return err
	}
	var wait time.Duration
	if o.Wait != "" {
		secs, err := strconv.Atoi(o.Wait)
		if err != nil || secs <= 0 {
			return Usagef("--wait %q: want a number of seconds", o.Wait)
		}
		wait = time.Duration(secs) * time.Second
	}
	c, err := newAPIClient(s, api)
	if err != nil {
		return err
	}
	var out jobs.JobResponse
	if err := c.call(ctx, http.MethodPost, c.jobsPath("/jobs"), j, &out); err != nil {
		return err
	}
	if wait == 0 {
		return nil
	}
	return waitForJob(ctx, s, c, j.Name, wait, waitPoll)
}

// waitForJob follows a one-off job until it finishes: exit 0 when it
// completed; when it failed, the exit code of its command (1 when it had
// none, e.g. stopped by --timeout), after its last lines of output; 1
// when it did not finish in time.
func waitForJob(ctx context.Context, s *IOStreams, c *apiClient, name string, timeout, every time.Duration) error {
	fmt.Fprintf(s.ErrOut, "Waiting up to %s for job '%s' to finish...\n", timeout, name)
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		var out jobs.JobResponse
		err := c.call(ctx, http.MethodGet, c.jobsPath("/jobs/"+url.PathEscape(name)), nil, &out)
		switch {
		case isNotFound(err):
			// Gone before its outcome was seen (deleted, or flushed):
			// reporting success would make a script carry on after a job
			// that may never have run.
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("job '%s' disappeared before it finished; its outcome is unknown", name)}
		case err != nil:
			return err
		}
		st := out.Job.StatusShort
		if st != last {
			fmt.Fprintf(s.ErrOut, "Job '%s': %s\n", name, st)
			last = st
		}
		switch st {
		case jobs.StatusCompleted:
			fmt.Fprintf(s.ErrOut, "Job '%s' completed\n", name)
			return nil
		case jobs.StatusFailed:
			showLastLines(ctx, s, c, out.Job)
			code := ExitFailure
			if ec := out.Job.ExitCode; ec != nil && *ec > 0 && *ec < 256 {
				code = int(*ec)
			}
			return &ExitError{Code: code, Err: fmt.Errorf("job '%s' failed: %s", name, out.Job.StatusLong)}
		}
		if time.Now().After(deadline) {
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("timed out after %s waiting for job '%s' (status: %s)", timeout, name, st)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// waitPoll is how often --wait asks for the job's status: a read of the
// API's cache, cheap enough to ask often, so that a short job's wait ends
// soon after it does.
const waitPoll = 250 * time.Millisecond

// lastLines is how much of a failed job's output --wait shows.
const lastLines = 10

// showLastLines writes the end of a failed job's output to stderr: its
// pods' logs, or the ends of its log files in the tool's home (the CLI
// runs where the home is, as on a bastion). Best effort: the job's outcome
// is the answer, its output a help.
func showLastLines(ctx context.Context, s *IOStreams, c *apiClient, j jobs.Info) {
	if j.Filelog {
		for _, f := range slices.Compact([]string{j.FilelogStderr, j.FilelogStdout}) {
			path := f
			if !filepath.IsAbs(path) {
				path = filepath.Join(c.tool.Home, path)
			}
			lines, err := tailFile(path, lastLines)
			if err != nil || len(lines) == 0 {
				continue
			}
			fmt.Fprintf(s.ErrOut, "Last lines of %s:\n", path)
			for _, l := range lines {
				fmt.Fprintf(s.ErrOut, "  %s\n", l)
			}
		}
		return
	}
	path := c.jobsPath("/jobs/"+url.PathEscape(j.Name)+"/logs") + "?lines=" + strconv.Itoa(lastLines)
	resp, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return
	}
	fmt.Fprintf(s.ErrOut, "Last lines of its output:\n")
	for _, l := range strings.Split(strings.TrimRight(string(body), "\n"), "\n") {
		fmt.Fprintf(s.ErrOut, "  %s\n", l)
	}
}

// tailFile is the last n lines of a file, reading at most its last 64 KiB.
func tailFile(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	const most = 64 * 1024
	if st.Size() > most {
		if _, err := f.Seek(-most, io.SeekEnd); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	return lines[max(0, len(lines)-n):], nil
}
