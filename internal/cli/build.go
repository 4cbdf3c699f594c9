package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/builds"
	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/route"
)

func init() { nouns = append(nouns, newBuildCommand) }

func newBuildCommand(s *IOStreams) *cobra.Command {
	api := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build your tool's git repository into a container image",
		Long: `Build a public git repository into your tool's own image,
<registry>/tool-<tool>/<name>:latest, which jobs (toolforge jobs run --image
tool-<tool>/<name>:latest) and web services (webservice buildservice start)
run. The builder detects the app: a Procfile's process types, an Aptfile of
Debian packages, Python (requirements.txt or pyproject.toml), Node.js
(package.json), Go (go.mod) or a static site (index.html).`,
		Args: NoArgs,
	}
	api.addTo(cmd)
	cmd.AddCommand(
		newBuildStartCommand(s, api),
		newBuildLogsCommand(s, api),
		newBuildListCommand(s, api),
		newBuildShowCommand(s, api),
		newBuildCancelCommand(s, api),
		newBuildDeleteCommand(s, api),
		newBuildQuotaCommand(s, api),
		newBuildCleanCommand(s, api),
	)
	return cmd
}

func (c *apiClient) buildsPath(rest string) string { return "/builds/v1/tool/" + c.tool.Name + rest }

type buildStartOptions struct {
	ref, image     string
	envvars        []string
	latest, detach bool
	json           bool
}

func newBuildStartCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	o := &buildStartOptions{}
	cmd := &cobra.Command{
		Use:   "start SOURCE_GIT_URL",
		Short: "Start building a git repository into your tool's image",
		Long: `Start a build of the public git repository at SOURCE_GIT_URL (its HEAD, or
--ref), then follow its log until it ends (unless --detach). The image is
tool-<tool>/<name>:latest, <name> being --image-name (default tool-<tool>).
At most 4 builds of a tool run at once.`,
		Example: "  toolforge build start https://gitlab.wikimedia.org/toolforge-repos/my-tool\n  toolforge build start --ref v2 -i web -e PIP_INDEX_URL=https://mirror.example/simple URL",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return Usagef("Please provide a git url for your source code.\nExample: toolforge build start 'https://gitlab.wikimedia.org/toolforge-repos/my-tool'")
			}
			return runBuildStart(cmd.Context(), s, api, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ref, "ref", "", "branch, tag or commit to build (default: the repository's HEAD)")
	f.StringVarP(&o.image, "image-name", "i", "", "name of the image to build (default: tool-<tool>)")
	f.StringArrayVarP(&o.envvars, "envvar", "e", nil, "environment variable NAME=value set while building (repeatable)")
	f.BoolVarP(&o.latest, "use-latest-versions", "L", false, "use the newest versions of the dependencies the app allows, not its lock file's")
	f.BoolVarP(&o.detach, "detach", "D", false, "do not follow the build's log")
	f.BoolVar(&o.json, "json", false, "print the answer as JSON")
	return cmd
}

func runBuildStart(ctx context.Context, s *IOStreams, api *apiFlags, o *buildStartOptions, source string) error {
	p := builds.Parameters{SourceURL: source, Ref: o.ref, ImageName: o.image, UseLatestVersions: o.latest}
	for _, e := range o.envvars {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			return Usagef("--envvar %q: want NAME=value", e)
		}
		if err := builds.ValidateEnvvarName(k); err != nil {
			return Usagef("--envvar: %v", err)
		}
		if p.Envvars == nil {
			p.Envvars = map[string]string{}
		}
		p.Envvars[k] = v
	}
	if err := builds.ValidateSourceURL(strings.TrimSpace(source)); err != nil {
		return Usagef("%v", err)
	}
	c, err := newAPIClient(s, api)
	if err != nil {
		return err
	}
	var resp builds.StartResponse
	if err := c.callWithMessages(ctx, http.MethodPost, c.buildsPath("/builds"), p, &resp, !o.json); err != nil {
		return err
	}
	if !o.detach {
		return followBuild(ctx, s, c, resp.NewBuild.Name)
	}
	if o.json {
		return printJSON(s.Out, resp)
	}
	fmt.Fprintf(s.Out, "Building '%s', build name is '%s'\nYou can see the status with:\n\ttoolforge build show\n", resp.NewBuild.Parameters.SourceURL, resp.NewBuild.Name)
	return nil
}

// followBuild streams a build's log, then says how it ended: a failed
// build fails the command.
func followBuild(ctx context.Context, s *IOStreams, c *apiClient, id string) error {
	if err := streamBuildLog(ctx, s, c, id, true); err != nil {
		return err
	}
	// The log ends with the build's pod; the platform records the
	// outcome a moment later.
	var b builds.Build
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var resp builds.BuildResponse
		if err := c.callWithMessages(ctx, http.MethodGet, c.buildsPath("/builds/"+url.PathEscape(id)), nil, &resp, false); err != nil {
			return err
		}
		b = resp.Build
		if b.Finished() || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	switch b.Status {
	case builds.StatusSuccess:
		fmt.Fprintf(s.ErrOut, "Build %s succeeded: %s\n", id, b.DestinationImage)
		return nil
	case builds.StatusPending, builds.StatusRunning:
		fmt.Fprintf(s.ErrOut, "Build %s is still %s: see toolforge build show %s\n", id, buildStatus(b.Status), id)
		return nil
	}
	return fmt.Errorf("build %s ended with status %s: %s", id, buildStatus(b.Status), b.Message)
}

// streamBuildLog prints a build's log lines (JSON lines from the API).
func streamBuildLog(ctx context.Context, s *IOStreams, c *apiClient, id string, follow bool) error {
	fmt.Fprintln(s.ErrOut, "Waiting for the logs... if the build just started this might take a minute")
	err := streamBuildPodLog(ctx, s, c, id, follow)
	var ae *apiError
	if follow || !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		return err
	}
	// The build's pod is gone (deleted, or its node replaced): the log
	// store keeps what it wrote for the store's retention.
	if serr := showStoredLogs(ctx, s, c, logs.BuildPath(c.tool.Name, id, logs.Logs), &logsOptions{Last: logs.MaxLines}); serr == nil {
		return nil
	}
	return err
}

// streamBuildPodLog is the builds API's log of a build: its pod's, read
// from the kubelet, followed until the build ends.
func streamBuildPodLog(ctx context.Context, s *IOStreams, c *apiClient, id string, follow bool) error {
	path := c.buildsPath("/builds/" + url.PathEscape(id) + "/logs")
	if follow {
		path += "?follow=true"
	}
	resp, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 2<<20)
	for sc.Scan() {
		var l builds.LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("the log stream is not JSON lines: %w", err)
		}
		if l.Message != "" {
			return errors.New(l.Message)
		}
		fmt.Fprintln(s.Out, l.Line)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the log: %w", err)
	}
	return nil
}

// buildID is the ID a command acts on: the one given, or the latest.
func buildID(ctx context.Context, c *apiClient, args []string) (string, error) {
	if len(args) > 0 {
		return args[0], nil
	}
	var resp builds.BuildResponse
	if err := c.callWithMessages(ctx, http.MethodGet, c.buildsPath("/builds/latest"), nil, &resp, false); err != nil {
		return "", err
	}
	return resp.Build.ID, nil
}

func newBuildLogsCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs [BUILD_ID]",
		Short: "Show a build's log (default: the latest build's)",
		Long: "Show a build's log (default: the latest build's): from its pod while the build\n" +
			"keeps one, then from the platform's log store (for its retention).",
		Args: MaximumArgs(1, "BUILD_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			id, err := buildID(cmd.Context(), c, args)
			if err != nil {
				return err
			}
			return streamBuildLog(cmd.Context(), s, c, id, follow)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log until the build ends")
	return cmd
}

// formatted is a build as the original CLI prints and its --json shows it.
type formatted struct {
	ID                string   `json:"build_id"`
	StartTime         string   `json:"start_time"`
	EndTime           string   `json:"end_time"`
	Status            string   `json:"status"`
	Message           string   `json:"message"`
	Ref               string   `json:"ref"`
	Envvars           []string `json:"envvars"`
	SourceURL         string   `json:"source_url"`
	UseLatestVersions bool     `json:"use_latest_versions"`
	DestinationImage  string   `json:"destination_image"`
}

// buildStatus is a status as the original CLI shows it.
func buildStatus(status string) string {
	switch status {
	case builds.StatusSuccess:
		return "ok"
	case builds.StatusFailure:
		return "error"
	}
	return strings.ToLower(strings.TrimPrefix(status, "BUILD_"))
}

func format(b builds.Build) formatted {
	na := func(s string) string {
		if s == "" {
			return "N/A"
		}
		return s
	}
	f := formatted{ID: b.ID, StartTime: na(b.StartTime), EndTime: na(b.EndTime), Status: buildStatus(b.Status), Message: b.Message,
		Ref: na(b.Parameters.Ref), SourceURL: b.Parameters.SourceURL, UseLatestVersions: b.Parameters.UseLatestVersions, DestinationImage: b.DestinationImage}
	for k, v := range b.Parameters.Envvars {
		f.Envvars = append(f.Envvars, k+"="+v)
	}
	sort.Strings(f.Envvars)
	if len(f.Envvars) == 0 {
		f.Envvars = []string{"N/A"}
	}
	return f
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	return enc.Encode(v)
}

func newBuildListCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your tool's builds, newest first",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			var resp builds.ListResponse
			if err := c.callWithMessages(cmd.Context(), http.MethodGet, c.buildsPath("/builds"), nil, &resp, !asJSON); err != nil {
				return err
			}
			if len(resp.Builds) == 0 {
				fmt.Fprintln(s.Out, "No builds found, you can start one using `toolforge build start`, run `toolforge build start --help` for more details")
				return nil
			}
			var list []formatted
			for _, b := range resp.Builds {
				list = append(list, format(b))
			}
			if asJSON {
				return printJSON(s.Out, struct {
					Messages route.Messages `json:"messages"`
					Builds   []formatted    `json:"builds"`
				}{resp.Messages, list})
			}
			t := &table{headers: []string{"build_id", "status", "start_time", "end_time", "source_url", "ref", "envvars", "use_latest_versions", "destination_image"}}
			for _, f := range list {
				t.add(f.ID, f.Status, f.StartTime, f.EndTime, f.SourceURL, f.Ref, strings.Join(f.Envvars, " "), fmt.Sprint(f.UseLatestVersions), f.DestinationImage)
			}
			return t.render(s.Out, s.TTY)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the builds as JSON")
	return cmd
}

func newBuildShowCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show [BUILD_ID]",
		Short: "Show a build (default: the latest)",
		Args:  MaximumArgs(1, "BUILD_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			id := "latest"
			if len(args) > 0 {
				id = args[0]
			}
			var resp builds.BuildResponse
			if err := c.callWithMessages(cmd.Context(), http.MethodGet, c.buildsPath("/builds/"+url.PathEscape(id)), nil, &resp, !asJSON); err != nil {
				return err
			}
			f := format(resp.Build)
			if asJSON {
				return printJSON(s.Out, struct {
					Messages route.Messages `json:"messages"`
					Build    formatted      `json:"build"`
				}{resp.Messages, f})
			}
			fmt.Fprintf(s.Out, "Build ID: %s\nStart Time: %s\nEnd Time: %s\nStatus: %s\nMessage: %s\nParameters:\n    Source URL: %s\n    Ref: %s\n    Envvars: %s\nUse latest versions: %v\nDestination Image: %s\n",
				f.ID, f.StartTime, f.EndTime, f.Status, f.Message, f.SourceURL, f.Ref, strings.Join(f.Envvars, "\n             "), pyBool(f.UseLatestVersions), f.DestinationImage)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the build as JSON")
	return cmd
}

// pyBool prints a boolean as the original (Python) does.
func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// eachBuild runs op on each ID (or every build with all), then says how
// many it did; any failure fails the command after the others were tried.
func eachBuild(ctx context.Context, s *IOStreams, c *apiClient, ids []string, all bool, op func(id string) error) (int, error) {
	if all {
		var resp builds.ListResponse
		if err := c.callWithMessages(ctx, http.MethodGet, c.buildsPath("/builds"), nil, &resp, false); err != nil {
			return 0, err
		}
		ids = ids[:0]
		for _, b := range resp.Builds {
			ids = append(ids, b.ID)
		}
	}
	done, failed := 0, false
	for _, id := range ids {
		if err := op(id); err != nil {
			fmt.Fprintf(s.ErrOut, "error: %v\n", err)
			failed = true
			continue
		}
		done++
	}
	if failed {
		return done, ErrSilent
	}
	return done, nil
}

func newBuildCancelCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var all, yes bool
	cmd := &cobra.Command{
		Use:   "cancel [--all] BUILD_ID...",
		Short: "Cancel running builds (does nothing for ended ones)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !all {
				return Usagef("No build passed to cancel.\nExample: toolforge build cancel <build-id>")
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var running []string
			if all {
				var resp builds.ListResponse
				if err := c.callWithMessages(ctx, http.MethodGet, c.buildsPath("/builds"), nil, &resp, false); err != nil {
					return err
				}
				for _, b := range resp.Builds {
					if !b.Finished() {
						running = append(running, b.ID)
					}
				}
				args = running
			}
			if err := Confirm(s, yes, "--yes-i-know", fmt.Sprintf("I'm going to cancel %d builds, continue?", len(args))); err != nil {
				return err
			}
			n, err := eachBuild(ctx, s, c, args, false, func(id string) error {
				return c.callWithMessages(ctx, http.MethodPut, c.buildsPath("/builds/"+url.PathEscape(id)+"/cancel"), nil, nil, false)
			})
			fmt.Fprintf(s.Out, "Cancelled %d builds\n", n)
			return err
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "cancel every running build")
	cmd.Flags().BoolVarP(&yes, "yes-i-know", "y", false, "do not ask for confirmation")
	return cmd
}

func newBuildDeleteCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var all, yes bool
	cmd := &cobra.Command{
		Use:   "delete [--all] BUILD_ID...",
		Short: "Delete builds (and their images, but for each name's latest)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !all {
				return Usagef("No build passed to delete.\nExample: toolforge build delete <build-id>")
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if all {
				var resp builds.ListResponse
				if err := c.callWithMessages(ctx, http.MethodGet, c.buildsPath("/builds"), nil, &resp, false); err != nil {
					return err
				}
				args = args[:0]
				for _, b := range resp.Builds {
					args = append(args, b.ID)
				}
			}
			if err := Confirm(s, yes, "--yes-i-know", fmt.Sprintf("I'm going to delete %d builds, continue?", len(args))); err != nil {
				return err
			}
			n, err := eachBuild(ctx, s, c, args, false, func(id string) error {
				return c.callWithMessages(ctx, http.MethodDelete, c.buildsPath("/builds/"+url.PathEscape(id)), nil, nil, false)
			})
			fmt.Fprintf(s.Out, "Deleted %d builds\n", n)
			return err
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "delete every build")
	cmd.Flags().BoolVarP(&yes, "yes-i-know", "y", false, "do not ask for confirmation")
	return cmd
}

func newBuildQuotaCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Show how much of your registry quota your images take",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			var resp builds.QuotaResponse
			if err := c.callWithMessages(cmd.Context(), http.MethodGet, c.buildsPath("/quotas"), nil, &resp, !asJSON); err != nil {
				return err
			}
			if asJSON {
				return printJSON(s.Out, resp)
			}
			for _, cat := range resp.Quota.Categories {
				fmt.Fprintf(s.Out, "%s\n===================\n", cat.Name)
				t := &table{}
				for _, it := range cat.Items {
					t.add(it.Name, "")
					t.add("-----------", "")
					t.add("Limit", it.Limit)
					t.add("Used", it.Used)
					t.add("Available", it.Available)
					t.add("Capacity", it.Capacity)
					t.rows = append(t.rows, nil)
				}
				if err := t.render(s.Out, false); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the quota as JSON")
	return cmd
}

func newBuildCleanCommand(s *IOStreams, api *apiFlags) *cobra.Command {
	var yes, asJSON bool
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Delete all your tool's images to free its registry quota",
		Long: `Delete every image of your tool. Web services and jobs using them cannot
restart until a new build makes the image again.`,
		Args: NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := Confirm(s, yes, "--yes-i-know", "NOTE: This will remove all your built images to clean up space, you'll have to start a new build to create a new image before being able to restart any running webservice/job or start a new one, are you sure?"); err != nil {
				return err
			}
			c, err := newAPIClient(s, api)
			if err != nil {
				return err
			}
			var resp builds.CleanResponse
			if err := c.callWithMessages(cmd.Context(), http.MethodPost, c.buildsPath("/clean"), nil, &resp, !asJSON); err != nil {
				return err
			}
			if asJSON {
				return printJSON(s.Out, resp)
			}
			fmt.Fprintln(s.Out, "If you still need more space, please contact the Toolforge admins.")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes-i-know", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the answer as JSON")
	return cmd
}
