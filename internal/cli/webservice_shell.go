package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/klog/v2"

	"github.com/toolforge-go/toolforge/internal/webservice"
)

func newWebserviceShell(s *IOStreams) *cobra.Command {
	o := &webserviceOptions{}
	cmd := &cobra.Command{
		Use:   "shell [TYPE] [-- COMMAND [ARG...]]",
		Short: "Open a shell, or run a command, in a pod of the web service's image",
		Long: `Start an interactive pod of TYPE's image (or the manifest's type), with the
--cpu/--mem settings, attach your terminal to it, and remove the pod when you
leave, when the session fails, or when you interrupt it.

With -- COMMAND, the pod runs COMMAND (the program and its arguments, not a
shell line) instead of a shell: its output is printed and the exit status is
COMMAND's. Off a terminal it reads no input.`,
		Example: `  webservice php8.2 shell
  webservice python3.11 shell -- python3 --version
  webservice shell -- sh -c 'ls $HOME | wc -l'`,
		Args: func(cmd *cobra.Command, args []string) error {
			// TYPE before --, the command after it.
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				o.Command = args[dash:]
				if len(o.Command) == 0 {
					return Usagef("%s: no COMMAND after --", cmd.CommandPath())
				}
				args = args[:dash]
			}
			return typeArg(o)(cmd, args)
		},
		ValidArgsFunction: completeFirstArg(webserviceTypes),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWebservice(cmd.Context(), s, o, "shell")
		},
	}
	addSettingsFlags(cmd.Flags(), o, false)
	addBackendFlag(cmd.Flags(), o)
	return cmd
}

// runWebserviceShell attaches the user's terminal to a shell pod. In a
// terminal it is put in raw mode, so Ctrl-C reaches the remote shell; an
// interrupt or hangup of this process removes the pod on its way out.
func runWebserviceShell(ctx context.Context, s *IOStreams, c *webservice.Client, o *webserviceOptions) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// client-go's stream code logs through klog when a session is cut
	// short; on a user's terminal that is noise after our own message.
	klog.SetLogger(logr.Discard())
	sio := webservice.ShellIO{In: s.In, Out: s.Out, ErrOut: s.ErrOut, Command: o.Command}
	if f, ok := s.In.(*os.File); ok && s.TTY && term.IsTerminal(int(f.Fd())) {
		state, err := term.MakeRaw(int(f.Fd()))
		if err == nil {
			defer func() { _ = term.Restore(int(f.Fd()), state) }() // nothing better to do with a terminal that will not restore
			sio.TTY = true
			sio.Sizes = newTerminalSizes(ctx, int(f.Fd()))
		}
	}
	err := c.Shell(ctx, o.settings(), sio)
	var exit utilexec.ExitError
	switch {
	case err != nil && ctx.Err() != nil:
		return &ExitError{Code: 130, Err: errors.New("interrupted; the shell pod was removed")}
	case errors.As(err, &exit):
		// The remote shell's (or command's) own exit status, as ssh does.
		return &ExitError{Code: exit.ExitStatus(), Err: ErrSilent}
	}
	return err
}

// terminalSizes reports the terminal's size now and after every resize.
type terminalSizes struct {
	ctx     context.Context
	fd      int
	resized chan os.Signal
	first   bool
}

func newTerminalSizes(ctx context.Context, fd int) *terminalSizes {
	t := &terminalSizes{ctx: ctx, fd: fd, resized: make(chan os.Signal, 1), first: true}
	signal.Notify(t.resized, syscall.SIGWINCH)
	return t
}

func (t *terminalSizes) Next() *remotecommand.TerminalSize {
	if !t.first {
		select {
		case <-t.ctx.Done():
			signal.Stop(t.resized)
			return nil
		case <-t.resized:
		}
	}
	t.first = false
	w, h, err := term.GetSize(t.fd)
	if err != nil {
		return nil
	}
	return &remotecommand.TerminalSize{Width: uint16(w), Height: uint16(h)}
}
