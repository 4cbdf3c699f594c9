package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Tool is the tool the CLI acts as: whoever's HOME this is, as the
// credentials of a context of its kubeconfig say, on that context's
// cluster.
type Tool struct {
	Name       string
	Home       string
	Namespace  string
	Kubeconfig string
	// Context is the kubeconfig context the commands act in: the
	// kubeconfig's current context unless asked for another (migrate).
	Context string
	// CertFile and KeyFile are the context's client certificate and key
	// (CertData and KeyData when the kubeconfig holds them inline).
	CertFile, KeyFile string
	CertData, KeyData []byte

	config clientcmd.ClientConfig
}

// CurrentTool is the tool in the current context of $HOME/.kube/config:
// the cluster `kubectl config use-context` chose, so that once a tool is
// switched to a new cluster its every command acts there, and switching
// back brings it back. A kubeconfig naming no current context (a cluster
// introduced in gentle mode) falls back to the platform's default context.
func CurrentTool() (*Tool, error) { return ToolIn("") }

// ToolIn is the tool in context ctx of its kubeconfig ("" for the current
// one).
func ToolIn(ctx string) (*Tool, error) {
	home := os.Getenv("HOME")
	if home == "" {
		return nil, fmt.Errorf("HOME is not set; become your tool first (e.g. `become mytool`)")
	}
	t := &Tool{Home: home, Kubeconfig: filepath.Join(home, tenancy.KubeconfigDir, tenancy.KubeconfigFile)}
	raw, err := clientcmd.LoadFromFile(t.Kubeconfig)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no tool credentials in %s: are you logged in as your tool?", t.Kubeconfig)
		}
		return nil, fmt.Errorf("load %s: %w", t.Kubeconfig, err)
	}
	// Relative paths in a kubeconfig are relative to its directory, as
	// kubectl reads them.
	if err := clientcmd.ResolveLocalPaths(raw); err != nil {
		return nil, fmt.Errorf("load %s: %w", t.Kubeconfig, err)
	}
	t.Context = ctx
	if t.Context == "" {
		t.Context = raw.CurrentContext
	}
	if t.Context == "" {
		t.Context = tenancy.ContextName
	}
	kctx, ok := raw.Contexts[t.Context]
	if !ok {
		return nil, fmt.Errorf("%s has no context %q (it has %s)", t.Kubeconfig, t.Context, contextNames(raw))
	}
	user, ok := raw.AuthInfos[kctx.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("%s: context %q names user %q, which it does not have", t.Kubeconfig, t.Context, kctx.AuthInfo)
	}
	t.CertFile, t.KeyFile = user.ClientCertificate, user.ClientKey
	t.CertData, t.KeyData = user.ClientCertificateData, user.ClientKeyData
	certPEM := t.CertData
	if len(certPEM) == 0 {
		if t.CertFile == "" {
			return nil, fmt.Errorf("%s: user %q of context %q has no client certificate; the platform's credentials are certificates", t.Kubeconfig, kctx.AuthInfo, t.Context)
		}
		if certPEM, err = os.ReadFile(t.CertFile); err != nil {
			return nil, fmt.Errorf("no tool credentials in %s: are you logged in as your tool? (%w)", t.CertFile, err)
		}
	}
	name, err := toolOfCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("the certificate of context %q: %w", t.Context, err)
	}
	t.Name = name
	// Always the tool's own namespace, whatever the context says: a
	// context can be edited to point anywhere, the certificate cannot.
	t.Namespace = tenancy.Namespace(t.Name)
	t.config = clientcmd.NewNonInteractiveClientConfig(*raw, t.Context, &clientcmd.ConfigOverrides{}, nil)
	return t, nil
}

func toolOfCertificate(data []byte) (string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return "", fmt.Errorf("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("parse certificate: %w", err)
	}
	if err := tenancy.ValidateName(cert.Subject.CommonName); err != nil {
		return "", err
	}
	return cert.Subject.CommonName, nil
}

func contextNames(cfg *clientcmdapi.Config) string {
	var out []string
	for n := range cfg.Contexts {
		out = append(out, fmt.Sprintf("%q", n))
	}
	if len(out) == 0 {
		return "none"
	}
	return fmt.Sprint(out)
}

// RestConfig is the tool's Kubernetes API credentials in its context.
func (t *Tool) RestConfig() (*rest.Config, error) {
	cfg, err := t.config.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load %s (context %q): %w", t.Kubeconfig, t.Context, err)
	}
	return cfg, nil
}

// Kube is a clientset acting as the tool.
func (t *Tool) Kube() (kubernetes.Interface, error) {
	cfg, err := t.RestConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Certificate is the context's client certificate, which the API also
// authenticates the tool by.
func (t *Tool) Certificate() (tls.Certificate, error) {
	if len(t.CertData) > 0 && len(t.KeyData) > 0 {
		return tls.X509KeyPair(t.CertData, t.KeyData)
	}
	return tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
}
