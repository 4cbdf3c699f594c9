package admincli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/toolcreds"
)

func init() { nouns = append(nouns, newCredentialsCommand) }

func newCredentialsCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{Use: "credentials", Short: "Show and regenerate a tool's Kubernetes credentials"}
	ops := func() (*toolcreds.Ops, error) {
		cl, err := g.Clients()
		if err != nil {
			return nil, err
		}
		return &toolcreds.Ops{Read: cl.Read, Write: cl.Write, Progress: g.Streams.ErrOut}, nil
	}
	show := newShowToolCommand(g, "Show a tool's certificate: fingerprint, expiry, last renewal",
		func(ctx context.Context, tool string) (toolcreds.Status, error) {
			o, err := ops()
			if err != nil {
				return toolcreds.Status{}, err
			}
			return o.Show(ctx, tool)
		}, printCredentials)

	var yes bool
	wait := 2 * time.Minute
	regen := &cobra.Command{
		Use:   "regenerate TOOL",
		Short: "Issue new credentials for a tool (the seeds' repair step)",
		Long: `Delete the tool's maintain-kubeusers ConfigMap, as the seeds' repair step does,
and wait until the accounts controller has issued a new certificate and
rewritten the tool's kubeconfig. The old certificate is no longer the one
the tool uses (Kubernetes cannot revoke it: it stays valid until it expires).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.Confirm(yes, fmt.Sprintf("Regenerate the credentials of %s?", args[0])); err != nil {
				return err
			}
			o, err := ops()
			if err != nil {
				return err
			}
			before, after, err := o.Regenerate(c.Context(), args[0], wait)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Streams.ErrOut, "credentials of %s regenerated: certificate sha256 %s (was %s), expires %s\n",
				args[0], after.Fingerprint, orNone(before.Fingerprint), after.Expiry.Format(time.RFC3339))
			return nil
		},
	}
	regen.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	regen.Flags().DurationVar(&wait, "wait", wait, "how long to wait for the accounts controller")
	cmd.AddCommand(show, regen)
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func printCredentials(g *Globals, out *cli.Output, st toolcreds.Status) error {
	if out.Data() {
		return out.Print(g.Streams.Out, st)
	}
	w := tabwriter.NewWriter(g.Streams.Out, 0, 4, 2, ' ', 0)
	issued := "unknown"
	if !st.Issued.IsZero() {
		issued = st.Issued.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "tool:\t%s\nstatus:\t%s\n", st.Tool, st.Status)
	if st.Message != "" {
		fmt.Fprintf(w, "why:\t%s\n", st.Message)
	}
	fmt.Fprintf(w, "certificate sha256:\t%s\nexpires:\t%s\nissued (last renewal):\t%s\n",
		st.Fingerprint, st.Expiry.Format(time.RFC3339), issued)
	return w.Flush()
}
