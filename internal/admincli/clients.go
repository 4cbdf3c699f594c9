package admincli

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/toolforge-go/toolforge/internal/cli"
	"github.com/toolforge-go/toolforge/internal/sudo"
)

// Globals are the flags every noun shares and what they resolve to.
type Globals struct {
	Streams    *cli.IOStreams
	Kubeconfig string
	Context    string
}

func (g *Globals) addFlags(root *cobra.Command) {
	root.PersistentFlags().StringVar(&g.Kubeconfig, "kubeconfig", "", "the admin's kubeconfig (default: $KUBECONFIG, else ~/.kube/config)")
	root.PersistentFlags().StringVar(&g.Context, "context", "", "the kubeconfig context (the cluster) to act on")
}

// Clients are the admin's two identities on one cluster: Read is the
// admin's own (view only), Write impersonates a cluster admin as `kubectl
// sudo` does.
type Clients struct {
	User        string
	ReadConfig  *rest.Config
	WriteConfig *rest.Config
	Read        kubernetes.Interface
	Write       kubernetes.Interface
}

// Clients connects to the cluster of the chosen context.
func (g *Globals) Clients() (*Clients, error) {
	return g.ClientsFor(g.Context)
}

// ClientsFor connects to the cluster of context ctxName ("" for the
// current one): migration acts on two clusters.
func (g *Globals) ClientsFor(ctxName string) (*Clients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = g.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: ctxName}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	user, err := sudo.UserOf(cfg)
	if err != nil {
		return nil, err
	}
	write := rest.CopyConfig(cfg)
	write.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{sudo.MastersGroup}}
	c := &Clients{User: user, ReadConfig: cfg, WriteConfig: write}
	if c.Read, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if c.Write, err = kubernetes.NewForConfig(write); err != nil {
		return nil, err
	}
	return c, nil
}

// Confirm asks before a destructive action (--yes off a terminal).
func (g *Globals) Confirm(yes bool, question string) error {
	return cli.Confirm(g.Streams, yes, "--yes", question)
}
