package cluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/toolforge-go/toolforge/devcluster/internal/components"
	"github.com/toolforge-go/toolforge/devcluster/internal/nodenet"
	"github.com/toolforge-go/toolforge/devcluster/internal/pki"
)

// Options are what a user chooses about a cluster.
type Options struct {
	Dir string
	// Nodes are real nodes (kubelet, containerd); KwokNodes simulated ones.
	Nodes     int
	KwokNodes int
	Port      int
	// IngressPort is where the ingress controller answers HTTP on loopback
	// (real nodes only).
	IngressPort int
	// AuditLog makes the API server log every write (Metadata level) to
	// logs/audit.log, so tests can count the writes a controller makes.
	AuditLog bool
	// Logs are the log store's and the nodes' collectors' settings (real
	// nodes only; logs.go).
	Logs LogsOptions
}

// ports are the loopback ports of one run, chosen when the supervisor starts.
type ports struct {
	API, EtcdClient, EtcdPeer, ControllerManager, Scheduler, Kwok int
	// Real nodes' services: the registry (on loopback; on the gateway it
	// listens on RegistryGatewayPort), DNS health and readiness, the
	// ingress controller's ping.
	Registry, DNSHealth, DNSReady, IngressPing int
	// LogsStore is the log store's (VictoriaLogs) HTTP port on loopback.
	LogsStore int
}

const (
	serviceCIDR = nodenet.ServiceCIDR
	// kwokPodCIDR is where kwok's simulated pods get their (unreachable)
	// addresses; real nodes take theirs from the network plan.
	kwokPodCIDR = "10.244.0.0/16"
	loopback    = "127.0.0.1"
	// RegistryGatewayPort is the local registry's port on the nodes'
	// gateway, where containerd pulls from.
	RegistryGatewayPort = 5000
)

func (p ports) apiURL() string { return "https://" + net.JoinHostPort(loopback, strconv.Itoa(p.API)) }

func hostPort(port int) string { return net.JoinHostPort(loopback, strconv.Itoa(port)) }

// writeConfig writes PKI, kubeconfigs and component configuration files.
func writeConfig(l Layout, o Options, p ports, plan *nodenet.Plan) error {
	for _, d := range []string{l.LogDir(), filepath.Dir(l.ComponentKubeconfig("x")), filepath.Dir(l.ConfigFile("x")), l.EtcdData()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	var apiIPs []net.IP
	if plan != nil {
		apiIPs = append(apiIPs, plan.Gateway())
	}
	if err := pki.Ensure(l.PKI(), apiIPs...); err != nil {
		return err
	}
	ca, err := os.ReadFile(l.PKI().CACert())
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.CACert(), ca, 0o644); err != nil {
		return err
	}
	server := p.apiURL()
	for _, name := range []string{components.ControllerManager, components.Scheduler, components.Kwok, coreDNS, metricsServer} {
		if err := writeKubeconfig(l.ComponentKubeconfig(name), server, l.PKI(), name, false); err != nil {
			return err
		}
	}
	// The admin kubeconfig embeds its credentials so it can be copied away.
	if err := writeKubeconfig(l.Kubeconfig(), server, l.PKI(), "admin", true); err != nil {
		return err
	}
	files := map[string]string{
		"kwok.yaml":      components.KwokStages(),
		"scheduler.yaml": schedulerConfig(l),
		"audit.yaml":     auditPolicy,
	}
	for name, content := range files {
		if err := os.WriteFile(l.ConfigFile(name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeKubeconfig(path, server string, d pki.Dir, user string, embed bool) error {
	cluster := &clientcmdapi.Cluster{Server: server, CertificateAuthority: d.CACert()}
	auth := &clientcmdapi.AuthInfo{ClientCertificate: d.Cert(user), ClientKey: d.Key(user)}
	if embed {
		var err error
		if cluster.CertificateAuthorityData, err = os.ReadFile(d.CACert()); err != nil {
			return err
		}
		if auth.ClientCertificateData, err = os.ReadFile(d.Cert(user)); err != nil {
			return err
		}
		if auth.ClientKeyData, err = os.ReadFile(d.Key(user)); err != nil {
			return err
		}
		cluster.CertificateAuthority, auth.ClientCertificate, auth.ClientKey = "", "", ""
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["devcluster"] = cluster
	cfg.AuthInfos[user] = auth
	cfg.Contexts["devcluster"] = &clientcmdapi.Context{Cluster: "devcluster", AuthInfo: user}
	cfg.CurrentContext = "devcluster"
	if err := clientcmd.WriteToFile(*cfg, path+".tmp"); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(path+".tmp", 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func schedulerConfig(l Layout) string {
	return fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 500
  burst: 1000
leaderElection:
  leaderElect: false
`, l.ComponentKubeconfig(components.Scheduler))
}

// auditPolicy records who wrote what, not what was read: enough to count a
// controller's writes without slowing the API server down much.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`

// args returns the command line of each component.
func args(l Layout, o Options, p ports, plan *nodenet.Plan) map[string][]string {
	d := l.PKI()
	// With real nodes, pods reach the API server through the kubernetes
	// Service, whose endpoint is the nodes' gateway (the supervisor
	// forwards it to loopback, where the API server listens).
	advertise, reconciler := loopback, "none"
	if plan != nil {
		advertise, reconciler = plan.Gateway().String(), "lease"
	}
	apiserver := []string{
		"--etcd-servers=https://" + hostPort(p.EtcdClient),
		"--etcd-cafile=" + d.EtcdCACert(),
		"--etcd-certfile=" + d.Cert(pki.EtcdAPIServerClient),
		"--etcd-keyfile=" + d.Key(pki.EtcdAPIServerClient),
		"--bind-address=" + loopback,
		"--advertise-address=" + advertise,
		"--secure-port=" + strconv.Itoa(p.API),
		"--cert-dir=" + l.CertDir(components.APIServer),
		"--tls-cert-file=" + d.Cert(components.APIServer),
		"--tls-private-key-file=" + d.Key(components.APIServer),
		"--client-ca-file=" + d.CACert(),
		"--service-account-key-file=" + d.ServiceAccountPub(),
		"--service-account-signing-key-file=" + d.ServiceAccountKey(),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		// Privileged pods are allowed by the API server as on any cluster;
		// Pod Security Admission is what refuses them per namespace.
		"--allow-privileged=true",
		"--kubelet-client-certificate=" + d.Cert("apiserver-kubelet-client"),
		"--kubelet-client-key=" + d.Key("apiserver-kubelet-client"),
		"--kubelet-certificate-authority=" + d.CACert(),
		"--kubelet-preferred-address-types=InternalIP",
		// Without real nodes nothing in the cluster dials the API server,
		// and loopback may not be a Service endpoint.
		"--endpoint-reconciler-type=" + reconciler,
		"--requestheader-client-ca-file=" + d.FrontProxyCACert(),
		"--requestheader-allowed-names=" + pki.FrontProxyClient,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + d.Cert(pki.FrontProxyClient),
		"--proxy-client-key-file=" + d.Key(pki.FrontProxyClient),
		"--profiling=true",
		// Webhooks and aggregated APIs called through a Service are
		// dialled at the Service's endpoints (pod IPs, which the host
		// routes to the nodes), not at its cluster IP: Service IPs exist
		// only in the nodes' iptables, never on the host where the API
		// server runs.
		"--enable-aggregator-routing=true",
	}
	if o.AuditLog {
		apiserver = append(apiserver,
			"--audit-policy-file="+l.ConfigFile("audit.yaml"),
			"--audit-log-path="+l.Log("audit"),
			"--audit-log-format=json",
			"--audit-log-mode=blocking",
		)
	}
	kcmKubeconfig := l.ComponentKubeconfig(components.ControllerManager)
	return map[string][]string{
		components.APIServer: apiserver,
		components.ControllerManager: {
			"--kubeconfig=" + kcmKubeconfig,
			"--authentication-kubeconfig=" + kcmKubeconfig,
			"--authorization-kubeconfig=" + kcmKubeconfig,
			"--bind-address=" + loopback,
			"--secure-port=" + strconv.Itoa(p.ControllerManager),
			"--cert-dir=" + l.CertDir(components.ControllerManager),
			"--leader-elect=false",
			"--controllers=*",
			"--use-service-account-credentials=true",
			"--root-ca-file=" + d.CACert(),
			"--service-account-private-key-file=" + d.ServiceAccountKey(),
			"--cluster-signing-cert-file=" + d.CACert(),
			"--cluster-signing-key-file=" + d.CAKey(),
			"--service-cluster-ip-range=" + serviceCIDR,
			"--kube-api-qps=2000",
			"--kube-api-burst=4000",
			"--profiling=false",
		},
		components.Scheduler: {
			"--config=" + l.ConfigFile("scheduler.yaml"),
			"--authentication-kubeconfig=" + l.ComponentKubeconfig(components.Scheduler),
			"--authorization-kubeconfig=" + l.ComponentKubeconfig(components.Scheduler),
			"--bind-address=" + loopback,
			"--secure-port=" + strconv.Itoa(p.Scheduler),
			"--cert-dir=" + l.CertDir(components.Scheduler),
		},
		components.Kwok: {
			"--kubeconfig=" + l.ComponentKubeconfig(components.Kwok),
			"--config=" + l.ConfigFile("kwok.yaml"),
			// Only the simulated nodes: real ones have their kubelet.
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
			"--cidr=" + kwokPodCIDR,
			"--node-ip=" + loopback,
			"--node-port=" + strconv.Itoa(p.Kwok),
			"--server-address=" + hostPort(p.Kwok),
			"--tls-cert-file=" + d.Cert("kwok-serving"),
			"--tls-private-key-file=" + d.Key("kwok-serving"),
			"--node-lease-duration-seconds=40",
			"--enable-crds=" + strings.Join(kwokCRDKinds(), ","),
		},
	}
}
