package main

import (
	"testing"

	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

func TestAllRunsEveryServiceWithItsDefaults(t *testing.T) {
	root := daemon.NewRootCommand(services()...)
	all, _, err := root.Find([]string{"all"})
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{
		"api-addr":       tenancy.DefaultAPIAddr,
		"admission-addr": tenancy.DefaultAdmissionAddr,
		"status-addr":    tenancy.DefaultStatusAddr,
	}
	for flag, want := range defaults {
		f := all.Flags().Lookup(flag)
		if f == nil {
			t.Errorf("toolforged all has no --%s", flag)
			continue
		}
		if f.DefValue != want {
			t.Errorf("--%s defaults to %q, want %q", flag, f.DefValue, want)
		}
	}
	for _, sub := range []string{"accounts", "admission", "api", "status"} {
		if c, _, err := root.Find([]string{sub}); err != nil || c.Name() != sub {
			t.Errorf("no subcommand %s", sub)
		}
	}
}
