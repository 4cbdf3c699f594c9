// Package components runs one control-plane component in the current process.
// The devcluster binary is multi-call: the supervisor starts
// `devcluster component <name> <flags>` once per component, so each runs in
// its own process with its own flags, globals and logs, exactly as the
// upstream binaries would.
package components

import (
	"context"
	"fmt"
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream main packages do
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream main packages do
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream main packages do
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kubeproxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// The component names, in start order. etcd and kwok run inside the
// supervisor; the others are processes.
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
	// Node components: each real node runs these, inside its own network
	// and mount namespaces.
	Kubelet   = "kubelet"
	KubeProxy = "kube-proxy"
)

// Processes lists the components that run as child processes, in start order.
var Processes = []string{APIServer, ControllerManager, Scheduler}

// Run runs the named component with args (without the program name) and
// returns its exit code.
func Run(name string, args []string) int {
	// Upstream commands read os.Args; make them look like the real binary.
	os.Args = append([]string{name}, args...)
	switch name {
	case APIServer:
		return cli.Run(apiserver.NewAPIServerCommand())
	case ControllerManager:
		return cli.Run(controllermanager.NewControllerManagerCommand())
	case Scheduler:
		return cli.Run(scheduler.NewSchedulerCommand())
	case Kubelet:
		return cli.Run(kubelet.NewKubeletCommand(context.Background()))
	case KubeProxy:
		return cli.Run(kubeproxy.NewProxyCommand())
	}
	fmt.Fprintf(os.Stderr, "unknown component %q (known: %v)\n", name, Processes)
	return 2
}
