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
	"time"

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
	// UndoTimeout bounds each step of putting things back after a
	// failure; 0 is the default of its kind (DefaultUndoTimeout for a
	// web service, whose start waits for its pods, DefaultUndoJobTimeout
	// for a job).
	UndoTimeout time.Duration
}

// Bounds of an undo step: a cluster that stopped answering must not hang
// the migration for ever. A web service's start waits up to
// webservice.DefaultTimeout for its pods.
const (
	DefaultUndoTimeout    = webservice.DefaultTimeout + time.Minute
	DefaultUndoJobTimeout = time.Minute
)

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
	undo := &undoStack{timeout: p.UndoTimeout}
	fail := func(err error) (*Result, error) {
		fmt.Fprintf(p.ErrOut, "Migration to %s failed: %v\nPutting everything back on %s\n", p.To.Context, err, p.From.Context)
		if left := undo.run(ctx); len(left) > 0 {
			return nil, &UndoError{Err: err, From: p.From.Context, Left: left}
		}
		return nil, fmt.Errorf("%w; everything runs on %s again, as before", err, p.From.Context)
	}

	if f.web != nil {
		// Undone by starting it again with the settings it ran with, unless
		// a stop that failed half-way left it running.
		opts := f.web.Options(webservice.Choices{})
		undo.push(undoStep{
			timeout: DefaultUndoTimeout,
			run: func(ctx context.Context) error {
				if run, err := p.From.Web.Running(ctx); err != nil || run != nil {
					return err
				}
				return p.From.Web.StartSaying(ctx, opts, startingLine(p.From.Context))
			},
			left: Leftover{
				What: fmt.Sprintf("the webservice does not run on %s", p.From.Context),
				Fix:  fmt.Sprintf("start it there: `%s` with %s as your current context", startCommand(f.web.Choices), p.From.Context),
			},
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
			undo.push(undoStep{
				timeout: DefaultUndoJobTimeout,
				run: func(context.Context) error {
					if _, err := p.Switch(p.From.Context); err != nil {
						return err
					}
					fmt.Fprintln(p.Out, SwitchedLine(p.From.Context))
					return nil
				},
				left: Leftover{
					What: fmt.Sprintf("your current context is still %s", p.To.Context),
					Fix:  fmt.Sprintf("switch back: `kubectl config use-context %s`", p.From.Context),
				},
			})
		}
	}
	if f.web != nil {
		// A refused start removes what it made itself ("nothing was left
		// running"); there is nothing to undo on To.
		if err := p.To.Web.StartSaying(ctx, f.webOpts, startingLine(p.To.Context)); err != nil {
			return fail(fmt.Errorf("start the webservice on %s: %w", p.To.Context, err))
		}
		undo.push(undoStep{
			timeout: DefaultUndoTimeout,
			run:     func(ctx context.Context) error { return p.To.Web.StopSaying(ctx, stoppingLine(p.To.Context)) },
			left: Leftover{
				What: fmt.Sprintf("the webservice still runs on %s", p.To.Context),
				Fix:  fmt.Sprintf("stop it there once it runs on %s again: `webservice stop` with %s as your current context", p.From.Context, p.To.Context),
			},
		})
		res.Web = f.webOpts.Flags.Type
	}
	// A job deleted from From that could not be created there again is
	// kept on To, its only copy.
	notBack := map[string]bool{}
	for _, j := range f.jobs {
		result, err := p.To.Jobs.Apply(ctx, j)
		if err != nil {
			return fail(fmt.Errorf("create job '%s' on %s: %w", j.Name, p.To.Context, err))
		}
		if result == jobs.Created {
			name := j.Name
			undo.push(undoStep{
				timeout: DefaultUndoJobTimeout,
				run: func(ctx context.Context) error {
					if notBack[name] {
						return nil
					}
					return p.To.Jobs.Delete(ctx, name)
				},
				left: Leftover{
					What: fmt.Sprintf("job '%s' also exists on %s", name, p.To.Context),
					Fix:  fmt.Sprintf("delete it there: `toolforge jobs delete %s` with %s as your current context", name, p.To.Context),
				},
			})
		}
	}
	for _, j := range f.jobs {
		if err := p.From.Jobs.Delete(ctx, j.Name); err != nil {
			return fail(fmt.Errorf("delete job '%s' from %s: %w", j.Name, p.From.Context, err))
		}
		def := *j
		undo.push(undoStep{
			timeout: DefaultUndoJobTimeout,
			run: func(ctx context.Context) error {
				_, err := p.From.Jobs.Apply(ctx, &def)
				return err
			},
			failed: func() { notBack[def.Name] = true },
			left: Leftover{
				What: fmt.Sprintf("job '%s' was not created on %s again; it is kept on %s", def.Name, p.From.Context, p.To.Context),
				Fix:  fmt.Sprintf("keep it there, or move it back once %s answers: `toolforge jobs migrate --to %s`", p.From.Context, p.From.Context),
			},
		})
		res.Jobs = append(res.Jobs, j.Name)
		fmt.Fprintf(p.Out, "Job '%s' moved to %s\n", j.Name, p.To.Context)
	}
	return res, nil
}

// startCommand is the command that starts a web service as it ran.
func startCommand(c webservice.Choices) string {
	cmd := "webservice"
	for _, f := range []struct{ flag, v string }{{"--cpu", c.CPU}, {"--mem", c.Mem}, {"--replicas", c.Replicas}} {
		if f.v != "" {
			cmd += " " + f.flag + " " + f.v
		}
	}
	return cmd + " " + c.Type + " start"
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

// undoStep undoes one step of a migration.
type undoStep struct {
	// timeout bounds it (Plan.UndoTimeout instead when set).
	timeout time.Duration
	run     func(ctx context.Context) error
	// left is what stays as the migration made it when run fails, and
	// failed (if any) is told so.
	left   Leftover
	failed func()
}

// undoStack holds what undoes the steps done, last first.
type undoStack struct {
	steps   []undoStep
	timeout time.Duration
}

func (u *undoStack) push(s undoStep) { u.steps = append(u.steps, s) }

// undoGrace is how long past its deadline a step that does not stop is
// waited for (at most its timeout again) before it is reported as given
// up.
const undoGrace = 5 * time.Second

// run undoes every step, last first, each within its deadline even when
// ctx is cancelled (an interrupted migration is still put back), and says
// what could not be undone.
func (u *undoStack) run(ctx context.Context) []Leftover {
	var left []Leftover
	for i := len(u.steps) - 1; i >= 0; i-- {
		s := u.steps[i]
		timeout := s.timeout
		if u.timeout > 0 {
			timeout = u.timeout
		}
		if err := runBounded(ctx, timeout, s.run); err != nil {
			l := s.left
			l.Err = err
			left = append(left, l)
			if s.failed != nil {
				s.failed()
			}
		}
	}
	return left
}

// runBounded runs fn with a deadline, and returns at most undoGrace after
// it even if fn does not heed it.
func runBounded(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(sctx) }()
	select {
	case err := <-done:
		if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("no answer within %s: %w", timeout, err)
		}
		return err
	case <-time.After(timeout + min(undoGrace, timeout)):
		return fmt.Errorf("no answer within %s; given up, its outcome is unknown", timeout)
	}
}

// Leftover is what a failed undo step left as the migration made it, and
// what the tool's maintainers can do about it.
type Leftover struct {
	What string `json:"what"`
	Fix  string `json:"fix"`
	Err  error  `json:"-"`
}

// UndoError is a failed migration that could not be put back entirely.
type UndoError struct {
	// Err is why the migration failed.
	Err  error
	From string
	Left []Leftover
}

func (e *UndoError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v; putting everything back on %s failed, and these are left as the migration made them:", e.Err, e.From)
	for _, l := range e.Left {
		fmt.Fprintf(&b, "\n  - %s (%v): %s", l.What, l.Err, l.Fix)
	}
	return b.String()
}

func (e *UndoError) Unwrap() error { return e.Err }
