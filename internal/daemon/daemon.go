// Package daemon runs the platform's services (toolforged). Each service
// registers its controllers, servers and caches on one controller-runtime
// manager, which provides /metrics, /healthz and graceful shutdown;
// `toolforged all` is every service on one manager. Leader election is the
// daemon's, per service (leader.go).
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	componentsv1 "github.com/toolforge-go/toolforge/internal/components/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/version"
)

// Service is one of the platform's services.
type Service interface {
	// Name is the subcommand (accounts, admission, api, status).
	Name() string
	Short() string
	// AddFlags registers the service's own flags. In `all` every service's
	// flags share one flag set, so names must be unique across services.
	AddFlags(fs *pflag.FlagSet)
	// Setup validates the flags and registers the service with mgr.
	Setup(ctx context.Context, mgr manager.Manager, env *Env) error
}

// Preempter is a service that may be asked for a one-off job needing no
// connection to the cluster (accounts --force-migrate only rewrites files):
// Preempt runs it and says so before the daemon connects, so that such a
// job writes nothing to the cluster, not even the platform namespace.
type Preempter interface {
	Preempt(ctx context.Context, log *slog.Logger) (done bool, err error)
}

// Env is what services get from the daemon.
type Env struct {
	Common *Common
	Config *rest.Config
	Log    *slog.Logger
	// Exit stops the daemon; the error (or nil) becomes its result. A
	// service that runs once (accounts --once) calls it when done.
	Exit func(error)
	// Standalone is true when the service runs alone (not in `all`).
	Standalone bool
	// Identity names this process in leases and user agents.
	Identity string
}

// Common are the flags every service shares.
type Common struct {
	Kubeconfig        string
	MetricsAddr       string
	HealthAddr        string
	LeaderElect       bool
	Pprof             bool
	LogFormat         string
	LogLevel          string
	PlatformNamespace string
	// Domain is the platform's public domain: tools' web services and
	// published jobs answer at <tool>.<Domain>. Admission allows those
	// Ingress hosts and the API publishes it to tools.
	Domain string
	// WebURL is how the public reaches <tool>.<Domain>, {host} standing
	// for it (a devcluster's ingress: http://{host}:8000/), published to
	// tools so that their CLI prints a URL that answers.
	WebURL string
	// SMTPServer (host:port) is where job notifications are sent; empty
	// means the platform sends no mail.
	SMTPServer string
	// LogsStoreURL is the platform's log store (VictoriaLogs, http://host:
	// port), which the logs ingestion writes, the logs API and the status
	// page read; empty means the platform keeps no logs (docs/logs.md).
	LogsStoreURL string
	// LogsRetention is how long the store keeps lines (its
	// -retentionPeriod): the logs API refuses windows reaching further.
	LogsRetention time.Duration
	// InstallRBAC: the service installs its own roles, bindings and
	// ServiceAccount, and the platform namespace, when its credentials may
	// (an admin's, beside a devcluster). Off when an installer owns them
	// (the Helm chart, which grants each component least privilege: its
	// ServiceAccount may not create cluster-wide RBAC).
	InstallRBAC bool
	// BuildsRegistry is the registry host of tools' built images
	// (<host>/tool-<tool>/<name>): the build service pushes there,
	// admission allows its tool-* repositories, jobs and web services
	// run them. Empty: the platform has no build service.
	BuildsRegistry string
}

func (c *Common) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig of the platform's identity (default: in-cluster)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "127.0.0.1:9100", "address of /metrics (\"0\" disables)")
	fs.StringVar(&c.HealthAddr, "health-addr", "127.0.0.1:9101", "address of /healthz and /readyz (\"0\" disables)")
	fs.BoolVar(&c.LeaderElect, "leader-elect", true, "elect each service's leader by its Lease toolforged-<service> in the platform namespace, so that two copies anywhere (replicas, `all` beside a service's own process) never both write; false only for a process that knows it is alone")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles under /debug/pprof/ on the metrics address")
	fs.StringVar(&c.PlatformNamespace, "platform-namespace", tenancy.PlatformNamespace, "namespace of the platform's own objects (leases, settings)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.Domain, "domain", tenancy.DefaultDomain, "public domain of tools' web services and published jobs (<tool>.<domain>): the Ingress hosts admission allows, published to tools")
	fs.StringVar(&c.WebURL, "web-url", tenancy.DefaultWebURL, "public URL of a tool's web service, {host} standing for <tool>.<domain> (published to tools, which print it)")
	fs.StringVar(&c.SMTPServer, "smtp-server", "", "SMTP server (host:port) job notifications are sent through; without one the platform sends no mail and refuses jobs' --emails other than none")
	fs.StringVar(&c.LogsStoreURL, "logs-store-url", "", "the platform's log store (VictoriaLogs, http://host:port): the logs ingestion writes it, the logs API and the status page read it; without one the platform keeps no logs and the CLI shows the kubelet's")
	fs.DurationVar(&c.LogsRetention, "logs-retention", 14*24*time.Hour, "how long the log store keeps lines (its -retentionPeriod); the logs API refuses windows reaching further back")
	fs.StringVar(&c.BuildsRegistry, "builds-registry", "", "registry host[:port] of tools' built images (<host>/tool-<tool>/<name>); empty: no build service")
	fs.BoolVar(&c.InstallRBAC, "install-rbac", true, "install the service's own roles, bindings and ServiceAccount, and the platform namespace, at start; false when an installer owns them (the Helm chart)")
}

// Validate checks the shared platform settings.
func (c *Common) Validate() error {
	c.Domain = strings.TrimSuffix(c.Domain, ".")
	if errs := validation.IsDNS1123Subdomain(c.Domain); len(errs) > 0 {
		return Usagef("--domain %q is not a DNS name: %s", c.Domain, strings.Join(errs, "; "))
	}
	if u, err := url.Parse(strings.ReplaceAll(c.WebURL, "{host}", "tool.example.org")); !strings.Contains(c.WebURL, "{host}") || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Usagef("--web-url %q: want an http(s) URL naming the web service's host as {host}, e.g. %s", c.WebURL, tenancy.DefaultWebURL)
	}
	if c.LogsStoreURL != "" {
		if u, err := url.Parse(c.LogsStoreURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Usagef("--logs-store-url %q: want http(s)://host:port", c.LogsStoreURL)
		}
	}
	if c.LogsRetention < 24*time.Hour {
		return Usagef("--logs-retention must be at least 24h, the store's minimum (got %s)", c.LogsRetention)
	}
	if c.SMTPServer != "" {
		host, port, err := net.SplitHostPort(c.SMTPServer)
		if err != nil || host == "" || port == "" {
			return Usagef("--smtp-server %q: want host:port (e.g. localhost:25)", c.SMTPServer)
		}
	}
	return nil
}

// RestConfig loads the platform's API credentials.
func (c *Common) RestConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if c.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("load API credentials (--kubeconfig): %w", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.UserAgent = "toolforged/" + version.String()
	return cfg, nil
}

func (c *Common) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch c.LogFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("--log-format must be text or json (got %q)", c.LogFormat)
	}
	return slog.New(h), nil
}

// Scheme knows the built-in Kubernetes types.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	// The platform's own CRDs, and CRDs themselves (installed at start).
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := componentsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// run builds one manager for services and runs it until ctx ends or a
// service calls Exit.
func run(ctx context.Context, common *Common, services []Service) error {
	log, err := common.logger()
	if err != nil {
		return err
	}
	if err := common.Validate(); err != nil {
		return err
	}
	lr := logr.FromSlogHandler(log.Handler())
	ctrl.SetLogger(lr)
	klog.SetLogger(lr)

	if p, ok := services[0].(Preempter); ok && len(services) == 1 {
		if done, err := p.Preempt(ctx, log); done {
			return err
		}
	}
	cfg, err := common.RestConfig()
	if err != nil {
		return err
	}
	if common.InstallRBAC {
		if err := ensureNamespace(ctx, cfg, common.PlatformNamespace); err != nil {
			return err
		}
	}
	id, err := Identity()
	if err != nil {
		return err
	}
	// Leader election is per service (leader.go), not the manager's: a
	// process runs one service or all of them, and each service's lease
	// must be the same in both.
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 Scheme(),
		Logger:                 lr,
		Metrics:                metricsserver.Options{BindAddress: common.MetricsAddr, ExtraHandlers: pprofHandlers(common.Pprof)},
		HealthProbeBindAddress: common.HealthAddr,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	var exitErr error
	exit := func(err error) {
		once.Do(func() { exitErr = err; cancel() })
	}
	for _, s := range services {
		// Each service's requests name it and this process (UserAgent).
		scfg := rest.CopyConfig(cfg)
		scfg.UserAgent = UserAgent(s.Name(), id)
		env := &Env{Common: common, Config: scfg, Log: log, Standalone: len(services) == 1, Exit: exit, Identity: id}
		smgr := &serviceManager{Manager: mgr}
		if common.LeaderElect {
			smgr.elector = newElector(s.Name(), common.PlatformNamespace, id, scfg, log.With("service", s.Name()))
		}
		if err := s.Setup(ctx, smgr, env); err != nil {
			return fmt.Errorf("%s: %w", s.Name(), err)
		}
		if smgr.elector != nil && smgr.elector.needed() {
			if err := mgr.Add(smgr.elector); err != nil {
				return err
			}
		}
	}
	log.Info("starting", "services", names(services), "version", version.String(), "identity", id, "leader-elect", common.LeaderElect)
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return exitErr
}

func names(services []Service) []string {
	out := make([]string, len(services))
	for i, s := range services {
		out[i] = s.Name()
	}
	return out
}

// ensureNamespace creates the platform namespace when missing. An identity
// that may not create namespaces is fine if the namespace exists.
func ensureNamespace(ctx context.Context, cfg *rest.Config, ns string) error {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	if apierrors.IsForbidden(err) {
		if _, gerr := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); gerr == nil {
			return nil
		}
	}
	return fmt.Errorf("ensure platform namespace %q: %w", ns, err)
}

func pprofHandlers(on bool) map[string]http.Handler {
	if !on {
		return nil
	}
	return map[string]http.Handler{
		"/debug/pprof/":        http.HandlerFunc(pprof.Index),
		"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
		"/debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
	}
}

// ClusterCA is the CA bundle of the cluster: from file when given (a flag),
// else the one the platform's own credentials trust. It issues the API
// server's certificate and, with the controller-manager's signer, the
// platform's client certificates.
func (e *Env) ClusterCA(file string) ([]byte, error) {
	switch {
	case file != "":
		return os.ReadFile(file)
	case len(e.Config.CAData) > 0:
		return e.Config.CAData, nil
	case e.Config.CAFile != "":
		return os.ReadFile(e.Config.CAFile)
	}
	return nil, fmt.Errorf("the platform's own credentials name no CA; give its file")
}

// EveryReplica runs r on every replica, leader or not. The manager runs a
// runnable that does not say otherwise on the leader only, and an informer
// cache does not say: a cache that serving replicas read (the API's, the
// webhooks') must be added through this, or only the leader's ever syncs.
func EveryReplica(r manager.Runnable) manager.Runnable { return everyReplica{r} }

type everyReplica struct{ manager.Runnable }

func (everyReplica) NeedLeaderElection() bool { return false }
