// Package forcemigrate is the forced phase of a migration between clusters
// (seed 000, phase 3): every tool of the source gets the controller's
// context as its current-context, and nothing else changes.
package forcemigrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/accounts/homes"
	"github.com/toolforge-go/toolforge/internal/accountsource"
	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/kubecontext"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Options are what a forced migration needs of the controller's flags.
type Options struct {
	// HomeRoot holds <tool>/ for a tool whose source names no home;
	// AdminHomeRoot the admins' (whose homes no tool's may share).
	HomeRoot, AdminHomeRoot string
	// ContextName is the context every tool is switched to.
	ContextName string
	Workers     int
}

// Report is what a forced migration did.
type Report struct {
	// Switched maps each switched tool to the context it was on.
	Switched map[string]string
	// Already are the tools that were on the context already.
	Already []string
	// Skipped maps each tool that has nothing to switch (disabled, or
	// never provisioned: no home) to why.
	Skipped map[string]string
	// Failed maps each tool that could not be switched to why.
	Failed map[string]string
}

// Run is the forced phase: every tool of the source gets the controller's
// context as its current-context. It reads the source and the tools' kubeconfigs and
// writes only the kubeconfigs that change: no cluster object, certificate
// or other file is touched, and a second run switches nothing. A disabled
// tool, or one never provisioned (no home), has nothing to switch: it is
// skipped and counted. A tool whose kubeconfig lacks the context (not
// provisioned on this cluster) is a failure, reported with the others.
func Run(ctx context.Context, o Options, src accountsource.Source, log *slog.Logger) (*Report, error) {
	start := time.Now()
	snap, err := src.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("read accounts from %s: %w", src, err)
	}
	rep := &Report{Switched: map[string]string{}, Skipped: map[string]string{}, Failed: map[string]string{}}
	var accounts []homes.Account
	for _, t := range snap.Tools {
		accounts = append(accounts, homes.Account{Kind: account.TypeTool, Name: t.Name, Home: t.Home, Root: o.HomeRoot})
	}
	for _, a := range snap.Admins {
		accounts = append(accounts, homes.Account{Kind: account.TypeAdmin, Name: a.Name, Home: a.Home, Root: o.AdminHomeRoot})
	}
	resolved := homes.Resolve(accounts)
	var mu sync.Mutex
	work := make(chan accountsource.Tool)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for t := range work {
				prev, changed, err := forceOne(o, t, resolved[homes.Key{Kind: account.TypeTool, Name: t.Name}])
				var skip errSkipped
				mu.Lock()
				switch {
				case errors.As(err, &skip):
					rep.Skipped[t.Name] = skip.why
					log.Info("nothing to switch", "tool", t.Name, "why", skip.why)
				case err != nil:
					rep.Failed[t.Name] = err.Error()
					log.Error("cannot switch the tool's current-context", "tool", t.Name, "context", o.ContextName, "err", err)
				case changed:
					rep.Switched[t.Name] = prev
					log.Info("switched current-context", "tool", t.Name, "from", prev, "to", o.ContextName)
				default:
					rep.Already = append(rep.Already, t.Name)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, t := range snap.Tools {
		if err := tenancy.ValidateName(t.Name); err != nil {
			mu.Lock()
			rep.Failed[t.Name] = err.Error()
			mu.Unlock()
			continue
		}
		select {
		case work <- t:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	sort.Strings(rep.Already)
	log.Info("force-migrate finished", "context", o.ContextName, "switched", len(rep.Switched), "already", len(rep.Already),
		"skipped", len(rep.Skipped), "failed", len(rep.Failed), "seconds", time.Since(start).Seconds())
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if len(rep.Failed) > 0 {
		return rep, fmt.Errorf("%d tool(s) could not be switched to %q", len(rep.Failed), o.ContextName)
	}
	return rep, nil
}

// errSkipped is a tool forceOne leaves alone, and why.
type errSkipped struct{ why string }

func (e errSkipped) Error() string { return e.why }

func forceOne(o Options, t accountsource.Tool, h homes.Resolved) (string, bool, error) {
	if t.Disabled {
		// Its access is removed: there is no context to use.
		return "", false, errSkipped{"disabled"}
	}
	if h.Refused != nil {
		return "", false, h.Refused
	}
	home, err := homefs.OpenHome(h.Home, account.Owner(t.UID))
	if errors.Is(err, os.ErrNotExist) {
		return "", false, errSkipped{"never provisioned (no home " + h.Home + ")"}
	}
	if err != nil {
		return "", false, err
	}
	defer home.Close()
	prev, changed, err := kubecontext.Use(home, o.ContextName)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, kubecontext.ErrNoContext) {
		return prev, false, fmt.Errorf("not provisioned for context %q (run toolforged accounts --context-name %s first): %w", o.ContextName, o.ContextName, err)
	}
	return prev, changed, err
}
