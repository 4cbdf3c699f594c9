package admincli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/nodeops"
)

func init() { nouns = append(nouns, newNodeCommand) }

func newNodeCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Node maintenance: list, cordon, uncordon, drain, rolling reboot"}
	ops := func() (*nodeops.Ops, error) {
		cl, err := g.Clients()
		if err != nil {
			return nil, err
		}
		return &nodeops.Ops{Read: cl.Read, Write: cl.Write, Progress: g.Streams.ErrOut}, nil
	}

	list := &cobra.Command{Use: "list", Short: "List the nodes: readiness, scheduling, pods", Args: cobra.NoArgs}
	out := cli.AddOutputFlag(list, "table")
	list.RunE = func(c *cobra.Command, _ []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		o, err := ops()
		if err != nil {
			return err
		}
		nodes, err := o.List(c.Context())
		if err != nil {
			return err
		}
		if out.Data() {
			return out.Print(g.Streams.Out, nodes)
		}
		w := tabwriter.NewWriter(g.Streams.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tREADY\tSCHEDULING\tROLES\tTYPE\tPODS\tKUBELET")
		for _, n := range nodes {
			sched := "enabled"
			if !n.Schedulable {
				sched = "cordoned"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.Name, n.Ready, sched, orDash(strings.Join(n.Roles, ",")), orDash(n.Type), n.Pods, n.Kubelet)
		}
		return w.Flush()
	}

	schedulable := func(use, short string, to bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NODE...",
			Short: short,
			Args:  cobra.MinimumNArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				o, err := ops()
				if err != nil {
					return err
				}
				for _, n := range args {
					changed, err := o.SetSchedulable(c.Context(), n, to)
					if err != nil {
						return err
					}
					state := map[bool]string{true: "uncordoned", false: "cordoned"}[to]
					if !changed {
						state = "already " + state
					}
					fmt.Fprintf(g.Streams.ErrOut, "node/%s %s\n", n, state)
				}
				return nil
			},
		}
	}

	drainOpts := nodeops.DefaultDrainOptions()
	var yes bool
	drain := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and evict its pods (the drain cookbook)",
		Long: `Cordon the node and evict every pod but DaemonSet and static ones, as the
drain cookbook's kubectl drain --ignore-daemonsets --delete-emptydir-data
--grace-period=1 --timeout=60s --force: through the Eviction API, so
PodDisruptionBudgets are honoured (a refused eviction is retried until
--timeout); then wait up to --wait-gone for the pods to be gone. Prints a
line per pod (what happened, and why a pod could not move); exit 1 when a
pod is left. The node stays cordoned: uncordon it when done.`,
		Args: cobra.ExactArgs(1),
	}
	drainOut := cli.AddOutputFlag(drain, "table")
	addDrainFlags(drain, &drainOpts)
	drain.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	drain.RunE = func(c *cobra.Command, args []string) error {
		if err := drainOut.Check(); err != nil {
			return err
		}
		if err := g.Confirm(yes, fmt.Sprintf("Drain node %s (evict its pods)?", args[0])); err != nil {
			return err
		}
		o, err := ops()
		if err != nil {
			return err
		}
		report, err := o.Drain(c.Context(), args[0], drainOpts)
		if len(report.Pods) > 0 || report.Complete {
			if perr := printDrain(g, drainOut, report); perr != nil {
				return perr
			}
		}
		return err
	}

	rebootOpts := nodeops.RebootOptions{Drain: nodeops.DefaultDrainOptions(), ReadyTimeout: 10 * time.Minute}
	var allWorkers bool
	var selector string
	var rebootYes bool
	reboot := &cobra.Command{
		Use:   "reboot NODE...|--all-workers",
		Short: "Rolling reboot, one node at a time: drain, reboot, wait for Ready, uncordon",
		Long: `The reboot cookbook: for each node in turn, drain it (as node drain), run the
reboot command, wait until the node is Ready again, uncordon it. Stops at the
first failure, leaving that node cordoned and the rest untouched.

The reboot step is a command run with sh -c, {node} standing for the node's
name: on devcluster
  --reboot-command 'devcluster node restart --dir DIR {node}'
in production whatever reboots a worker (e.g. through ssh or your cloud's CLI).`,
		Args: func(c *cobra.Command, args []string) error {
			if allWorkers == (len(args) > 0) {
				return cli.Usagef("give the nodes to reboot, or --all-workers")
			}
			return nil
		},
	}
	rebootOut := cli.AddOutputFlag(reboot, "table")
	reboot.Flags().StringVar(&rebootOpts.Command, "reboot-command", "", "command that reboots one node, {node} standing for its name (required)")
	reboot.Flags().BoolVar(&allWorkers, "all-workers", false, "every node without a control-plane role, by name")
	reboot.Flags().StringVar(&selector, "selector", "", "with --all-workers: only nodes with these labels (e.g. type=real)")
	reboot.Flags().DurationVar(&rebootOpts.ReadyTimeout, "ready-timeout", rebootOpts.ReadyTimeout, "how long a node may take to be Ready again")
	reboot.Flags().BoolVarP(&rebootYes, "yes", "y", false, "do not ask for confirmation")
	addDrainFlags(reboot, &rebootOpts.Drain)
	reboot.RunE = func(c *cobra.Command, args []string) error {
		if err := rebootOut.Check(); err != nil {
			return err
		}
		if strings.TrimSpace(rebootOpts.Command) == "" {
			return cli.Usagef("%v", nodeops.ErrNoRebootCommand)
		}
		o, err := ops()
		if err != nil {
			return err
		}
		nodes := args
		if allWorkers {
			if nodes, err = o.Workers(c.Context(), selector); err != nil {
				return err
			}
		}
		if err := g.Confirm(rebootYes, fmt.Sprintf("Reboot %d nodes one at a time (%s)?", len(nodes), strings.Join(nodes, ", "))); err != nil {
			return err
		}
		results, err := o.Reboot(c.Context(), nodes, rebootOpts)
		if perr := printReboot(g, rebootOut, results); perr != nil {
			return perr
		}
		return err
	}
	cmd.AddCommand(list, schedulable("cordon", "Mark nodes unschedulable (their pods stay)", false),
		schedulable("uncordon", "Mark nodes schedulable again", true), drain, reboot)
	return cmd
}

func addDrainFlags(cmd *cobra.Command, o *nodeops.DrainOptions) {
	cmd.Flags().DurationVar(&o.GracePeriod, "grace-period", o.GracePeriod, "grace period given to each evicted pod")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to keep trying evictions that PodDisruptionBudgets refuse")
	cmd.Flags().DurationVar(&o.WaitGone, "wait-gone", o.WaitGone, "how long to wait for evicted pods to be gone")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printDrain(g *Globals, out *cli.Output, r nodeops.DrainReport) error {
	if out.Data() {
		return out.Print(g.Streams.Out, r)
	}
	w := tabwriter.NewWriter(g.Streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAMESPACE\tPOD\tRESULT\tREASON")
	for _, p := range r.Pods {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Namespace, p.Name, p.Result, p.Reason)
	}
	return w.Flush()
}

func printReboot(g *Globals, out *cli.Output, results []nodeops.RebootResult) error {
	if out.Data() {
		if results == nil {
			results = []nodeops.RebootResult{}
		}
		return out.Print(g.Streams.Out, results)
	}
	w := tabwriter.NewWriter(g.Streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tRESULT\tTOOK\tDETAIL")
	for _, r := range results {
		result, detail := "rebooted", ""
		if !r.Done {
			result, detail = "failed at "+r.Step, r.Error
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Node, result, orDash(r.Took), detail)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.Drain != nil && len(r.Drain.Left()) > 0 {
			fmt.Fprintf(g.Streams.Out, "\npods left on %s:\n", r.Node)
			if err := printDrain(g, out, nodeops.DrainReport{Node: r.Node, Pods: r.Drain.Left()}); err != nil {
				return err
			}
		}
	}
	return nil
}
