package node

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	componentbaseconfigv1alpha1 "k8s.io/component-base/config/v1alpha1"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Config is everything a node needs to know about itself and its cluster.
type Config struct {
	Name    string // the Node's name and host name
	Dir     string // the node's state: containerd's root, kubelet's root, CNI state, configs
	LogDir  string // where pods' logs go (kubelet's podLogsDir)
	NodeIP  net.IP
	PodCIDR *net.IPNet
	// ClusterCIDR is every node's pods: kube-proxy masquerades traffic to
	// services from outside it.
	ClusterCIDR *net.IPNet
	// APIServer is how the node reaches the API server (the bridge side).
	APIServer string
	CACert    string
	// Client certificates (system:node:<name>, system:kube-proxy) and the
	// kubelet's serving certificate, all signed by the cluster CA.
	KubeletCert, KubeletKey               string
	KubeletServingCert, KubeletServingKey string
	ProxyCert, ProxyKey                   string
	// CgroupRoot is where kubelet puts kubepods, unique per node and
	// cluster on this host.
	CgroupRoot string
	DNSIP      net.IP
	Domain     string
	// Runtime is the OCI runtime (runc); CNIBinDir holds the CNI plugins.
	Runtime   string
	CNIBinDir string
	// SandboxImage is the pause image; Mirrors maps registry hosts to the
	// local registry's URL.
	SandboxImage string
	Mirrors      map[string]string
}

// Files of a node's directory.
func (c Config) ContainerdConfig() string { return filepath.Join(c.Dir, "containerd.toml") }
func (c Config) ContainerdRoot() string   { return filepath.Join(c.Dir, "containerd") }
func (c Config) KubeletConfig() string    { return filepath.Join(c.Dir, "kubelet.yaml") }
func (c Config) KubeletRoot() string      { return filepath.Join(c.Dir, "kubelet") }

// KubeletRootInNode is where the node sees KubeletRoot: a short path on
// its own /run (the sandbox binds it), since kubelet keeps unix sockets
// there, whose paths may not exceed 108 bytes.
const KubeletRootInNode = "/run/kubelet"

func (c Config) KubeProxyConfig() string { return filepath.Join(c.Dir, "kube-proxy.yaml") }
func (c Config) CNIConfDir() string      { return filepath.Join(c.Dir, "net.d") }
func (c Config) CNIState() string        { return filepath.Join(c.Dir, "cni") }
func (c Config) hostsDir() string        { return filepath.Join(c.Dir, "certs.d") }
func (c Config) kubeconfig(who string) string {
	return filepath.Join(c.Dir, who+".kubeconfig")
}

// ContainerdSocket is containerd's socket inside the node (its /run is the
// node's own).
const ContainerdSocket = "/run/containerd/containerd.sock"

// Write writes every configuration file of the node.
func (c Config) Write() error {
	for _, d := range []string{c.Dir, c.ContainerdRoot(), c.KubeletRoot(), c.CNIConfDir(), c.CNIState(), c.LogDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	kubelet, err := c.kubeletConfig()
	if err != nil {
		return err
	}
	proxy, err := c.kubeProxyConfig()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		c.ContainerdConfig(): []byte(c.containerdConfig()),
		filepath.Join(c.CNIConfDir(), "10-devcluster.conflist"): c.cniConfig(),
		c.KubeletConfig():   kubelet,
		c.KubeProxyConfig(): proxy,
	}
	for host, url := range c.Mirrors {
		files[filepath.Join(c.hostsDir(), host, "hosts.toml")] = []byte(hostsTOML(host, url))
	}
	for path, data := range files {
		if err := writeFile(path, data); err != nil {
			return err
		}
	}
	for who, pair := range map[string][2]string{"kubelet": {c.KubeletCert, c.KubeletKey}, "kube-proxy": {c.ProxyCert, c.ProxyKey}} {
		if err := c.writeKubeconfig(c.kubeconfig(who), pair[0], pair[1]); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (c Config) writeKubeconfig(path, cert, key string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["devcluster"] = &clientcmdapi.Cluster{Server: c.APIServer, CertificateAuthority: c.CACert}
	cfg.AuthInfos["node"] = &clientcmdapi.AuthInfo{ClientCertificate: cert, ClientKey: key}
	cfg.Contexts["devcluster"] = &clientcmdapi.Context{Cluster: "devcluster", AuthInfo: "node"}
	cfg.CurrentContext = "devcluster"
	if err := clientcmd.WriteToFile(*cfg, path+".tmp"); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(path+".tmp", path)
}

// containerdConfig: CRI with runc and the CNI plugins; images pulled from
// the local registry through mirrors; the sandbox image pinned (it can
// never be pulled from the internet). restrict_oom_score_adj: containers
// may not lower their OOM score below containerd's, which machines
// without CAP_SYS_RESOURCE require (else every sandbox fails to start).
func (c Config) containerdConfig() string {
	return fmt.Sprintf(`version = 3
root = %q
state = "/run/containerd"
imports = []
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  "io.containerd.nri.v1.nri",
]

[grpc]
  address = %q

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %q
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = %q

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = %q
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%q]
      conf_dir = %q
      max_conf_num = 1

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
`, c.ContainerdRoot(), ContainerdSocket, c.SandboxImage, c.hostsDir(), c.Runtime, c.CNIBinDir, c.CNIConfDir())
}

// hostsTOML sends every pull of host to the local registry (plain HTTP).
func hostsTOML(host, url string) string {
	return fmt.Sprintf(`server = %q

[host.%q]
  capabilities = ["pull", "resolve"]
  skip_verify = true
`, "https://"+host, url)
}

// cniConfig: a bridge in the node with the node's pod range; hairpin so a
// pod reaches itself through its own Service; no masquerade (the host and
// the other nodes route to pods directly); portmap for hostPorts.
func (c Config) cniConfig() []byte {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "devcluster",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      "cni0",
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": c.PodCIDR.String()}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(c.CNIState(), "networks"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, _ := json.MarshalIndent(conf, "", "  ")
	return data
}

func (c Config) kubeletConfig() ([]byte, error) {
	cfg := kubeletv1beta1.KubeletConfiguration{
		TypeMeta:          metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		Address:           c.NodeIP.String(),
		Port:              10250,
		ReadOnlyPort:      0,
		TLSCertFile:       c.KubeletServingCert,
		TLSPrivateKeyFile: c.KubeletServingKey,
		// Only the API server (and admins) may use the kubelet's API: a
		// tool's certificate is signed by the same CA, so authorisation is
		// asked of the API server, never assumed.
		Authentication: kubeletv1beta1.KubeletAuthentication{
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: c.CACert},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:            kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		HealthzBindAddress:       "127.0.0.1",
		HealthzPort:              ptr.To[int32](10248),
		ClusterDomain:            c.Domain,
		ClusterDNS:               []string{c.DNSIP.String()},
		ContainerRuntimeEndpoint: "unix://" + ContainerdSocket,
		CgroupDriver:             "cgroupfs",
		CgroupRoot:               c.CgroupRoot,
		CgroupsPerQOS:            ptr.To(true),
		EnforceNodeAllocatable:   []string{"pods"},
		// This machine's kernel mounts cgroup v1 (with v2 beside it);
		// kubelet refuses v1 unless told it may run on it.
		FailCgroupV1: ptr.To(false),
		FailSwapOn:   ptr.To(false),
		PodLogsDir:   c.LogDir,
		// Kubelet cannot lower its own OOM score here (no CAP_SYS_RESOURCE).
		OOMScoreAdj:         ptr.To[int32](0),
		SerializeImagePulls: ptr.To(false),
		// Catalogue images are :latest, so every pod asks the registry
		// (pull policy Always), as in production; here the registry is
		// the supervisor's on loopback. Kubelet's default of 5 pulls/s
		// (burst 10) sent a burst of pods into 10-15 s back-offs ("pull
		// QPS exceeded"); 0 is no limit.
		RegistryPullQPS: ptr.To[int32](0),
		// A developer machine's disk is shared with everything else: evict
		// only when it is nearly full, and keep images.
		EvictionHard: map[string]string{
			"memory.available":  "100Mi",
			"nodefs.available":  "1%",
			"nodefs.inodesFree": "1%",
			"imagefs.available": "1%",
		},
		ImageGCHighThresholdPercent: ptr.To[int32](100),
		ImageGCLowThresholdPercent:  ptr.To[int32](99),
		// Status and pod updates quickly, for tests and for users watching.
		NodeStatusReportFrequency: metav1.Duration{Duration: 10 * time.Second},
		SyncFrequency:             metav1.Duration{Duration: 10 * time.Second},
		FileCheckFrequency:        metav1.Duration{Duration: 20 * time.Second},
		RotateCertificates:        false,
		ServerTLSBootstrap:        false,
		ResolverConfig:            ptr.To("/etc/resolv.conf"),
		MaxPods:                   110,
		ShutdownGracePeriod:       metav1.Duration{},
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubelet configuration: %w", err)
	}
	return data, nil
}

func (c Config) kubeProxyConfig() ([]byte, error) {
	cfg := kubeproxyv1alpha1.KubeProxyConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		ClientConnection: componentbaseconfigv1alpha1.ClientConnectionConfiguration{
			Kubeconfig: c.kubeconfig("kube-proxy"),
		},
		Mode:               "iptables",
		ClusterCIDR:        c.ClusterCIDR.String(),
		HostnameOverride:   c.Name,
		BindAddress:        c.NodeIP.String(),
		HealthzBindAddress: "127.0.0.1:10256",
		MetricsBindAddress: "127.0.0.1:10249",
		// Leave the host-wide conntrack table size and timeouts alone.
		Conntrack: kubeproxyv1alpha1.KubeProxyConntrackConfiguration{
			MaxPerCore:            ptr.To[int32](0),
			TCPEstablishedTimeout: &metav1.Duration{},
			TCPCloseWaitTimeout:   &metav1.Duration{},
		},
		IPTables: kubeproxyv1alpha1.KubeProxyIPTablesConfiguration{
			LocalhostNodePorts: ptr.To(false),
			SyncPeriod:         metav1.Duration{Duration: 30 * time.Second},
			MinSyncPeriod:      metav1.Duration{Duration: 0},
		},
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube-proxy configuration: %w", err)
	}
	return data, nil
}

// KubeletArgs is kubelet's command line.
func (c Config) KubeletArgs() []string {
	return []string{
		"--config=" + c.KubeletConfig(),
		"--kubeconfig=" + c.kubeconfig("kubelet"),
		"--root-dir=" + KubeletRootInNode,
		"--hostname-override=" + c.Name,
		"--node-ip=" + c.NodeIP.String(),
		"--node-labels=" + strings.Join(sortedLabels(NodeLabels), ","),
		"--v=1",
	}
}

// KubeProxyArgs is kube-proxy's command line.
func (c Config) KubeProxyArgs() []string {
	return []string{"--config=" + c.KubeProxyConfig(), "--v=1"}
}

// ContainerdArgs is containerd's command line.
func (c Config) ContainerdArgs() []string { return []string{"--config", c.ContainerdConfig()} }

// NodeLabels mark real nodes (kwok's simulated ones carry type=kwok).
var NodeLabels = map[string]string{"devcluster.toolforge.org/node": "true", "type": "real"}

func sortedLabels(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
