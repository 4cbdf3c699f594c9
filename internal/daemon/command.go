package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/toolforge-go/toolforge/internal/version"
)

// UsageError is bad input (exit code 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// StandaloneOnly is a service that `all` leaves out; it says why (a
// service whose required flags all's minimal form cannot give).
type StandaloneOnly interface {
	StandaloneOnly() string
}

// NewRootCommand builds `toolforged`: one subcommand per service, and `all`
// running every service in one process.
func NewRootCommand(services ...Service) *cobra.Command {
	root := &cobra.Command{
		Use:           "toolforged",
		Short:         "The Toolforge platform services",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return UsageError{err} })
	var all []Service
	for _, s := range services {
		root.AddCommand(serviceCommand(s.Name(), s.Short(), []Service{s}))
		if _, alone := s.(StandaloneOnly); !alone {
			all = append(all, s)
		}
	}
	root.AddCommand(serviceCommand("all", "Run every service in one process", all))
	return root
}

func serviceCommand(use, short string, services []Service) *cobra.Command {
	common := &Common{}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), common, services)
		},
	}
	fs := pflag.NewFlagSet(use, pflag.ContinueOnError)
	common.addFlags(fs)
	for _, s := range services {
		s.AddFlags(fs)
	}
	cmd.Flags().AddFlagSet(fs)
	return cmd
}

// Main runs the toolforged command line and exits: 0 ok, 1 error, 2 usage.
func Main(services ...Service) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := NewRootCommand(services...).ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	var usage UsageError
	if errors.As(err, &usage) {
		os.Exit(2)
	}
	os.Exit(1)
}
