package cluster

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"k8s.io/client-go/rest"

	"github.com/toolforge-go/toolforge/devcluster/internal/addons"
)

// metricsServer is metrics-server's process, log and client identity.
const metricsServer = "metrics-server"

// MetricsGatewayPort is where metrics-server serves the metrics API on the
// nodes' gateway; the API server's aggregator reaches it there.
const MetricsGatewayPort = 4443

// startMetricsServer runs metrics-server (sigs.k8s.io/metrics-server,
// built from its module) on the host, beside CoreDNS and the ingress
// controller, and registers it as the metrics.k8s.io API. It is a process
// of the host, not a pod: there is no image of it to pull, and like the
// other add-ons it must reach both the API server and every node's kubelet,
// which the host does. It scrapes the real nodes only (kwok nodes have no
// kubelet); the metrics API answers once it has scraped them twice
// (about 30 s after start), which devcluster start does not wait for.
func (s *supervisor) startMetricsServer(ctx context.Context, cfg *rest.Config) error {
	if err := addons.Apply(ctx, cfg, addons.MetricsManifest(s.plan.Gateway(), MetricsGatewayPort)); err != nil {
		return fmt.Errorf("metrics-server add-on: %w", err)
	}
	kubeconfig := s.l.ComponentKubeconfig(metricsServer)
	addr := net.JoinHostPort(s.plan.Gateway().String(), strconv.Itoa(MetricsGatewayPort))
	ms := s.addChild(&child{name: metricsServer, exe: s.tools.metricsServer, logFile: s.l.Log(metricsServer), addr: addr, args: []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=" + s.plan.Gateway().String(),
		"--secure-port=" + strconv.Itoa(MetricsGatewayPort),
		"--cert-dir=" + s.l.CertDir(metricsServer),
		// Kubelets serve certificates of the cluster CA for their
		// addresses, and know metrics-server by its client certificate.
		"--kubelet-certificate-authority=" + s.l.CACert(),
		"--kubelet-preferred-address-types=InternalIP",
		"--node-selector=type!=kwok",
		"--metric-resolution=15s",
	}})
	return ms.start()
}
