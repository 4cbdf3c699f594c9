package admincli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/toolquota"
)

func init() { nouns = append(nouns, newQuotaCommand) }

func newQuotaCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Show and override a tool's quota",
		Long: `Per-tool quota overrides, kept on the tool's namespace (which the tool cannot
change) and applied by the accounts controller over the defaults and the
quotas file, so they survive every re-run. Keys are ResourceQuota keys:
` + toolquota.AllowedNames() + `.`,
	}
	wait := time.Minute
	ops := func() (*toolquota.Ops, error) {
		cl, err := g.Clients()
		if err != nil {
			return nil, err
		}
		return &toolquota.Ops{Read: cl.Read, Write: cl.Write, Progress: g.Streams.ErrOut}, nil
	}

	show := newShowToolCommand(g, "Show a tool's quota, usage and overrides",
		func(ctx context.Context, tool string) (toolquota.Status, error) {
			o, err := ops()
			if err != nil {
				return toolquota.Status{}, err
			}
			return o.Show(ctx, tool)
		}, printQuota)

	set := &cobra.Command{
		Use:     "set TOOL KEY=VALUE...",
		Short:   "Override quota keys of a tool",
		Example: "  toolforge-admin quota set bigtool requests.cpu=4 limits.cpu=4 pods=8",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			list, err := toolquota.ParseArgs(args[1:])
			if err != nil {
				return cli.Usagef("%v", err)
			}
			o, err := ops()
			if err != nil {
				return err
			}
			st, err := o.Set(c.Context(), args[0], list, wait)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Streams.ErrOut, "quota of %s: overrides %s\n", args[0], overridesText(st))
			return nil
		},
	}
	set.Flags().DurationVar(&wait, "wait", wait, "how long to wait for the accounts controller to apply it (0: do not wait)")

	reset := &cobra.Command{
		Use:   "reset TOOL [KEY...]",
		Short: "Remove a tool's overrides (the given keys, or all)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			for _, k := range args[1:] {
				if err := toolquota.ValidateKey(k); err != nil {
					return cli.Usagef("%v", err)
				}
			}
			o, err := ops()
			if err != nil {
				return err
			}
			st, err := o.Reset(c.Context(), args[0], args[1:], wait)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Streams.ErrOut, "quota of %s: overrides %s\n", args[0], overridesText(st))
			return nil
		},
	}
	reset.Flags().DurationVar(&wait, "wait", wait, "how long to wait for the accounts controller to apply it (0: do not wait)")
	cmd.AddCommand(show, set, reset)
	return cmd
}

func overridesText(st toolquota.Status) string {
	if len(st.Overrides) == 0 {
		return "none (the defaults and the quotas file apply)"
	}
	return toolquota.EncodeStrings(st.Overrides)
}

func printQuota(g *Globals, out *cli.Output, st toolquota.Status) error {
	if out.Data() {
		return out.Print(g.Streams.Out, st)
	}
	w := tabwriter.NewWriter(g.Streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tHARD\tUSED\tOVERRIDE")
	for _, l := range st.Quota {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", l.Key, l.Hard, l.Used, l.Override)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !st.Applied {
		fmt.Fprintf(g.Streams.ErrOut, "warning: the accounts controller has not applied the overrides yet\n")
	}
	return nil
}
