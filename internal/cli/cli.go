// Package cli is the `toolforge` command line: the shared plumbing (I/O
// streams, exit codes, confirmations, the current tool) and the command
// tree. Each noun (jobs, envvars, webservice) lives in its own files.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/toolforge-go/toolforge/internal/version"
)

// IOStreams are where a command reads and writes: data on Out, messages on
// ErrOut (gh and kubectl tradition).
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// TTY says whether Out is a terminal (tables, colours, prompts) rather
	// than a pipe or file (stable plain output, no prompts).
	TTY bool
}

// System are the process's streams.
func System() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, TTY: term.IsTerminal(int(os.Stdout.Fd()))}
}

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// ExitError carries an exit code other than 1.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Usagef is bad input from the user: exit code 2.
func Usagef(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// ErrSilent ends a command with exit code 1 after it has already said why.
var ErrSilent = errors.New("")

// Main runs the toolforge command line and returns the exit code. Invoked
// as `webservice` (a symlink), it is `toolforge webservice`.
func Main(args []string, s *IOStreams) int {
	root := NewRootCommand(s)
	if len(args) > 0 && filepath.Base(args[0]) == "webservice" {
		args = append([]string{args[0], "webservice"}, args[1:]...)
	}
	root.SetArgs(joinOptionalValues(root, args[1:]))
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	code := ExitFailure
	var ee *ExitError
	if errors.As(err, &ee) {
		code = ee.Code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(s.ErrOut, "error: %s\n", msg)
	}
	return code
}

// NewRootCommand is `toolforge` with every noun.
func NewRootCommand(s *IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:           "toolforge",
		Short:         "Run web services and jobs for your tool on Toolforge",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	for _, newCmd := range nouns {
		root.AddCommand(newCmd(s))
	}
	return root
}

// nouns are the subcommands of toolforge; each noun's file adds itself in
// its init.
var nouns []func(*IOStreams) *cobra.Command

// NoArgs rejects positional arguments with a usage error (exit 2).
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("%s takes no arguments (got %q)", cmd.CommandPath(), args)
	}
	return nil
}

// ExactArgs wants n positional arguments, named in the message.
func ExactArgs(n int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return Usagef("%s wants %d argument(s) (%v), got %d", cmd.CommandPath(), n, names, len(args))
		}
		return nil
	}
}

// MaximumArgs wants at most n positional arguments, named in the message.
func MaximumArgs(n int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return Usagef("%s takes at most %d argument(s) (%v), got %d", cmd.CommandPath(), n, names, len(args))
		}
		return nil
	}
}

// optionalValueAnnotation holds, on a flag with an optional value, the
// pattern of a value that may follow the flag after a space.
const optionalValueAnnotation = "toolforge.org/optional-value"

// optionalValue lets flag name of cmd take its value in the next argument
// too, when that argument matches pattern: the original's argparse reads
// `--wait 120 NAME` as --wait=120, while pflag reads a flag with an
// optional value (NoOptDefVal) as bare unless written --wait=120. The
// pattern keeps `--wait NAME` meaning a bare --wait.
func optionalValue(cmd *cobra.Command, name, noOptDefVal, pattern string) {
	f := cmd.Flags().Lookup(name)
	f.NoOptDefVal = noOptDefVal
	_ = cmd.Flags().SetAnnotation(name, optionalValueAnnotation, []string{pattern})
}

// joinOptionalValues rewrites `--flag VALUE` as `--flag=VALUE` for the
// flags of the command args name that take an optional value, when VALUE
// matches the flag's pattern (see optionalValue).
func joinOptionalValues(root *cobra.Command, args []string) []string {
	if len(args) > 0 && strings.HasPrefix(args[0], "__complete") {
		return args // completion sees the line as typed
	}
	cmd, _, err := root.Find(args)
	if err != nil || cmd.DisableFlagParsing {
		return args
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if a == "--" {
			return append(out, args[i+1:]...)
		}
		if i+1 >= len(args) || strings.Contains(a, "=") || !strings.HasPrefix(a, "-") {
			continue
		}
		var f *pflag.Flag
		if name, ok := strings.CutPrefix(a, "--"); ok {
			f = cmd.Flag(name)
		} else if len(a) == 2 {
			f = cmd.Flags().ShorthandLookup(a[1:])
		}
		if f == nil || f.NoOptDefVal == "" || len(f.Annotations[optionalValueAnnotation]) == 0 {
			continue
		}
		if regexp.MustCompile(f.Annotations[optionalValueAnnotation][0]).MatchString(args[i+1]) {
			out[len(out)-1] = a + "=" + args[i+1]
			i++
		}
	}
	return out
}
