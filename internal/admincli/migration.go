package admincli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/migration"
	"github.com/toolforge-go/toolforge/internal/migration/force"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

func init() { nouns = append(nouns, newMigrationCommand) }

// migrationFlags are what both verbs need: the two clusters (contexts of
// the admin's kubeconfig) and where the tools' homes are.
type migrationFlags struct {
	From, To string
	HomeRoot string
	Workers  int
}

func (f *migrationFlags) addTo(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.From, "from", "", "context of the old cluster (required)")
	cmd.Flags().StringVar(&f.To, "to", "", "context of the new cluster (required)")
	cmd.Flags().StringVar(&f.HomeRoot, "home-root", "/data/project", "directory of the tools' homes (<home-root>/<tool>), whose kubeconfigs say where each tool is")
	cmd.Flags().IntVar(&f.Workers, "workers", 8, "tools handled in parallel")
}

func (f *migrationFlags) check() error {
	if f.From == "" || f.To == "" {
		return cli.Usagef("--from and --to are required: the contexts of the old and the new cluster")
	}
	if f.From == f.To {
		return cli.Usagef("--from and --to are both %q", f.From)
	}
	if f.Workers < 1 {
		return cli.Usagef("--workers %d: want at least 1", f.Workers)
	}
	return nil
}

func newMigrationCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migration",
		Short: "Move tools from one cluster to another: what is left where, and the forced phase",
		Long: `Two clusters side by side, each a context of your kubeconfig: the old one the
tools run on, and the new one (docs/migration.md is the runbook).

  report  lists every tool not yet done: its current context and what it still
          runs on the old cluster, with totals per state
  force   moves those tools' web services and jobs and switches their context`,
		Args: cli.NoArgs,
	}
	cmd.AddCommand(newMigrationReport(g), newMigrationForce(g))
	return cmd
}

func newMigrationReport(g *Globals) *cobra.Command {
	f := &migrationFlags{}
	var all bool
	cmd := &cobra.Command{
		Use:   "report --from CTX --to CTX",
		Short: "List the tools not yet on the new cluster and what each still runs on the old one",
		Long: `List every tool not yet done, one per line: the current context of its
kubeconfig, its state, and what it still runs on the old cluster (the web
service's type, jobs by type, and other workloads the platform did not make);
then the totals. With --all, done tools too.

States: pending (on the old cluster, with workloads there), switched (on the new
cluster, workloads left on the old one), idle (on the old cluster, nothing
running), unprovisioned (no namespace on the new cluster yet), done.`,
		Example: `  toolforge-admin migration report --from default --to toolforge
  toolforge-admin migration report --from default --to toolforge -o json`,
		Args: cli.NoArgs,
	}
	out := cli.AddOutputFlag(cmd, "normal")
	f.addTo(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "list done tools too")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		if err := f.check(); err != nil {
			return err
		}
		rep, err := buildReport(cmd.Context(), g, f)
		if err != nil {
			return err
		}
		if !all {
			keep := rep.Tools[:0]
			for _, t := range rep.Tools {
				if t.State != migration.StateDone {
					keep = append(keep, t)
				}
			}
			rep.Tools = keep
		}
		if out.Data() {
			return out.Print(g.Streams.Out, rep)
		}
		return migration.WriteReport(g.Streams.Out, rep)
	}
	return cmd
}

func buildReport(ctx context.Context, g *Globals, f *migrationFlags) (*migration.Report, error) {
	from, err := g.ClientsFor(f.From)
	if err != nil {
		return nil, fmt.Errorf("--from %s: %w", f.From, err)
	}
	to, err := g.ClientsFor(f.To)
	if err != nil {
		return nil, fmt.Errorf("--to %s: %w", f.To, err)
	}
	return migration.BuildReport(ctx, migration.ReportOptions{
		From: f.From, To: f.To, FromKube: from.Read, ToKube: to.Read, HomeRoot: f.HomeRoot, Workers: f.Workers,
	})
}

func newMigrationForce(g *Globals) *cobra.Command {
	f := &migrationFlags{}
	var tools []string
	var yes bool
	var domain string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "force --from CTX --to CTX [--tool T]... [--yes]",
		Short: "Move every tool still on the old cluster (or the --tool ones) to the new one",
		Long: `The forced phase: for each tool the report lists (or each --tool), move its web
service and its scheduled and continuous jobs as webservice migrate and jobs
migrate do (everything checked against the new cluster first, undone on
failure), then switch its kubeconfig's current context. A tool that fails keeps
running where it was, with its context; the others carry on. Other workloads
(ones the platform did not make) stay on the old cluster and are named: their
owners move them.

One line per tool (migrated, or failed with the reason); exit 1 if any failed.
It stops and starts web services, so it asks first (--yes off a terminal).`,
		Example: `  toolforge-admin migration force --from default --to toolforge --tool mytool
  toolforge-admin migration force --from default --to toolforge --yes`,
		Args: cli.NoArgs,
	}
	out := cli.AddOutputFlag(cmd, "normal")
	f.addTo(cmd)
	cmd.Flags().StringSliceVar(&tools, "tool", nil, "only these tools (repeatable)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	cmd.Flags().StringVar(&domain, "domain", "", "domain web services are published under (default $"+webservice.DomainEnv+", or domain: in "+webservice.CommonConfigFile+", or the one the new cluster publishes, or "+tenancy.DefaultDomain+")")
	cmd.Flags().DurationVar(&timeout, "timeout", webservice.DefaultTimeout, "how long each web service may take to stop and to start")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		if err := f.check(); err != nil {
			return err
		}
		// The web services start on the new cluster: its published domain
		// is the one they get when nothing else names one.
		dom, err := webservice.ResolveDomain(domain, os.Getenv, webservice.CommonConfigFile, func() (string, error) {
			to, err := g.ClientsFor(f.To)
			if err != nil {
				return "", fmt.Errorf("--to %s: %w", f.To, err)
			}
			published, err := webservice.ReadPublished(cmd.Context(), to.Read, tenancy.PlatformNamespace)
			return published.Domain, err
		})
		if err != nil {
			return cli.Usagef("%v", err)
		}
		return runForce(cmd.Context(), g, f, tools, yes, dom, timeout, out)
	}
	return cmd
}

func runForce(ctx context.Context, g *Globals, f *migrationFlags, only []string, yes bool, domain string, timeout time.Duration, out *cli.Output) error {
	s := g.Streams
	rep, err := buildReport(ctx, g, f)
	if err != nil {
		return err
	}
	byName := map[string]migration.ToolReport{}
	for _, t := range rep.Tools {
		byName[t.Tool] = t
	}
	var todo []migration.ToolReport
	if len(only) > 0 {
		for _, name := range only {
			t, ok := byName[name]
			if !ok {
				return cli.Usagef("--tool %s: no such tool on %s or %s", name, f.From, f.To)
			}
			if t.State != migration.StateDone {
				todo = append(todo, t)
			}
		}
	} else {
		for _, t := range rep.Tools {
			if t.State != migration.StateDone {
				todo = append(todo, t)
			}
		}
	}
	if len(todo) == 0 {
		fmt.Fprintf(s.ErrOut, "Nothing to migrate: every tool asked for is on %s with nothing left on %s.\n", f.To, f.From)
		if out.Data() {
			return out.Print(s.Out, []force.Result{})
		}
		return nil
	}
	question := fmt.Sprintf("Migrate %d tool(s) from %s to %s (their web services stop and start again)?", len(todo), f.From, f.To)
	if err := g.Confirm(yes, question); err != nil {
		return err
	}
	from, err := g.ClientsFor(f.From)
	if err != nil {
		return err
	}
	to, err := g.ClientsFor(f.To)
	if err != nil {
		return err
	}
	fromCluster, err := force.NewCluster(f.From, from.WriteConfig, tenancy.PlatformNamespace)
	if err != nil {
		return err
	}
	toCluster, err := force.NewCluster(f.To, to.WriteConfig, tenancy.PlatformNamespace)
	if err != nil {
		return err
	}
	results := force.Run(ctx, force.Options{
		From: fromCluster, To: toCluster, HomeRoot: f.HomeRoot, Domain: domain,
		PlatformNamespace: tenancy.PlatformNamespace, Timeout: timeout, Workers: f.Workers, Progress: s.ErrOut,
	}, todo)
	failed := 0
	for _, r := range results {
		if r.Outcome == force.Failed {
			failed++
		}
	}
	if out.Data() {
		if err := out.Print(s.Out, results); err != nil {
			return err
		}
	} else if err := force.Write(s.Out, results); err != nil {
		return err
	}
	if failed > 0 {
		return &cli.ExitError{Code: cli.ExitFailure, Err: fmt.Errorf("%d of %d tool(s) failed and keep running on %s", failed, len(results), f.From)}
	}
	return nil
}
