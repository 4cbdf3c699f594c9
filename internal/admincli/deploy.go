package admincli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/deploy"
)

func init() { nouns = append(nouns, newDeployCmd) }

// deployFlags are what every deploy verb shares.
type deployFlags struct {
	dir string
}

func newDeployCmd(g *Globals) *cobra.Command {
	f := &deployFlags{}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy the platform's components from the deployment control repository",
		Long: `Deploy the platform's components as the deployment control repository pins
them: DIR/clusters/<cluster>/<component>.yaml names each component's chart
and image by version and git hash, and the cluster's values (docs/deploy.md).
A rollback is a git revert of the pin, then apply.

The cluster is the kubeconfig context's (--context); CLUSTER names its
files in the repository.`,
	}
	cmd.PersistentFlags().StringVar(&f.dir, "dir", "deploy", "the deployment control repository (holding clusters/)")
	cmd.AddCommand(newDeployDiffCmd(g, f), newDeployApplyCmd(g, f), newDeployStatusCmd(g, f))
	return cmd
}

func (f *deployFlags) components(args []string) ([]*deploy.Component, error) {
	all, err := deploy.LoadCluster(f.dir, args[0])
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	comp := ""
	if len(args) > 1 {
		comp = args[1]
	}
	sel, err := deploy.Select(all, comp)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return sel, nil
}

func (g *Globals) deployer() (*deploy.Deployer, error) {
	c, err := g.Clients()
	if err != nil {
		return nil, err
	}
	return &deploy.Deployer{
		Config:   c.WriteConfig,
		Progress: g.Streams.ErrOut,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, nil
}

func newDeployDiffCmd(g *Globals, f *deployFlags) *cobra.Command {
	var out *cli.Output
	cmd := &cobra.Command{
		Use:   "diff CLUSTER [COMPONENT]",
		Short: "Show what apply would change on the cluster",
		Long: `Render each component at its pin and compare it with the live cluster:
the version change, and every object apply would create, change (a diff,
live to release) or delete. Changes nothing. Exit code 0 whether or not
there are changes; 1 when the comparison fails.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Check(); err != nil {
				return err
			}
			comps, err := f.components(args)
			if err != nil {
				return err
			}
			d, err := g.deployer()
			if err != nil {
				return err
			}
			var plans []*deploy.Plan
			for _, c := range comps {
				p, err := d.Diff(cmd.Context(), c)
				if err != nil {
					return fmt.Errorf("%s/%s: %w", c.Cluster, c.Name, err)
				}
				plans = append(plans, p)
			}
			if out.Data() {
				return out.Print(g.Streams.Out, plans)
			}
			for _, p := range plans {
				printPlan(g.Streams.Out, p)
			}
			return nil
		},
	}
	out = cli.AddOutputFlag(cmd, "text")
	return cmd
}

func printPlan(w io.Writer, p *deploy.Plan) {
	switch {
	case p.From == nil:
		fmt.Fprintf(w, "%s/%s: install chart %s, image %s\n", p.Cluster, p.Component, p.To.Chart, p.To.Image)
	case *p.From != p.To:
		fmt.Fprintf(w, "%s/%s: upgrade chart %s -> %s, image %s -> %s\n", p.Cluster, p.Component, p.From.Chart, p.To.Chart, p.From.Image, p.To.Image)
	case len(p.Changes) == 0:
		fmt.Fprintf(w, "%s/%s: no changes (chart %s, image %s)\n", p.Cluster, p.Component, p.To.Chart, p.To.Image)
		return
	default:
		fmt.Fprintf(w, "%s/%s: chart %s, image %s, with changed objects\n", p.Cluster, p.Component, p.To.Chart, p.To.Image)
	}
	for _, ch := range p.Changes {
		fmt.Fprintf(w, "  %s %s\n", ch.Change, ch)
		if ch.Diff != "" {
			fmt.Fprintln(w, indent(ch.Diff, "    "))
		}
	}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func newDeployApplyCmd(g *Globals, f *deployFlags) *cobra.Command {
	var yes bool
	var timeout time.Duration
	var out *cli.Output
	cmd := &cobra.Command{
		Use:   "apply CLUSTER [COMPONENT]",
		Short: "Install or upgrade components to exactly their pins, and wait until ready",
		Long: `Install or upgrade each component to exactly its pinned chart and image
(with the cluster's values), and wait until every workload is ready. When
that fails (an image that does not start, a readiness timeout), the release
is rolled back to the revision it had, and apply says so and exits 1. A
component already at its pin, without drift, is left alone; one whose live
objects drifted is applied again, which repairs them.

Progress goes to stderr; the result (one line per component, or -o json|yaml)
to stdout.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Check(); err != nil {
				return err
			}
			comps, err := f.components(args)
			if err != nil {
				return err
			}
			if timeout < 0 {
				return cli.Usagef("--timeout %s: must be positive", timeout)
			}
			var names []string
			for _, c := range comps {
				names = append(names, c.Name)
			}
			if err := g.Confirm(yes, fmt.Sprintf("Deploy %s to cluster %s?", strings.Join(names, ", "), args[0])); err != nil {
				return err
			}
			d, err := g.deployer()
			if err != nil {
				return err
			}
			var results []*deploy.Result
			var failed []string
			for _, c := range comps {
				if timeout > 0 {
					c.Timeout.Duration = timeout
				}
				r, err := d.Apply(cmd.Context(), c)
				results = append(results, r)
				if err != nil {
					failed = append(failed, c.Name)
				}
			}
			if out.Data() {
				if err := out.Print(g.Streams.Out, results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					line := fmt.Sprintf("%s/%s: %s chart %s, image %s", r.Cluster, r.Component, r.Action, r.To.Chart, r.To.Image)
					if r.Revision > 0 {
						line += fmt.Sprintf(" (revision %d)", r.Revision)
					}
					if r.Error != "" {
						line = fmt.Sprintf("%s/%s: %s: %s", r.Cluster, r.Component, r.Action, r.Error)
					}
					fmt.Fprintln(g.Streams.Out, line)
				}
			}
			if len(failed) > 0 {
				return &cli.ExitError{Code: cli.ExitFailure, Err: fmt.Errorf("apply failed for %s", strings.Join(failed, ", "))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "deploy without asking (required off a terminal)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "how long to wait for readiness (default: the component file's timeout, else 5m)")
	out = cli.AddOutputFlag(cmd, "text")
	return cmd
}

// Exit codes of deploy status.
const (
	statusInSync  = 0
	statusDrifted = 1
	statusError   = 2
)

func newDeployStatusCmd(g *Globals, f *deployFlags) *cobra.Command {
	var out *cli.Output
	var metricsFile string
	cmd := &cobra.Command{
		Use:   "status CLUSTER [COMPONENT]",
		Short: "Compare what runs with the pins: versions and drift of live objects",
		Long: `For each component: the pinned and the deployed chart and image, the
release's state, and every object of the release whose live state drifted
from it (a server-side dry run of the release's objects compared with the
live ones: hand edits show, what controllers add does not).

Exit code: 0 every component in sync, 1 one drifted (another version, a
failed release, changed or missing objects, never deployed), 2 the state
could not be read. --metrics-file writes the result as Prometheus metrics
for node_exporter's textfile collector (docs/deploy.md).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Check(); err != nil {
				return err
			}
			comps, err := f.components(args)
			if err != nil {
				return err
			}
			d, err := g.deployer()
			if err != nil {
				return &cli.ExitError{Code: statusError, Err: err}
			}
			var statuses []deploy.Status
			code := statusInSync
			for _, c := range comps {
				s := d.Status(cmd.Context(), c)
				statuses = append(statuses, s)
				switch {
				case s.Error != "":
					code = statusError
				case !s.InSync && code == statusInSync:
					code = statusDrifted
				}
			}
			if metricsFile != "" {
				if err := deploy.WriteMetrics(metricsFile, args[0], statuses, time.Now()); err != nil {
					return &cli.ExitError{Code: statusError, Err: err}
				}
			}
			if out.Data() {
				if err := out.Print(g.Streams.Out, statuses); err != nil {
					return err
				}
			} else {
				printStatuses(g.Streams.Out, statuses)
			}
			switch code {
			case statusDrifted:
				return &cli.ExitError{Code: statusDrifted, Err: errors.New("")}
			case statusError:
				return &cli.ExitError{Code: statusError, Err: errors.New("")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&metricsFile, "metrics-file", "", "also write the result as Prometheus metrics to this file (textfile collector format, replaced atomically)")
	out = cli.AddOutputFlag(cmd, "text")
	return cmd
}

func printStatuses(w io.Writer, statuses []deploy.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPINNED\tDEPLOYED\tREVISION\tSTATUS")
	for _, s := range statuses {
		deployed, rev := "-", "-"
		if s.Deployed != nil {
			deployed = s.Deployed.Chart + " (image " + s.Deployed.Image + ")"
			rev = fmt.Sprint(s.Revision)
		}
		fmt.Fprintf(tw, "%s/%s\t%s (image %s)\t%s\t%s\t%s\n", s.Cluster, s.Component, s.Pinned.Chart, s.Pinned.Image, deployed, rev, s.Summary())
	}
	_ = tw.Flush()
	for _, s := range statuses {
		for _, o := range s.Drift {
			if o.Diff != "" {
				fmt.Fprintf(w, "\n%s/%s: %s %s:\n%s\n", s.Cluster, s.Component, o.Change, o, indent(o.Diff, "  "))
			}
		}
	}
}
