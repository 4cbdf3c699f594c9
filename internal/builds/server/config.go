// Package server is the build service: the /builds/v1 API (package
// builds' wire types) and the controller running each Build as a
// Kubernetes Job in the image-build namespace. The CLI does not link it.
package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Limits the original sets, and this platform's defaults.
const (
	// MaxRunning builds per tool at once; the next is refused (409).
	MaxRunning = 4
	// KeepSucceeded and KeepFailed builds per tool are kept (with their
	// pods, and so their logs); older ones are deleted.
	KeepSucceeded = 4
	KeepFailed    = 2
	// KeepImages per image name are kept in the registry (besides the one
	// tagged latest).
	KeepImages = 4
	// DefaultQuota is a tool's registry storage unless an admin sets
	// registry.storage (toolforge-admin quota set).
	DefaultQuota = int64(1 << 30)
	// QuotaWarning is the share of the quota above which a build warns.
	QuotaWarning = 0.9
)

// Config is the build service's setting.
type Config struct {
	Registry *Registry
	// BuilderImage is the platform's image holding /toolforge-builder;
	// BuildImage the Debian image with the toolchains (git, python3,
	// npm, go, apt) the builder runs in.
	BuilderImage, BuildImage string
	// Bases are the catalogue images apps run on, by language.
	Bases map[string]string
	// Mirrors say how build pods reach registry hosts (host → URL).
	Mirrors map[string]string
	// Env is the package sources' settings passed to every build
	// (PIP_INDEX_URL, npm_config_registry, GOPROXY, proxies).
	Env map[string]string
	// DebianMirror serves Aptfile packages.
	DebianMirror string
	// CABundle (PEM), when set, is every CA build pods trust instead of
	// the build image's: a TLS-intercepting proxy's in front of the
	// package sources.
	CABundle []byte
	// Timeout ends a build; CPU and Memory limit its pod.
	Timeout     time.Duration
	CPU, Memory resource.Quantity
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Registry == nil || c.Registry.Host == "" || c.Registry.Endpoint == nil {
		return fmt.Errorf("no registry for built images")
	}
	if c.BuilderImage == "" || c.BuildImage == "" {
		return fmt.Errorf("the builder and build images are required")
	}
	if c.Timeout < time.Minute || c.Timeout > time.Hour {
		return fmt.Errorf("a build's timeout must be between 1m and 1h (a registry token lives an hour), got %s", c.Timeout)
	}
	return nil
}

// Service is the build service's API and controller state.
type Service struct {
	Config
	// Reader reads Builds and build pods (a cache); Writer writes.
	Reader client.Reader
	Writer client.Client
	// Kube streams pods' logs.
	Kube kubernetes.Interface
	Log  *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
	// Git looks at repositories before a build (default: an HTTP client
	// that follows no redirect to another host).
	Git *http.Client
}

func (s *Service) gitClient() *http.Client {
	if s.Git != nil {
		return s.Git
	}
	return &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 || req.URL.Host != via[0].URL.Host {
			return fmt.Errorf("the repository redirects to %s: give that URL", req.URL)
		}
		return nil
	}}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
