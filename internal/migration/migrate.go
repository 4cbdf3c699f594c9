// Package migration moves a tool from one cluster to another running side
// by side (SPEC §9, seeds 000 and 001): its web service, its jobs and its
// kubeconfig's current context, checking first that everything fits the
// new cluster and putting everything back when a step fails. Tools drive
// it for themselves (`webservice migrate`, `jobs migrate`, with their own
// credentials), admins for every tool still on the old cluster
// (`toolforge-admin migration force`, with theirs); a report says what is
// left where.
package migration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// Web is a tool's web service on one cluster (a *webservice.Client).
type Web interface {
	Running(ctx context.Context) (*webservice.Running, error)
	CheckStart(ctx context.Context, o webservice.Options) (webservice.Footprint, error)
	StartSaying(ctx context.Context, o webservice.Options, line string) error
	StopSaying(ctx context.Context, line string) error
}

// Jobs are a tool's jobs on one cluster: through the jobs API with the
// tool's credentials, or the API's own store with an admin's.
type Jobs interface {
	List(ctx context.Context) ([]jobs.Info, error)
	// Check says what Apply would do (jobs.Created, Updated, Unchanged)
	// or why it would refuse, changing nothing.
	Check(ctx context.Context, j *jobs.Job) (string, error)
	Apply(ctx context.Context, j *jobs.Job) (string, error)
	Delete(ctx context.Context, name string) error
}

// Side is one cluster as the migration sees it.
type Side struct {
	// Context names the cluster (the kubeconfig context).
	Context string
	// Web and Jobs are nil when the migration leaves them alone.
	Web  Web
	Jobs Jobs
	// Kube reads the tool's namespace there (limit ranges, quotas).
	Kube      kubernetes.Interface
	Namespace string
}

// Plan is one tool's migration.
type Plan struct {
	Tool     string
	From, To Side
	// WebFlags override the running web service's settings on the new
	// cluster (--cpu, --mem, --replicas, TYPE).
	WebFlags webservice.Choices
	// Switch makes the context the tool's current one and says whether
	// that changed anything; nil leaves the kubeconfig alone.
	Switch func(context string) (bool, error)
	// SwitchIdle switches the context even when nothing runs on From (the
	// forced phase); a tool's own migrate does not.
	SwitchIdle bool
	// Out gets the lines scripts read; ErrOut progress and notes.
	Out, ErrOut io.Writer
}

// Result is what a migration did.
type Result struct {
	// Web is the web service's type when it moved.
	Web string `json:"webservice,omitempty"`
	// Jobs are the jobs moved, by name.
	Jobs []string `json:"jobs,omitempty"`
	// Stayed are one-off jobs left where they ran.
	Stayed []string `json:"stayed,omitempty"`
	// Switched says whether the current context changed.
	Switched bool `json:"switched"`
}

// Nothing says the migration found nothing to move.
func (r *Result) Nothing() bool { return r.Web == "" && len(r.Jobs) == 0 }

// RefusedError is a migration refused before anything changed: what does
// not fit the new cluster, and what to change.
type RefusedError struct {
	To      string
	Reasons []string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("nothing was changed: this cannot run on %s as it is:\n  %s", e.To, strings.Join(e.Reasons, "\n  "))
}

// Lines of the original's `webservice migrate`, with the clusters named by
// context where it said "legacy" and "2020".
func stoppingLine(ctx string) string {
	return fmt.Sprintf("Stopping webservice on %s Kubernetes cluster", ctx)
}
func startingLine(ctx string) string {
	return fmt.Sprintf("Starting webservice on %s Kubernetes cluster", ctx)
}

// SwitchedLine is what `kubectl config use-context` prints, which the
// original's migrate ran.
func SwitchedLine(ctx string) string { return fmt.Sprintf("Switched to context %q.", ctx) }

// found is what runs on From and moves.
type found struct {
	web     *webservice.Running
	webOpts webservice.Options
	jobs    []*jobs.Job
	stayed  []string
}

// Run migrates the tool as planned: it finds what runs on From, checks it
// all against To (nothing is changed when anything would not fit), then
// stops the web service on From, switches the context, starts the web
// service on To, creates the jobs on To and deletes them from From. When a
// step fails, the steps done are undone in reverse order, so the tool
// runs where it ran, on the context it had.
func Run(ctx context.Context, p *Plan) (*Result, error) {
	f, err := p.find(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Stayed: f.stayed}
	if f.web == nil && len(f.jobs) == 0 {
		if p.Switch != nil && p.SwitchIdle {
			if res.Switched, err = p.Switch(p.To.Context); err != nil {
				return res, err
			}
			if res.Switched {
				fmt.Fprintln(p.Out, SwitchedLine(p.To.Context))
			}
		}
		return res, nil
	}
	if err := p.check(ctx, f); err != nil {
		return nil, err
	}
	var undo undoStack
	fail := func(err error) (*Result, error) {
		fmt.Fprintf(p.ErrOut, "Migration to %s failed: %v\nPutting everything back on %s\n", p.To.Context, err, p.From.Context)
		if uerr := undo.run(); uerr != nil {
			return nil, fmt.Errorf("%w; putting it back failed too: %v", err, uerr)
		}
		return nil, fmt.Errorf("%w; everything runs on %s again, as before", err, p.From.Context)
	}

	if f.web != nil {
		// Undone by starting it again with the settings it ran with, unless
		// a stop that failed half-way left it running.
		undo.push(func() error {
			uctx := context.WithoutCancel(ctx)
			if run, err := p.From.Web.Running(uctx); err != nil || run != nil {
				return err
			}
			return p.From.Web.StartSaying(uctx, f.web.Options(webservice.Choices{}), startingLine(p.From.Context))
		})
		if err := p.From.Web.StopSaying(ctx, stoppingLine(p.From.Context)); err != nil {
			return fail(fmt.Errorf("stop the webservice on %s: %w", p.From.Context, err))
		}
	}
	if p.Switch != nil {
		changed, err := p.Switch(p.To.Context)
		if err != nil {
			return fail(fmt.Errorf("switch the current context to %s: %w", p.To.Context, err))
		}
		if changed {
			res.Switched = true
			fmt.Fprintln(p.Out, SwitchedLine(p.To.Context))
			undo.push(func() error {
				if _, err := p.Switch(p.From.Context); err != nil {
					return err
				}
				fmt.Fprintln(p.Out, SwitchedLine(p.From.Context))
				return nil
			})
		}
	}
	if f.web != nil {
		// A refused start removes what it made itself ("nothing was left
		// running"); there is nothing to undo on To.
		if err := p.To.Web.StartSaying(ctx, f.webOpts, startingLine(p.To.Context)); err != nil {
			return fail(fmt.Errorf("start the webservice on %s: %w", p.To.Context, err))
		}
		undo.push(func() error { return p.To.Web.StopSaying(context.WithoutCancel(ctx), stoppingLine(p.To.Context)) })
		res.Web = f.webOpts.Flags.Type
	}
	for _, j := range f.jobs {
		result, err := p.To.Jobs.Apply(ctx, j)
		if err != nil {
			return fail(fmt.Errorf("create job '%s' on %s: %w", j.Name, p.To.Context, err))
		}
		if result == jobs.Created {
			name := j.Name
			undo.push(func() error { return p.To.Jobs.Delete(context.WithoutCancel(ctx), name) })
		}
	}
	for _, j := range f.jobs {
		if err := p.From.Jobs.Delete(ctx, j.Name); err != nil {
			return fail(fmt.Errorf("delete job '%s' from %s: %w", j.Name, p.From.Context, err))
		}
		def := *j
		undo.push(func() error { _, err := p.From.Jobs.Apply(context.WithoutCancel(ctx), &def); return err })
		res.Jobs = append(res.Jobs, j.Name)
		fmt.Fprintf(p.Out, "Job '%s' moved to %s\n", j.Name, p.To.Context)
	}
	return res, nil
}

// find reads what runs on From: the web service's settings and the jobs
// that move (scheduled and continuous: their definitions). One-off jobs
// stay: a finished one is history, and one still running would run twice.
func (p *Plan) find(ctx context.Context) (*found, error) {
	f := &found{}
	if p.From.Web != nil {
		run, err := p.From.Web.Running(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the webservice on %s: %w", p.From.Context, err)
		}
		if run != nil {
			f.web, f.webOpts = run, run.Options(p.WebFlags)
		}
	}
	if p.From.Jobs != nil {
		list, err := p.From.Jobs.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the jobs on %s: %w", p.From.Context, err)
		}
		sort.Slice(list, func(i, k int) bool { return list[i].Name < list[k].Name })
		for i := range list {
			j := list[i].Job
			if j.Kind() == jobs.OneOff {
				if s := list[i].StatusShort; s != jobs.StatusCompleted && s != jobs.StatusFailed {
					f.stayed = append(f.stayed, j.Name)
					fmt.Fprintf(p.ErrOut, "Job '%s' is a one-off job still running on %s; it stays there (run it again on %s if needed)\n", j.Name, p.From.Context, p.To.Context)
				}
				continue
			}
			f.jobs = append(f.jobs, &j)
		}
	}
	return f, nil
}

// check asks To about everything that would move, changing nothing: the
// web service's type, limits and the objects in its way; each job's
// definition (catalogue, limits, quota), and a job of the same name there;
// and all of it together against the quota.
func (p *Plan) check(ctx context.Context, f *found) error {
	refused := &RefusedError{To: p.To.Context}
	var d demand
	lrs, quotas, err := limits(ctx, p.To.Kube, p.To.Namespace)
	if err != nil {
		return err
	}
	if f.web != nil {
		fp, err := p.To.Web.CheckStart(ctx, f.webOpts)
		if err != nil {
			refused.Reasons = append(refused.Reasons, fmt.Sprintf("the webservice: %v", err))
		} else {
			d.addWeb(fp)
		}
	}
	for _, j := range f.jobs {
		result, err := p.To.Jobs.Check(ctx, j)
		switch {
		case err != nil:
			refused.Reasons = append(refused.Reasons, fmt.Sprintf("job '%s': %v", j.Name, err))
		case result == jobs.Updated:
			refused.Reasons = append(refused.Reasons, fmt.Sprintf("job '%s': a job of that name with another definition exists on %s; delete or rename one of them", j.Name, p.To.Context))
		case result == jobs.Created:
			d.addJob(j, lrs)
		}
	}
	if len(refused.Reasons) == 0 {
		if err := d.check(quotas, p.To.Context); err != nil {
			refused.Reasons = append(refused.Reasons, err.Error())
		}
	}
	if len(refused.Reasons) > 0 {
		return refused
	}
	return nil
}

// undoStack holds what undoes the steps done, last first.
type undoStack []func() error

func (u *undoStack) push(f func() error) { *u = append(*u, f) }

func (u undoStack) run() error {
	var errs []error
	for i := len(u) - 1; i >= 0; i-- {
		errs = append(errs, u[i]())
	}
	return errors.Join(errs...)
}
