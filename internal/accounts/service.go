package accounts

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"k8s.io/utils/keymutex"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/accounts/admins"
	"github.com/toolforge-go/toolforge/internal/accounts/credentials"
	"github.com/toolforge-go/toolforge/internal/accounts/forcemigrate"
	"github.com/toolforge-go/toolforge/internal/accounts/kubeconfig"
	"github.com/toolforge-go/toolforge/internal/accounts/namespace"
	"github.com/toolforge-go/toolforge/internal/accounts/observer"
	"github.com/toolforge-go/toolforge/internal/accounts/quota"
	"github.com/toolforge-go/toolforge/internal/accounts/rbac"
	"github.com/toolforge-go/toolforge/internal/accounts/storage"
	"github.com/toolforge-go/toolforge/internal/accountsource"
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
	_, err = forcemigrate.Run(ctx, forcemigrate.Options{HomeRoot: s.opts.HomeRoot, AdminHomeRoot: s.opts.AdminHomeRoot, ContextName: s.opts.ContextName, Workers: s.opts.Workers}, src, log.With("service", "accounts"))
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
	quotas, err := quota.LoadQuotas(s.opts.QuotasFile)
	if err != nil {
		return err
	}
	shared, _ := storage.ParseSharedData(s.opts.SharedData)
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
	owned := labels.SelectorFromSet(account.Owned())
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
	r := newReconciler(s.opts, src, account.Writer{Client: cl, APIReader: direct}, kube, quotas, shared, kubeconfigTarget{server, caData}, env, m)
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

// kubeconfigTarget is the cluster kubeconfigs point at.
type kubeconfigTarget struct {
	server string
	caData []byte
}

// newReconciler wires the reconcilers of every kind the controller owns.
func newReconciler(o *Options, src accountsource.Source, w account.Writer, kube kubernetes.Interface, quotas *quota.Quotas,
	shared []storage.SharedData, target kubeconfigTarget, env *daemon.Env, m *metrics) *Reconciler {
	log := env.Log.With("service", "accounts")
	st := &storage.Reconciler{W: w, Config: storage.Config{Storage: o.Storage, StoragePath: o.StoragePath, NFSServer: o.NFSServer, Shared: shared},
		Removed: func(err error) {
			m.errors.WithLabelValues(account.TypeTool, "foreign_claim").Inc()
			log.Warn("a claim of a platform claim's name was replaced", "err", err)
		}}
	rb := &rbac.Reconciler{W: w, APIIdentity: o.APIIdentity, PlatformNS: env.Common.PlatformNamespace}
	creds := &credentials.Issuer{W: w, Kube: kube, Log: log, Lifetime: o.CertLifetime, RenewBefore: o.RenewBefore}
	kc := kubeconfig.Target{Context: o.ContextName, Server: target.server, CAData: target.caData, Gentle: o.Gentle, Log: log}
	return &Reconciler{
		opts:        o,
		source:      src,
		w:           w,
		namespaces:  &namespace.Reconciler{W: w},
		quotas:      &quota.Reconciler{W: w, Quotas: quotas, PlatformClaims: st.Count()},
		storage:     st,
		rbac:        rb,
		observers:   &observer.Reconciler{W: w},
		credentials: creds,
		kubeconfig:  kc,
		admins:      &admins.Reconciler{W: w, RBAC: rb, Credentials: creds, Kubeconfig: kc, PlatformNS: env.Common.PlatformNamespace},
		metrics:     m,
		log:         log,
		now:         time.Now,
		installRBAC: env.Common.InstallRBAC,
		locks:       keymutex.NewHashed(4096), // stripes: workers rarely share one
	}
}
