package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/jobs"
)

func newJobsLogsCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var follow bool
	var lines int64
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Show the output of a job's pods",
		Args:  ExactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if lines < 0 {
				return Usagef("-l/--last %d: want a number of lines", lines)
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			return jobLogs(cmd.Context(), s, c, args[0], follow, lines)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep showing new lines")
	cmd.Flags().Int64VarP(&lines, "last", "l", 0, "show only the last N lines of each pod")
	return cmd
}

func jobLogs(ctx context.Context, s *IOStreams, c *apiClient, name string, follow bool, lines int64) error {
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
		Use:   "delete NAME",
		Short: "Delete a job (and stop what it runs)",
		Args:  ExactArgs(1, "NAME"),
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
	return &cobra.Command{
		Use:   "flush",
		Short: "Delete all your jobs",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			return c.call(cmd.Context(), http.MethodDelete, c.jobsPath("/jobs"), nil, nil)
		},
	}
}

func newJobsRestartCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "restart NAME",
		Short: "Restart a job: continuous jobs roll their pods, scheduled jobs run now, one-off jobs run again",
		Args:  ExactArgs(1, "NAME"),
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
	return &cobra.Command{
		Use:   "images",
		Short: "List the images jobs can run",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			var out jobs.ImageList
			if err := c.call(cmd.Context(), http.MethodGet, c.jobsPath("/images"), nil, &out); err != nil {
				return err
			}
			return writeImages(s.Out, s.TTY, out.Images)
		},
	}
}

func writeImages(w io.Writer, tty bool, list []jobs.ImageInfo) error {
	t := &table{headers: []string{"Short name", "Container image URL"}}
	for _, img := range list {
		name := img.Shortname
		if img.State != "" && img.State != "stable" {
			name += " (" + img.State + ")"
		}
		t.add(name, img.Image)
	}
	return t.render(w, tty)
}

func newJobsQuotaCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "quota",
		Short: "Show your tool's quota and per-job limits",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			var out jobs.QuotaResponse
			if err := c.call(cmd.Context(), http.MethodGet, c.jobsPath("/quotas"), nil, &out); err != nil {
				return err
			}
			return writeQuota(s.Out, s.TTY, out.Quota)
		},
	}
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
