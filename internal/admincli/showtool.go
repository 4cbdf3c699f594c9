package admincli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/cli"
)

// newShowToolCommand is a noun's `show TOOL`: read one tool's state, then
// print it as a table or as data (-o json|yaml).
func newShowToolCommand[S any](g *Globals, short string, show func(ctx context.Context, tool string) (S, error), print func(*Globals, *cli.Output, S) error) *cobra.Command {
	cmd := &cobra.Command{Use: "show TOOL", Short: short, Args: cobra.ExactArgs(1)}
	out := cli.AddOutputFlag(cmd, "table")
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if err := out.Check(); err != nil {
			return err
		}
		st, err := show(c.Context(), args[0])
		if err != nil {
			return err
		}
		return print(g, out, st)
	}
	return cmd
}
