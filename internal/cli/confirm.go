package cli

import (
	"bufio"
	"fmt"
	"strings"
)

// Confirm asks before a destructive action. --yes (yes) answers for the
// user; without a terminal there is no one to ask, so the action is refused
// with a usage error naming the flag.
func Confirm(s *IOStreams, yes bool, flag, question string) error {
	if yes {
		return nil
	}
	if !s.TTY {
		return Usagef("%s needs confirmation: not on a terminal, so pass %s", question, flag)
	}
	fmt.Fprintf(s.ErrOut, "%s [y/N] ", question)
	line, _ := bufio.NewReader(s.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return &ExitError{Code: ExitFailure, Err: fmt.Errorf("aborted")}
}
