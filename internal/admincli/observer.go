package admincli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/observer"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

func init() { nouns = append(nouns, newObserverCommand) }

func newObserverCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "observer",
		Short: "Grant tools read-only access to non-sensitive kinds cluster-wide",
		Long: `Observer access (for status tools such as k8s-status): the tool's pods that
run as ServiceAccount <tool>-obs may get, list and watch pods, nodes,
namespaces, workloads, services, events and the like in every namespace,
never Secrets, pod logs or exec. The grant is a label on the tool's
namespace that the accounts controller turns into the ServiceAccount and
its binding, and removes with the label or the tool.`,
	}
	wait := time.Minute
	set := func(use, short string, enabled bool) *cobra.Command {
		c := &cobra.Command{
			Use:   use + " TOOL",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				cl, err := g.Clients()
				if err != nil {
					return err
				}
				ops := &observer.Ops{Read: cl.Read, Write: cl.Write, Progress: g.Streams.ErrOut}
				if _, err := ops.Set(c.Context(), args[0], enabled, wait); err != nil {
					return err
				}
				if enabled {
					fmt.Fprintf(g.Streams.ErrOut, "observer access of %s granted: its pods run with serviceAccountName: %s\n", args[0], tenancy.ObserverServiceAccount(args[0]))
				} else {
					fmt.Fprintf(g.Streams.ErrOut, "observer access of %s removed\n", args[0])
				}
				return nil
			},
		}
		c.Flags().DurationVar(&wait, "wait", wait, "how long to wait for the accounts controller (0: do not wait)")
		return c
	}
	list := &cobra.Command{
		Use:   "list [TOOL]",
		Short: "List the tools with observer access (or one tool's)",
		Args:  cobra.MaximumNArgs(1),
	}
	out := cli.AddOutputFlag(list, "table")
	list.RunE = func(c *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		cl, err := g.Clients()
		if err != nil {
			return err
		}
		ops := &observer.Ops{Read: cl.Read, Write: cl.Write}
		var st []observer.Status
		if len(args) == 1 {
			one, err := ops.Get(c.Context(), args[0])
			if err != nil {
				return err
			}
			st = []observer.Status{one}
		} else if st, err = ops.List(c.Context()); err != nil {
			return err
		}
		if out.Data() {
			return out.Print(g.Streams.Out, st)
		}
		w := tabwriter.NewWriter(g.Streams.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TOOL\tENABLED\tSERVICEACCOUNT\tGRANTED")
		for _, s := range st {
			fmt.Fprintf(w, "%s\t%v\t%s\t%v\n", s.Tool, s.Enabled, s.ServiceAccount, s.Granted)
		}
		return w.Flush()
	}
	cmd.AddCommand(set("enable", "Grant a tool observer access", true), set("disable", "Take a tool's observer access away (every object of it)", false), list)
	return cmd
}
