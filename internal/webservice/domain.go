package webservice

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Where the web services' domain comes from, besides the --domain flag.
const (
	DomainEnv        = "TOOLFORGE_DOMAIN"
	CommonConfigFile = "/etc/toolforge/common.yaml"
)

// ResolveDomain picks the domain web services are published under: the
// flag, else $TOOLFORGE_DOMAIN, else `domain:` in the platform's common
// configuration file, else what the platform publishes (toolforged
// --domain, in ConfigMap toolforge-api; published may be nil), else
// toolforge.org.
func ResolveDomain(flag string, getenv func(string) string, configFile string, published func() (string, error)) (string, error) {
	domain, from := flag, "--domain"
	if domain == "" {
		domain, from = getenv(DomainEnv), "$"+DomainEnv
	}
	if domain == "" {
		var err error
		if domain, err = domainFromFile(configFile); err != nil {
			return "", err
		}
		from = configFile
	}
	if domain == "" && published != nil {
		var err error
		if domain, err = published(); err != nil {
			return "", err
		}
		from = "the platform's ConfigMap " + tenancy.APIConfigMap
	}
	if domain == "" {
		return tenancy.DefaultDomain, nil
	}
	domain = strings.TrimSuffix(domain, ".")
	if errs := validation.IsDNS1123Subdomain(domain); len(errs) > 0 {
		return "", fmt.Errorf("domain %q (from %s) is not a DNS name: %s", domain, from, strings.Join(errs, "; "))
	}
	return domain, nil
}

// Published is what the platform publishes to tools' CLIs about web
// services; empty fields when it publishes nothing (an older platform, or
// no API server yet).
type Published struct {
	Domain string
	// WebURL is the public URL's template ({host}).
	WebURL string
	// BuildsRegistry is the host of tools' built images ("": no build
	// service).
	BuildsRegistry string
}

// ReadPublished reads the platform's published settings.
func ReadPublished(ctx context.Context, kube kubernetes.Interface, platformNS string) (Published, error) {
	cm, err := kube.CoreV1().ConfigMaps(platformNS).Get(ctx, tenancy.APIConfigMap, metav1.GetOptions{})
	// No API server has published anything (the role letting tools read
	// the ConfigMap comes with it): web services work without one.
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return Published{}, nil
	}
	if err != nil {
		return Published{}, fmt.Errorf("read the platform's domain (ConfigMap %s/%s): %w", platformNS, tenancy.APIConfigMap, err)
	}
	return Published{Domain: cm.Data[tenancy.APIConfigDomain], WebURL: cm.Data[tenancy.APIConfigWebURL], BuildsRegistry: cm.Data[tenancy.APIConfigBuildsRegistry]}, nil
}

func domainFromFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || path == "" {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var cfg struct {
		Domain string `json:"domain"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return cfg.Domain, nil
}
