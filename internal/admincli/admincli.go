// Package admincli is the `toolforge-admin` command line: the plumbing
// every admin noun shares (the admin's credentials, writes through
// impersonation, confirmations, -o) and the command tree. Each noun lives
// in its own file and adds itself in its init; what a noun does lives in
// its own capability package, not here.
package admincli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/version"
)

// Main runs toolforge-admin and returns the exit code (0 ok, 1 error, 2
// usage), as toolforge does.
func Main(args []string, s *cli.IOStreams) int {
	root := NewRootCommand(s)
	root.SetArgs(args[1:])
	err := root.Execute()
	if err == nil {
		return cli.ExitOK
	}
	code := cli.ExitFailure
	var ee *cli.ExitError
	if errors.As(err, &ee) {
		code = ee.Code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(s.ErrOut, "error: %s\n", msg)
	}
	return code
}

// NewRootCommand is toolforge-admin with every noun.
func NewRootCommand(s *cli.IOStreams) *cobra.Command {
	g := &Globals{Streams: s}
	root := &cobra.Command{
		Use:   "toolforge-admin",
		Short: "Administer the Toolforge platform",
		Long: `Administer the Toolforge platform with your admin credentials (~/.admkube,
as the accounts controller provisions them). Reads use your own identity,
which may only view; writes impersonate a cluster admin, as kubectl sudo
does, so each one is explicit and shows in the audit log as yours.`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cli.ExitError{Code: cli.ExitUsage, Err: fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	g.addFlags(root)
	for _, newCmd := range nouns {
		root.AddCommand(newCmd(g))
	}
	return root
}

// nouns are toolforge-admin's subcommands; each noun's file adds itself in
// its init.
var nouns []func(*Globals) *cobra.Command
