package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	buildsserver "github.com/toolforge-go/toolforge/internal/builds/server"
	"github.com/toolforge-go/toolforge/internal/daemon"
	envvarsserver "github.com/toolforge-go/toolforge/internal/envvars/server"
	"github.com/toolforge-go/toolforge/internal/jobs"
	jobsserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/logs"
	logsserver "github.com/toolforge-go/toolforge/internal/logs/server"
	logstore "github.com/toolforge-go/toolforge/internal/logs/store"
	"github.com/toolforge-go/toolforge/internal/route"
)

// Part is one service the API server hosts under /<Name>/: it registers
// its own flags, and at Setup makes its store (and any controller) from
// what the host shares, and returns its routes. The server authenticates,
// routes and documents them; it knows nothing else of the part.
type Part interface {
	Name() string
	AddFlags(fs *pflag.FlagSet)
	Setup(ctx context.Context, h *Host) ([]route.Route, error)
}

// Host is what the API server shares with its parts.
type Host struct {
	Manager manager.Manager
	Env     *daemon.Env
	// Config is the API's client configuration (its user agent, no
	// client-side rate limit).
	Config *rest.Config
	Kube   kubernetes.Interface
	// Cache holds tool namespaces' objects the API reads (the jobs
	// framework's, by label; limits, quotas, tool namespaces); Writer
	// writes uncached.
	Cache  cache.Cache
	Writer client.Client
	// Catalogue is the image catalogue (memoized).
	Catalogue *catalogue
	Log       *slog.Logger
	// AddCache adds another cache the parts' reads need; the server
	// serves once every cache has synced.
	AddCache func(cache.Cache) error
	// BuiltImages lists a tool's own images (set by the builds part).
	BuiltImages func(ctx context.Context, tool string) ([]jobs.ImageInfo, error)
	// Jobs is the jobs framework's store (set by the jobs part); Builds
	// the build service (set by the builds part; nil without one). The
	// components part deploys through them.
	Jobs   *jobsserver.Store
	Builds *buildsserver.Service
}

// parts are the services of the API server, in the order of the merged
// OpenAPI document. Adding a service is adding it here (and its RBAC).
func parts() []Part {
	return []Part{&jobsPart{}, &envvarsPart{}, newBuildsPart(), &logsPart{}, &componentsPart{}}
}

// jobsPart is the jobs framework (/jobs/v1).
type jobsPart struct{ store *jobsserver.Store }

func (*jobsPart) Name() string               { return "jobs" }
func (*jobsPart) AddFlags(fs *pflag.FlagSet) {}

func (p *jobsPart) Setup(ctx context.Context, h *Host) ([]route.Route, error) {
	env := h.Env
	p.store = &jobsserver.Store{
		Reader: h.Cache, Writer: h.Writer, Kube: h.Kube, Log: h.Log,
		Domain: env.Common.Domain, WebURL: env.Common.WebURL, Mail: env.Common.SMTPServer != "",
		Images:        h.Catalogue.Get,
		BuiltRegistry: env.Common.BuildsRegistry,
		BuiltImages: func(ctx context.Context, tool string) ([]jobs.ImageInfo, error) {
			if h.BuiltImages == nil {
				return nil, nil
			}
			return h.BuiltImages(ctx, tool)
		},
	}
	// What a job list shows changes with these (pods: a one-off job is
	// done once its pod succeeded, before the Job controller says so).
	for _, obj := range []client.Object{&batchv1.Job{}, &batchv1.CronJob{}, &appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}, &corev1.Pod{}, &corev1.LimitRange{}, &corev1.ResourceQuota{}, &corev1.Namespace{}} {
		inf, err := h.Cache.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			return nil, err
		}
		if _, err := inf.AddEventHandler(p.store.EventHandler()); err != nil {
			return nil, err
		}
	}
	h.Jobs = p.store
	return p.store.Routes(), nil
}

// envvarsPart is the tools' environment variables (/envvars/v1).
type envvarsPart struct{}

func (*envvarsPart) Name() string               { return "envvars" }
func (*envvarsPart) AddFlags(fs *pflag.FlagSet) {}

func (*envvarsPart) Setup(_ context.Context, h *Host) ([]route.Route, error) {
	return envvarsserver.NewStore(h.Kube).Routes(), nil
}

// catalogueTTL is how long the memoized catalogue serves.
const catalogueTTL = 10 * time.Second

// logsPart is the tools' logs from the log store (/logs/v1).
type logsPart struct{}

func (*logsPart) Name() string               { return logs.Service }
func (*logsPart) AddFlags(fs *pflag.FlagSet) {}

func (*logsPart) Setup(_ context.Context, h *Host) ([]route.Route, error) {
	api := &logsserver.Server{Kube: h.Kube, Retention: h.Env.Common.LogsRetention, Log: h.Log}
	if url := h.Env.Common.LogsStoreURL; url != "" {
		st, err := logstore.New(url)
		if err != nil {
			return nil, daemon.UsageError{Err: err}
		}
		api.Store = st
	}
	return api.Routes(), nil
}
