package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/servingcert"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Options are the flags of `toolforged api`.
type Options struct {
	Addr         string
	PublicURL    string
	ClientCAFile string
	CertDir      string
	CertValidity time.Duration
}

// Service is `toolforged api`: the server and the parts it hosts.
type Service struct {
	opts  Options
	parts []Part
}

// NewService returns the API service with default flags.
func NewService() *Service {
	return &Service{opts: Options{Addr: tenancy.DefaultAPIAddr, CertValidity: 365 * 24 * time.Hour}, parts: parts()}
}

func (s *Service) Name() string { return "api" }

func (s *Service) Short() string {
	return "Serve the jobs, envvars, builds and logs APIs to tools (HTTPS, client certificates), and run builds"
}

func (s *Service) AddFlags(fs *pflag.FlagSet) {
	o := &s.opts
	fs.StringVar(&o.Addr, "api-addr", o.Addr, "address the jobs/envvars API listens on")
	fs.StringVar(&o.PublicURL, "api-public-url", "", "URL tools reach the API at, published in ConfigMap "+tenancy.APIConfigMap+" (default https://<api-addr>)")
	fs.StringVar(&o.ClientCAFile, "api-client-ca-file", "", "CA that issued tools' client certificates (default: the CA of the platform's own cluster credentials)")
	fs.StringVar(&o.CertDir, "api-cert-dir", "", "serve the certificate in this directory (tls.crt, tls.key, and ca.crt that signed them), managed elsewhere; default: generate and rotate one, kept in Secret "+TLSSecret+" of the platform namespace and shared by every replica")
	fs.DurationVar(&o.CertValidity, "api-cert-validity", o.CertValidity, "lifetime of a generated serving certificate (its CA lives ten times as long)")
	for _, p := range s.parts {
		p.AddFlags(fs)
	}
}

// Setup builds the caches, stores and server and adds them to mgr.
func (s *Service) Setup(ctx context.Context, mgr manager.Manager, env *daemon.Env) error {
	o := s.opts
	if o.CertValidity < time.Hour {
		return daemon.Usagef("--api-cert-validity must be at least 1h (got %s)", o.CertValidity)
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return daemon.Usagef("--api-addr %q: %v", o.Addr, err)
	}
	publicURL := o.PublicURL
	if publicURL == "" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			return daemon.Usagef("--api-addr %q listens on every address: give --api-public-url", o.Addr)
		}
		publicURL = "https://" + o.Addr
	}
	pu, err := url.Parse(publicURL)
	if err != nil || pu.Scheme != "https" || pu.Host == "" {
		return daemon.Usagef("--api-public-url %q: want an https:// URL", publicURL)
	}
	clientCAs, err := clientCAPool(o.ClientCAFile, env)
	if err != nil {
		return err
	}
	log := env.Log.With("service", "api")

	cfg := rest.CopyConfig(env.Config)
	cfg.QPS = -1 // the API server's priority and fairness governs
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if env.Common.InstallRBAC {
		if err := InstallRBAC(ctx, kube, env.Common.PlatformNamespace); err != nil {
			log.Info("RBAC not installed by the API server (an admin installs it)", "err", err)
		}
	}
	c, err := newCache(ctx, cfg, mgr.GetScheme(), mgr.GetRESTMapper())
	if err != nil {
		return err
	}
	if err := mgr.Add(daemon.EveryReplica(c)); err != nil {
		return err
	}
	writer, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	caches := []cache.Cache{c}
	h := &Host{
		Manager: mgr, Env: env, Config: cfg, Kube: kube, Cache: c, Writer: writer, Log: log,
		Catalogue: &catalogue{reader: mgr.GetAPIReader(), ns: env.Common.PlatformNamespace, ttl: catalogueTTL},
		AddCache: func(extra cache.Cache) error {
			caches = append(caches, extra)
			return mgr.Add(daemon.EveryReplica(extra))
		},
	}
	var apis []API
	for _, p := range s.parts {
		routes, err := p.Setup(ctx, h)
		if err != nil {
			return fmt.Errorf("%s API: %w", p.Name(), err)
		}
		apis = append(apis, API{Name: p.Name(), Routes: routes})
	}
	certs, err := s.certSource(cfg, mgr, env.Common.PlatformNamespace, pu.Hostname(), log)
	if err != nil {
		return err
	}
	if err := mgr.Add(certs); err != nil {
		return err
	}
	// The public metrics are the API's own; the process's (Go runtime,
	// client-go, controller-runtime) are the operators', on the metrics
	// port, which serves the API's too.
	own := prometheus.NewRegistry()
	srv, err := NewServer(apis, newRBACAccess(kube.AuthorizationV1().SubjectAccessReviews()), log, registerers{own, ctrlmetrics.Registry}, own)
	if err != nil {
		return err
	}
	pub := &publisher{kube: kube, ns: env.Common.PlatformNamespace, url: publicURL, domain: env.Common.Domain, webURL: env.Common.WebURL, buildsRegistry: env.Common.BuildsRegistry, log: log}
	r := &runner{
		addr: o.Addr, handler: srv, caches: caches, certs: certs, publisher: pub, log: log,
		tls: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			ClientAuth:     tls.VerifyClientCertIfGiven,
			ClientCAs:      clientCAs,
			GetCertificate: certs.GetCertificate,
			NextProtos:     []string{"http/1.1"},
		},
	}
	// Ready once it serves (its cache synced, a certificate to serve):
	// a rolling upgrade sends tools to a new replica only then.
	if err := mgr.AddReadyzCheck("api-serving", func(*http.Request) error {
		if !r.serving.Load() {
			return errors.New("the API does not serve yet")
		}
		return nil
	}); err != nil {
		return err
	}
	return mgr.Add(r)
}

func clientCAPool(file string, env *daemon.Env) (*x509.CertPool, error) {
	pem, err := env.ClusterCA(file)
	if err != nil {
		return nil, fmt.Errorf("client CA (--api-client-ca-file): %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client CA (--api-client-ca-file): no PEM certificates")
	}
	return pool, nil
}

// certSource is the serving certificate: one managed elsewhere
// (--api-cert-dir), or the platform's own, kept in a Secret of the
// platform namespace so that every replica serves the same CA and
// clients never see it flip. Replicas run without an election: the first
// write of the Secret wins and the others serve it.
func (s *Service) certSource(cfg *rest.Config, mgr manager.Manager, ns, publicHost string, log *slog.Logger) (servingcert.Source, error) {
	if s.opts.CertDir != "" {
		certs, err := servingcert.NewDirStore(s.opts.CertDir, time.Minute, log)
		if err != nil {
			return nil, daemon.UsageError{Err: fmt.Errorf("--api-cert-dir: %w", err)}
		}
		return certs, nil
	}
	// Certificates are read and written directly, not through a cache.
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, err
	}
	return servingcert.NewSecretStore(servingcert.SecretStoreOptions{
		Client: direct, Namespace: ns, Name: TLSSecret, Labels: map[string]string{tenancy.LabelManagedBy: managedBy},
		Rotation: servingcert.Rotation{Name: "toolforge-api", Validity: s.opts.CertValidity, Hosts: servingHosts(publicHost), Propagation: caPropagation},
		Interval: min(time.Minute, s.opts.CertValidity/10),
		Log:      log,
	}), nil
}

// caPropagation is how long a new CA is only trusted (in the published
// bundle) before it signs the serving certificate: time for clients, who
// read the bundle at each start, to have it.
const caPropagation = 2 * time.Minute

func servingHosts(public string) []string {
	hosts := []string{"127.0.0.1", "::1", "localhost"}
	for _, h := range hosts {
		if h == public {
			return hosts
		}
	}
	return append(hosts, public)
}

// runner serves the API once the cache has synced, publishes its address
// and CA, and shuts down gracefully. Every replica serves (no leader).
type runner struct {
	addr      string
	handler   http.Handler
	caches    []cache.Cache
	certs     servingcert.Source
	publisher *publisher
	tls       *tls.Config
	serving   atomic.Bool
	log       interface {
		Info(string, ...any)
		Error(string, ...any)
	}
}

func (r *runner) NeedLeaderElection() bool { return false }

func (r *runner) Start(ctx context.Context) error {
	for _, c := range r.caches {
		if !c.WaitForCacheSync(ctx) {
			return errors.New("API cache did not sync")
		}
	}
	bundle, err := r.waitForCertificate(ctx)
	if err != nil {
		return err
	}
	// Published before serving, so that whoever sees the API up finds it;
	// a failure is retried in the background.
	published := r.publisher.publish(ctx, bundle) == nil
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("listen on --api-addr %s: %w", r.addr, err)
	}
	// HTTP/1.1 only, as the original API gateway answers: scripts and
	// health checks look for its status line ("HTTP/1.1 200 OK").
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv := &http.Server{
		Protocols:         &protocols,
		Handler:           r.handler,
		TLSConfig:         r.tls,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	go r.keepPublished(ctx, bundle, published)
	r.serving.Store(true)
	r.log.Info("serving the API", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("API server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// waitForCertificate waits until the certificate source serves (the
// Secret's first sync, usually within a second) and returns the bundle
// to publish.
func (r *runner) waitForCertificate(ctx context.Context) ([]byte, error) {
	for {
		if _, err := r.certs.GetCertificate(nil); err == nil {
			return r.certs.CABundle(), nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("no serving certificate before shutdown")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// keepPublished publishes at start (retrying until it works) and after
// every CA change.
func (r *runner) keepPublished(ctx context.Context, bundle []byte, published bool) {
	for {
		for delay := time.Second; !published; delay = min(2*delay, time.Minute) {
			err := r.publisher.publish(ctx, bundle)
			if err == nil {
				break
			}
			r.log.Error("publish API address", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.certs.Changed():
			bundle, published = r.certs.CABundle(), false
		}
	}
}
