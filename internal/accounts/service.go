package accounts

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/keymutex"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/toolforge-go/toolforge/internal/daemon"
)

// Service is `toolforged accounts`.
type Service struct{ opts *Options }

// NewService returns the accounts service with default flags.
func NewService() *Service { return &Service{opts: DefaultOptions()} }

func (s *Service) Name() string { return "accounts" }

func (s *Service) Short() string {
	return "Provision tool and admin accounts: namespaces, credentials, kubeconfigs, quotas, access"
}

func (s *Service) AddFlags(fs *pflag.FlagSet) { s.opts.AddFlags(fs) }

// Preempt runs --force-migrate, which switches kubeconfigs and touches
// nothing in the cluster, instead of the controller.
func (s *Service) Preempt(ctx context.Context, log *slog.Logger) (bool, error) {
	if !s.opts.ForceMigrate {
		return false, nil
	}
	src, err := s.opts.Validate()
	if err != nil {
		return true, daemon.UsageError{Err: err}
	}
	_, err = ForceMigrate(ctx, s.opts, src, log.With("service", "accounts"))
	return true, err
}

// Setup builds the reconciler, its cache of owned objects, the pass runner
// and (unless --once) the event-driven controllers.
func (s *Service) Setup(ctx context.Context, mgr manager.Manager, env *daemon.Env) error {
	src, err := s.opts.Validate()
	if err != nil {
		return daemon.UsageError{Err: err}
	}
	if (s.opts.Once || s.opts.ForceMigrate) && !env.Standalone {
		return daemon.Usagef("--once and --force-migrate work with `toolforged accounts` only")
	}
	quotas, err := LoadQuotas(s.opts.QuotasFile)
	if err != nil {
		return err
	}
	shared, _ := parseSharedData(s.opts.SharedData)
	server := s.opts.APIServerURL
	if server == "" {
		server = env.Config.Host
	}
	caData, err := env.ClusterCA(s.opts.ClusterCAFile)
	if err != nil {
		return fmt.Errorf("cluster CA for kubeconfigs (--cluster-ca-file): %w", err)
	}
	m := newMetrics(ctrlmetrics.Registry)

	cfg := rest.CopyConfig(env.Config)
	cfg.QPS = -1 // no client-side limit: the API server's priority and fairness governs
	// Protobuf, as Kubernetes' own components speak it: much cheaper for the
	// API server to decode, encode and fan out to watchers than JSON.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return m.countWrites(rt) })

	// The cache holds only what this controller owns. Reads return the
	// cache's own objects, not copies: a converged pass reads every object
	// and changes none, and copying them all made it allocation-bound.
	// Code that changes an object read from the cache copies it first.
	owned := labels.SelectorFromSet(labels.Set{"app.kubernetes.io/managed-by": managedBy})
	c, err := cache.New(cfg, cache.Options{
		Scheme:                       mgr.GetScheme(),
		Mapper:                       mgr.GetRESTMapper(),
		DefaultLabelSelector:         owned,
		DefaultUnsafeDisableDeepCopy: ptr.To(true),
	})
	if err != nil {
		return fmt.Errorf("create cache: %w", err)
	}
	cl, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		return err
	}
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	r := &Reconciler{
		opts:        s.opts,
		source:      src,
		quotas:      quotas,
		shared:      shared,
		client:      cl,
		apiReader:   direct,
		kube:        kube,
		server:      server,
		caData:      caData,
		metrics:     m,
		log:         env.Log.With("service", "accounts"),
		now:         time.Now,
		platformNS:  env.Common.PlatformNamespace,
		installRBAC: env.Common.InstallRBAC,
		locks:       keymutex.NewHashed(4096), // stripes: workers rarely share one
	}
	// Informers start lazily on first use, each blocking the workers while
	// it lists; register them all now so they list together at start.
	for _, obj := range ownedKinds() {
		if _, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
	}
	if err := mgr.Add(c); err != nil {
		return err
	}
	if err := mgr.Add(&passRunner{r: r, cache: c, interval: s.opts.Interval, once: s.opts.Once, exit: env.Exit}); err != nil {
		return err
	}
	if s.opts.Once {
		return nil
	}
	return r.setupControllers(mgr, c)
}
