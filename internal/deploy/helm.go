package deploy

import (
	"fmt"
	"log/slog"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// getter gives Helm a cluster from a rest.Config (the admin's writer,
// impersonating a cluster admin): Helm's own flags and kubeconfig loading
// are not used.
type getter struct {
	cfg       *rest.Config
	namespace string
	disco     discovery.CachedDiscoveryInterface
}

func newGetter(cfg *rest.Config, namespace string) (*getter, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &getter{cfg: cfg, namespace: namespace, disco: memory.NewMemCacheClient(dc)}, nil
}

func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.disco, nil
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) {
	m := restmapper.NewDeferredDiscoveryRESTMapper(g.disco)
	return restmapper.NewShortcutExpander(m, g.disco, nil), nil
}

// ToRawKubeConfigLoader is only asked for the default namespace.
func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(clientcmdapi.Config{}, &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}

// helmConfig is Helm's action configuration for one release namespace,
// its records kept as Secrets there (Helm's default).
func helmConfig(cfg *rest.Config, namespace string, log *slog.Logger) (*action.Configuration, error) {
	g, err := newGetter(cfg, namespace)
	if err != nil {
		return nil, err
	}
	ac := new(action.Configuration)
	debug := func(format string, v ...any) { log.Debug(fmt.Sprintf(format, v...)) }
	if err := ac.Init(g, namespace, "secret", debug); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return ac, nil
}
