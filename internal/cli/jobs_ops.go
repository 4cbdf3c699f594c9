package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/logs"
)

func newJobsLogsCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Show the output of a job's runs",
		Long: `Show the output of a job: the lines its runs wrote, oldest first, from every
run the log store keeps (14 days by default), even those whose pods are gone;
each line with its pod when they come from several. --events shows the
platform's events about the job instead. When the store cannot be reached,
the kubelet's logs of the job's current pods are shown, with a warning.`,
		Args:              ExactArgs(1, "NAME"),
		ValidArgsFunction: completeFirstArg(jobNames(s, api)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			return jobLogs(cmd.Context(), s, c, args[0], o)
		},
	}
	o.addFlags(cmd.Flags(), true)
	return cmd
}

// jobLogs shows a job's stored lines, or the kubelet's when the store has
// none (lines not collected yet, or a job whose output goes to files: the
// jobs API says which) or cannot be reached.
func jobLogs(ctx context.Context, s *IOStreams, c *apiClient, name string, o *logsOptions) error {
	what := logs.Logs
	if o.Events {
		what = logs.Events
	}
	err := showStoredLogs(ctx, s, c, logs.JobPath(c.tool.Name, name, what), o)
	var down *storeUnavailable
	switch {
	case errors.As(err, &down) && !o.windowed():
		warnFallback(s.ErrOut, down)
	case errors.As(err, &down):
		return fmt.Errorf("%w (the kubelet's logs have no --since, --until or --events)", down)
	case errors.Is(err, errNoStoredLines):
	default:
		return err
	}
	return jobKubeletLogs(ctx, s, c, name, o.Follow, o.Last)
}

// jobKubeletLogs is the jobs API's logs of the job's current pods, read
// from the kubelet.
func jobKubeletLogs(ctx context.Context, s *IOStreams, c *apiClient, name string, follow bool, lines int64) error {
	q := url.Values{}
	if follow {
		q.Set("follow", "true")
	}
	if lines > 0 {
		q.Set("lines", strconv.FormatInt(lines, 10))
	}
	path := c.jobsPath("/jobs/" + url.PathEscape(name) + "/logs")
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(s.Out, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("log stream ended: %w", err)
	}
	return nil
}

func newJobsDeleteCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:               "delete NAME",
		Short:             "Delete a job (and stop what it runs)",
		Args:              ExactArgs(1, "NAME"),
		ValidArgsFunction: completeFirstArg(jobNames(s, api)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			err = c.call(cmd.Context(), http.MethodDelete, c.jobsPath("/jobs/"+url.PathEscape(args[0])), nil, nil)
			if isNotFound(err) {
				// As the original: deleting what is gone is no failure.
				fmt.Fprintf(s.ErrOut, "warning: %v\n", err)
				return nil
			}
			return err
		},
	}
}

func newJobsFlushCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "flush",
		Short: "Delete all your jobs",
		Long: `Delete all your jobs and stop what they run. On a terminal it names the jobs
and asks first (--yes does not ask); elsewhere (a script, cron) it deletes
them at once, as the original does: scripts call a bare flush.`,
		Args: NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			// Asked only where someone can answer: a new confirmation on
			// an old verb would break the scripts that call it.
			if !yes && s.TTY {
				names, err := jobNames(s, api)(cmd.Context())
				if err != nil {
					return err
				}
				if len(names) == 0 {
					fmt.Fprintln(s.ErrOut, "No jobs to delete")
					return nil
				}
				question := fmt.Sprintf("Delete all %d job(s) of tool %s (%s)?", len(names), c.tool.Name, strings.Join(names, ", "))
				if err := Confirm(s, yes, "--yes", question); err != nil {
					return err
				}
			}
			return c.call(cmd.Context(), http.MethodDelete, c.jobsPath("/jobs"), nil, nil)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking on a terminal")
	return cmd
}

func newJobsRestartCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:               "restart NAME",
		Short:             "Restart a job: continuous jobs roll their pods, scheduled jobs run now, one-off jobs run again",
		Args:              ExactArgs(1, "NAME"),
		ValidArgsFunction: completeFirstArg(jobNames(s, api)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			return c.call(cmd.Context(), http.MethodPost, c.jobsPath("/jobs/"+url.PathEscape(args[0])+"/restart"), nil, nil)
		},
	}
}

func newJobsImagesCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List the images jobs can run, with their aliases and state",
		Long: `List the image catalogue: the short name to pass to --image, the image a job
runs, whether the image is stable or deprecated, and the other names that
work too (the original's tf- aliases and image names).`,
		Args: NoArgs,
	}
	readCommand(cmd, s, api,
		func(c *apiClient, _ []string) string { return c.jobsPath("/images") },
		func(r jobs.ImageList) any { return r.Images },
		func(w io.Writer, tty bool, r jobs.ImageList) error { return writeImages(w, tty, r.Images) })
	return cmd
}

// writeImages is images' table. The original's two columns come first,
// so that scripts reading them keep working.
func writeImages(w io.Writer, tty bool, list []jobs.ImageInfo) error {
	t := &table{headers: []string{"Short name", "Container image URL", "State", "Aliases"}}
	for _, img := range list {
		t.add(img.Shortname, img.Image, img.State, strings.Join(img.Aliases, ", "))
	}
	return t.render(w, tty)
}

func newJobsQuotaCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Show your tool's quota and per-job limits",
		Args:  NoArgs,
	}
	readCommand(cmd, s, api,
		func(c *apiClient, _ []string) string { return c.jobsPath("/quotas") },
		func(r jobs.QuotaResponse) any { return r.Quota },
		func(w io.Writer, tty bool, r jobs.QuotaResponse) error { return writeQuota(w, tty, r.Quota) })
	return cmd
}

func writeQuota(w io.Writer, tty bool, q jobs.Quota) error {
	for i, cat := range q.Categories {
		if i > 0 {
			fmt.Fprintln(w)
		}
		withUse := false
		for _, it := range cat.Items {
			withUse = withUse || it.Used != ""
		}
		t := &table{headers: []string{cat.Name, "Limit"}}
		if withUse {
			t.headers = []string{cat.Name, "Used", "Limit"}
		}
		for _, it := range cat.Items {
			if withUse {
				t.add(it.Name, it.Used, it.Limit)
			} else {
				t.add(it.Name, it.Limit)
			}
		}
		if err := t.render(w, tty); err != nil {
			return err
		}
	}
	return nil
}
