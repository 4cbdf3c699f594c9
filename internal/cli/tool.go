package cli

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Tool is the tool the CLI acts as: whoever's HOME this is, as its
// credentials say.
type Tool struct {
	Name       string
	Home       string
	Namespace  string
	CertFile   string
	KeyFile    string
	Kubeconfig string
}

// CurrentTool finds the tool from $HOME/.toolskube/client.crt (its CN).
func CurrentTool() (*Tool, error) {
	home := os.Getenv("HOME")
	if home == "" {
		return nil, fmt.Errorf("HOME is not set; become your tool first (e.g. `become mytool`)")
	}
	t := &Tool{
		Home:       home,
		CertFile:   filepath.Join(home, tenancy.ToolCertDir, tenancy.CertFile),
		KeyFile:    filepath.Join(home, tenancy.ToolCertDir, tenancy.KeyFile),
		Kubeconfig: filepath.Join(home, tenancy.KubeconfigDir, tenancy.KubeconfigFile),
	}
	data, err := os.ReadFile(t.CertFile)
	if err != nil {
		return nil, fmt.Errorf("no tool credentials in %s: are you logged in as your tool? (%w)", t.CertFile, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s is not a PEM certificate", t.CertFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", t.CertFile, err)
	}
	if err := tenancy.ValidateName(cert.Subject.CommonName); err != nil {
		return nil, fmt.Errorf("%s: %w", t.CertFile, err)
	}
	t.Name = cert.Subject.CommonName
	t.Namespace = tenancy.Namespace(t.Name)
	return t, nil
}

// RestConfig is the tool's Kubernetes API credentials: the toolforge
// context of its kubeconfig, whatever the current context is.
func (t *Tool) RestConfig() (*rest.Config, error) {
	loader := &clientcmd.ClientConfigLoadingRules{ExplicitPath: t.Kubeconfig}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loader,
		&clientcmd.ConfigOverrides{CurrentContext: tenancy.ContextName}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", t.Kubeconfig, err)
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
