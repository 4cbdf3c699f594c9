package admission

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/toolforge-go/toolforge/internal/servingcert"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/toolforge-go/toolforge/internal/daemon"
)

// Service is `toolforged admission`.
type Service struct{ opts *Options }

// NewService returns the admission service with default flags.
func NewService() *Service { return &Service{opts: DefaultOptions()} }

func (s *Service) Name() string { return "admission" }

func (s *Service) Short() string {
	return "Tenant isolation: admission webhooks and policies that keep every tool in its namespace and uid"
}

func (s *Service) AddFlags(fs *pflag.FlagSet) { s.opts.AddFlags(fs) }

// How often the certificate and installed objects are checked besides
// the events that trigger them.
const (
	certInterval  = 30 * time.Second
	installResync = time.Minute
	// caPropagation is how long a new CA is trusted before it signs.
	caPropagation = 2 * time.Minute
)

// Setup registers the caches, the certificate source, the webhook server
// and the installer with mgr.
func (s *Service) Setup(ctx context.Context, mgr manager.Manager, env *daemon.Env) error {
	platformNS := env.Common.PlatformNamespace
	host, port, ep, err := s.opts.validate(platformNS)
	if err != nil {
		return daemon.UsageError{Err: err}
	}
	log := env.Log.With("service", "admission")

	cfg := rest.CopyConfig(env.Config)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"

	opts := cacheOptions(platformNS)
	opts.Scheme, opts.Mapper = mgr.GetScheme(), mgr.GetRESTMapper()
	c, err := cache.New(cfg, opts)
	if err != nil {
		return fmt.Errorf("create cache: %w", err)
	}
	for _, obj := range cachedKinds() {
		if _, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
	}
	if err := mgr.Add(daemon.EveryReplica(c)); err != nil {
		return err
	}
	settings, err := newSettingsSource(s.opts.ConfigFile, platformNS, env.Common.Domain, env.Common.BuildsRegistry, c, log)
	if err != nil {
		return daemon.UsageError{Err: err}
	}
	if err := settings.watch(ctx, c); err != nil {
		return err
	}

	// The certificate and installer talk to the API directly: they are
	// not on the admission path.
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	var certs servingcert.Source
	if s.opts.CertDir != "" {
		if certs, err = servingcert.NewDirStore(s.opts.CertDir, certInterval, log); err != nil {
			return daemon.UsageError{Err: fmt.Errorf("--admission-cert-dir: %w", err)}
		}
	} else {
		certs = servingcert.NewSecretStore(servingcert.SecretStoreOptions{
			Client: direct, Namespace: platformNS, Name: TLSSecret, Labels: managedLabels(),
			Rotation: servingcert.Rotation{Name: "toolforge-admission", Validity: s.opts.CertValidity, Hosts: ep.hosts(), Propagation: caPropagation},
			Elected:  mgr.Elected(),
			Interval: min(certInterval, s.opts.CertValidity/10),
			Log:      log,
		})
	}
	if err := mgr.Add(certs); err != nil {
		return err
	}

	server := webhook.NewServer(webhook.Options{
		Host: host,
		Port: port,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.GetCertificate = certs.GetCertificate
			c.MinVersion = tls.VersionTLS12
		}},
	})
	look := &lookups{reader: c, settings: settings}
	decoder := admission.NewDecoder(mgr.GetScheme())
	server.Register(MutatePodsPath, &admission.Webhook{Handler: &podMutator{look: look, decoder: decoder, log: log}})
	server.Register(ValidateWorkloadsPath, &admission.Webhook{Handler: &workloadValidator{look: look, decoder: decoder, scheme: mgr.GetScheme(), log: log}})
	if err := mgr.Add(server); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("admission-webhook", server.StartedChecker()); err != nil {
		return err
	}
	cacheChanged, err := watchFastPath(ctx, c)
	if err != nil {
		return err
	}
	return mgr.Add(&installer{
		client:       direct,
		endpoint:     ep,
		timeout:      int32(s.opts.Timeout / time.Second),
		platformNS:   platformNS,
		settings:     settings,
		certs:        certs,
		cache:        c,
		cacheChanged: cacheChanged,
		resync:       installResync,
		injectOnly:   s.opts.WebhooksInstalled,
		log:          log,
	})
}

// watchFastPath notifies (coalesced) every change of a tool namespace or
// a platform claim: what the fast path is made from.
func watchFastPath(ctx context.Context, c cache.Cache) (<-chan struct{}, error) {
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default: // one pending notification covers every change
		}
	}
	for _, obj := range []client.Object{&corev1.Namespace{}, &corev1.PersistentVolumeClaim{}} {
		inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			return nil, fmt.Errorf("informer for %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { notify() },
			UpdateFunc: func(any, any) { notify() },
			DeleteFunc: func(any) { notify() },
		}); err != nil {
			return nil, err
		}
	}
	return changed, nil
}
