package webservice

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
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
// configuration file, else toolforge.org.
func ResolveDomain(flag string, getenv func(string) string, configFile string) (string, error) {
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
	if domain == "" {
		return tenancy.DefaultDomain, nil
	}
	domain = strings.TrimSuffix(domain, ".")
	if errs := validation.IsDNS1123Subdomain(domain); len(errs) > 0 {
		return "", fmt.Errorf("domain %q (from %s) is not a DNS name: %s", domain, from, strings.Join(errs, "; "))
	}
	return domain, nil
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
