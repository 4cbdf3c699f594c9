// Package sudo is the `kubectl sudo` plugin: it runs kubectl as the admin
// it is invoked by, impersonating the group system:masters. Admins'
// credentials may only view and impersonate, so power is always explicit
// and shows in the audit log as an impersonation by the admin.
package sudo

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// MastersGroup is the group kubectl sudo impersonates.
const MastersGroup = "system:masters"

// Args turns `kubectl sudo ARGS` into the arguments of the real kubectl.
// The user to impersonate is the admin's own name, which impersonation
// requires alongside the group.
func Args(args []string) ([]string, error) {
	for _, a := range args {
		if a == "--as" || strings.HasPrefix(a, "--as=") || a == "--as-group" || strings.HasPrefix(a, "--as-group=") {
			return nil, fmt.Errorf("kubectl sudo sets --as and --as-group itself; drop %s", a)
		}
	}
	user, err := whoAmI(args)
	if err != nil {
		return nil, err
	}
	return append([]string{"--as=" + user, "--as-group=" + MastersGroup}, args...), nil
}

// whoAmI is the user name in the client certificate of the kubeconfig
// context kubectl would use (honouring --kubeconfig, --context, --user).
func whoAmI(args []string) (string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	overrides := &clientcmd.ConfigOverrides{}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		switch name {
		case "--kubeconfig":
			rules.ExplicitPath = value
		case "--context":
			overrides.CurrentContext = value
		case "--user":
			overrides.Context.AuthInfo = value
		}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return "", fmt.Errorf("load kubeconfig: %w", err)
	}
	return UserOf(cfg)
}

// UserOf is the user name of a client configuration's certificate: the
// admin's name, which impersonation requires alongside the group.
func UserOf(cfg *rest.Config) (string, error) {
	certPEM := cfg.CertData
	if len(certPEM) == 0 && cfg.CertFile != "" {
		var err error
		if certPEM, err = os.ReadFile(cfg.CertFile); err != nil {
			return "", fmt.Errorf("read client certificate: %w", err)
		}
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return "", fmt.Errorf("the current kubeconfig user has no client certificate: kubectl sudo works with admin certificate credentials")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("parse client certificate: %w", err)
	}
	return cert.Subject.CommonName, nil
}
