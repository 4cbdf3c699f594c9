// Package force is the forced phase of a migration (seed 000, phase 3):
// admins move every tool still on the old cluster with their own
// credentials, writing by impersonation, and the jobs API's own store. It
// is apart from package migration because it links the jobs server, which
// the toolforge CLI (driving migration for one tool) must not carry.
package force

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/jobs"
	jobsserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/kubecontext"
	"github.com/toolforge-go/toolforge/internal/migration"
	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// Cluster is one cluster as an admin acts on it: writes with the
// admin's impersonating credentials.
type Cluster struct {
	Context string
	Config  *rest.Config
	Kube    kubernetes.Interface
	// Jobs is the jobs API's own store over direct (uncached) reads and
	// writes: the same checks and objects as the API makes for a tool.
	jobs *jobsserver.Store
}

// NewCluster connects to one cluster with an admin's write credentials.
func NewCluster(ctxName string, cfg *rest.Config, platformNS string) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 200, 400
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", ctxName, err)
	}
	store := &jobsserver.Store{
		Reader: direct, Writer: direct, Kube: kube,
		Log: slog.New(slog.DiscardHandler),
		Images: func(ctx context.Context) (*images.Catalogue, error) {
			return images.Load(ctx, kube.CoreV1().ConfigMaps(platformNS))
		},
	}
	return &Cluster{Context: ctxName, Config: cfg, Kube: kube, jobs: store}, nil
}

// storeJobs are a tool's jobs through the API's store.
type storeJobs struct {
	s    *jobsserver.Store
	tool string
}

func (j storeJobs) List(ctx context.Context) ([]jobs.Info, error) { return j.s.List(ctx, j.tool) }
func (j storeJobs) Check(ctx context.Context, def *jobs.Job) (string, error) {
	d := *def
	r, _, _, err := j.s.CheckApply(ctx, j.tool, &d)
	return r, err
}
func (j storeJobs) Apply(ctx context.Context, def *jobs.Job) (string, error) {
	d := *def
	r, _, _, err := j.s.Apply(ctx, j.tool, &d)
	return r, err
}
func (j storeJobs) Delete(ctx context.Context, name string) error {
	err := j.s.Delete(ctx, j.tool, name)
	var re *route.Error
	if errors.As(err, &re) && re.Status == 404 {
		return nil
	}
	return err
}

// Options are the forced phase's settings.
type Options struct {
	From, To *Cluster
	// HomeRoot holds the tools' homes, whose kubeconfigs are switched.
	HomeRoot          string
	Domain            string
	PlatformNamespace string
	// Timeout bounds each web service's stop and start.
	Timeout time.Duration
	// Workers migrate tools in parallel (default 8).
	Workers int
	// Progress gets a line per tool as it finishes.
	Progress io.Writer
}

// Result is one tool's outcome.
type Result struct {
	Tool string `json:"tool"`
	// Outcome is migrated or failed.
	Outcome string `json:"result"`
	Reason  string `json:"reason,omitempty"`
	// Moved is what moved, for a migrated tool.
	Moved *migration.Result `json:"moved,omitempty"`
	// Left are workloads the platform did not make, which stay on the old
	// cluster: their owners move them (seed 001).
	Left []string `json:"left,omitempty"`
}

// Outcomes.
const (
	Migrated = "migrated"
	Failed   = "failed"
)

// Run migrates every tool of the report that is not done: its web
// service and jobs as `webservice migrate` and `jobs migrate` would, then
// its current context. A tool that fails keeps running where it was (its
// migration undoes itself); the others carry on.
func Run(ctx context.Context, o Options, tools []migration.ToolReport) []Result {
	out := make([]Result, len(tools))
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range max(o.Workers, 1) {
		wg.Go(func() {
			for i := range work {
				out[i] = one(ctx, o, &tools[i])
				mu.Lock()
				done++
				if o.Progress != nil {
					r := out[i]
					line := fmt.Sprintf("[%d/%d] %s %s", done, len(tools), r.Tool, r.Outcome)
					if r.Reason != "" {
						line += ": " + oneLine(r.Reason)
					}
					fmt.Fprintln(o.Progress, line)
				}
				mu.Unlock()
			}
		})
	}
	for i := range tools {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	for i := range out {
		if out[i].Tool == "" {
			out[i] = Result{Tool: tools[i].Tool, Outcome: Failed, Reason: "not started: " + context.Cause(ctx).Error()}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tool < out[j].Tool })
	return out
}

// oneLine joins a multi-line reason for a progress line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, ":\n", ": ")), " ")
}

func one(ctx context.Context, o Options, t *migration.ToolReport) Result {
	if t.State == migration.StateUnprovisioned {
		return Result{Tool: t.Tool, Outcome: Failed, Reason: fmt.Sprintf("not provisioned on %s: run its accounts controller first", o.To.Context), Left: t.Other}
	}
	// What the steps print is kept for the reason of a failure; tools run
	// in parallel, so nothing goes to the terminal as it happens.
	var log bytes.Buffer
	ns := tenancy.Namespace(t.Tool)
	web := func(c *Cluster) *webservice.Client {
		return &webservice.Client{
			Kube: c.Kube, Config: c.Config, Tool: t.Tool, Namespace: ns, Domain: o.Domain,
			PlatformNamespace: o.PlatformNamespace, Out: &log, ErrOut: &log, Timeout: o.Timeout, WithoutHome: true,
		}
	}
	home := filepath.Join(o.HomeRoot, t.Tool)
	res, err := migration.Run(ctx, &migration.Plan{
		Tool: t.Tool,
		From: migration.Side{Context: o.From.Context, Web: web(o.From), Jobs: storeJobs{o.From.jobs, t.Tool}, Kube: o.From.Kube, Namespace: ns},
		To:   migration.Side{Context: o.To.Context, Web: web(o.To), Jobs: storeJobs{o.To.jobs, t.Tool}, Kube: o.To.Kube, Namespace: ns},
		Switch: func(ctx string) (bool, error) {
			// As root, into a home the tool controls: through homefs, and
			// the file stays the tool's.
			d, err := homefs.OpenHome(home, homefs.Owner{UID: int(t.UID), GID: int(t.UID)})
			if err != nil {
				return false, err
			}
			defer d.Close()
			_, changed, err := kubecontext.Use(d, ctx)
			return changed, err
		},
		SwitchIdle: true,
		Out:        &log, ErrOut: &log,
	})
	if err != nil {
		return Result{Tool: t.Tool, Outcome: Failed, Reason: err.Error(), Left: t.Other}
	}
	return Result{Tool: t.Tool, Outcome: Migrated, Moved: res, Left: t.Other}
}
