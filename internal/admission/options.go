package admission

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Options are the flags of `toolforged admission`, prefixed so they do not
// clash with other services' in `toolforged all`.
type Options struct {
	Addr         string
	URL          string
	Service      string
	ServicePort  int32
	CertDir      string
	CertValidity time.Duration
	ConfigFile   string
	Timeout      time.Duration
	// WebhooksInstalled: the webhook configurations are installed by
	// someone else (the Helm chart, which owns their rules and failure
	// policy); the server only keeps their CA bundle and the pods
	// webhook's match condition.
	WebhooksInstalled bool
}

// DefaultOptions are the defaults of the flags.
func DefaultOptions() *Options {
	return &Options{
		Addr:         tenancy.DefaultAdmissionAddr,
		ServicePort:  443,
		CertValidity: 365 * 24 * time.Hour,
		Timeout:      5 * time.Second,
	}
}

// AddFlags registers the flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Addr, "admission-addr", o.Addr, "address the admission webhook server listens on (HTTPS)")
	fs.StringVar(&o.URL, "admission-url", o.URL, "URL the API server calls the webhooks at (default https://<admission-addr>); ignored with --admission-service")
	fs.StringVar(&o.Service, "admission-service", o.Service, "call the webhooks through this Service in the platform namespace instead of a URL (in-cluster)")
	fs.Int32Var(&o.ServicePort, "admission-service-port", o.ServicePort, "port of --admission-service")
	fs.StringVar(&o.CertDir, "admission-cert-dir", o.CertDir, "serve the certificate in this directory (tls.crt, tls.key, and ca.crt that signed them), managed elsewhere; default: generate and rotate one, kept in Secret "+TLSSecret+" of the platform namespace")
	fs.DurationVar(&o.CertValidity, "admission-cert-validity", o.CertValidity, "lifetime of a generated serving certificate; it is renewed with a third left")
	fs.StringVar(&o.ConfigFile, "admission-config", o.ConfigFile, "admission settings file (YAML: registries, domains, mounts, exceptions); ConfigMap "+tenancy.AdmissionConfigMap+" in the platform namespace overrides it")
	fs.DurationVar(&o.Timeout, "admission-timeout", o.Timeout, "how long the API server waits for a webhook before refusing the request (1s-30s)")
	fs.BoolVar(&o.WebhooksInstalled, "admission-webhooks-installed", o.WebhooksInstalled, "the webhook configurations are installed by another installer (the Helm chart): keep only their CA bundle and the pods webhook's match condition")
}

// validate checks the flags and returns the listen host and port and where
// the API server reaches the server.
func (o *Options) validate(platformNS string) (string, int, endpoint, error) {
	host, portStr, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return "", 0, endpoint{}, fmt.Errorf("--admission-addr %q: %w", o.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, endpoint{}, fmt.Errorf("--admission-addr %q: the port must be a number from 1 to 65535", o.Addr)
	}
	if o.Timeout < time.Second || o.Timeout > 30*time.Second {
		return "", 0, endpoint{}, fmt.Errorf("--admission-timeout %s: must be from 1s to 30s", o.Timeout)
	}
	if o.CertValidity < time.Minute {
		return "", 0, endpoint{}, fmt.Errorf("--admission-cert-validity %s: must be at least 1m", o.CertValidity)
	}
	e := endpoint{Service: o.Service, ServicePort: o.ServicePort, Namespace: platformNS}
	if o.Service == "" {
		e.URL = o.URL
		if e.URL == "" {
			if host == "" || host == "0.0.0.0" || host == "::" {
				return "", 0, endpoint{}, fmt.Errorf("--admission-addr %q listens on every address: give --admission-url or --admission-service so the API server knows where to call", o.Addr)
			}
			e.URL = "https://" + net.JoinHostPort(host, portStr)
		}
		u, err := url.Parse(e.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return "", 0, endpoint{}, fmt.Errorf("--admission-url %q: must be https://host[:port][/path]", e.URL)
		}
	}
	return host, port, e, nil
}
