// Package cluster starts, supervises, stops and reports on a devcluster: one
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
// each a child process of a supervisor that owns the cluster's directory.
package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/toolforge-go/toolforge/devcluster/internal/pki"
)

// Layout names every file of a cluster directory.
type Layout struct{ Dir string }

// Kubeconfig is the cluster-admin kubeconfig handed to users.
func (l Layout) Kubeconfig() string { return filepath.Join(l.Dir, "kubeconfig") }

// CACert is a copy of the cluster CA for clients.
func (l Layout) CACert() string { return filepath.Join(l.Dir, "ca.crt") }

// PKI is where certificates and keys live.
func (l Layout) PKI() pki.Dir { return pki.Dir(filepath.Join(l.Dir, "pki")) }

// LogDir holds one log file per component.
func (l Layout) LogDir() string { return filepath.Join(l.Dir, "logs") }

// Log is a component's log file.
func (l Layout) Log(name string) string { return filepath.Join(l.LogDir(), name+".log") }

// ComponentKubeconfig is the kubeconfig a component uses to reach the API.
func (l Layout) ComponentKubeconfig(name string) string {
	return filepath.Join(l.Dir, "kubeconfigs", name+".kubeconfig")
}

// EtcdData is etcd's data directory; it survives stop/start.
func (l Layout) EtcdData() string { return filepath.Join(l.Dir, "etcd") }

// ConfigFile is a component's configuration file.
func (l Layout) ConfigFile(name string) string { return filepath.Join(l.Dir, "config", name) }

// CertDir is scratch space for components that insist on one.
func (l Layout) CertDir(name string) string { return filepath.Join(l.Dir, "pki", name) }

// NodeDir is a real node's state (containerd, kubelet, CNI, configs).
func (l Layout) NodeDir(name string) string { return filepath.Join(l.Dir, "nodes", name) }

// RegistryDir is the local registry's storage.
func (l Layout) RegistryDir() string { return filepath.Join(l.Dir, "registry") }

// RegistryCredentials holds the registry identities' credentials files
// (token.CredentialsFile), outside the registry's storage tree.
func (l Layout) RegistryCredentials() string { return filepath.Join(l.Dir, "registry", "credentials") }

// StateFile records what the supervisor runs.
func (l Layout) StateFile() string { return filepath.Join(l.Dir, "state.json") }

// LockFile is held (flock) by the supervisor for as long as it runs.
func (l Layout) LockFile() string { return filepath.Join(l.Dir, "lock") }

// NetworkState describes the real nodes' network.
type NetworkState struct {
	Bridge      string `json:"bridge"`
	Gateway     string `json:"gateway"`
	PodCIDR     string `json:"podCIDR"`
	ServiceCIDR string `json:"serviceCIDR"`
}

// Phases of a cluster, as recorded in its state file.
const (
	PhaseStarting = "starting"
	PhaseReady    = "ready"
	PhaseFailed   = "failed"
	PhaseStopping = "stopping"
	PhaseStopped  = "stopped"
)

// Proc is one supervised process.
type Proc struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// InSupervisor: a goroutine of the supervisor, not a process of its own.
	InSupervisor bool   `json:"inSupervisor,omitempty"`
	Restarts     int    `json:"restarts"`
	Addr         string `json:"addr,omitempty"`
}

// State is what the supervisor publishes about the cluster.
type State struct {
	Phase         string `json:"phase"`
	Error         string `json:"error,omitempty"`
	SupervisorPID int    `json:"supervisorPID"`
	APIURL        string `json:"apiURL"`
	// EtcdURL is etcd's client address (https on loopback), for backups
	// through its snapshot API, with the admins' client certificate and key
	// and etcd's CA (etcd refuses clients without a certificate of its CA).
	EtcdURL    string `json:"etcdURL,omitempty"`
	EtcdCACert string `json:"etcdCACert,omitempty"`
	EtcdCert   string `json:"etcdCert,omitempty"`
	EtcdKey    string `json:"etcdKey,omitempty"`
	Nodes      int    `json:"nodes"`
	KwokNodes  int    `json:"kwokNodes,omitempty"`
	// Real nodes only: where the ingress answers, the local registry (on
	// loopback, and on the nodes' gateway), the directory of its
	// identities' credentials files, and the nodes' network.
	IngressURL          string `json:"ingressURL,omitempty"`
	Registry            string `json:"registry,omitempty"`
	RegistryGateway     string `json:"registryGateway,omitempty"`
	RegistryCredentials string `json:"registryCredentials,omitempty"`
	// LogsStore is the log store's URL (VictoriaLogs, on loopback).
	LogsStore string `json:"logsStore,omitempty"`
	// Git is the git server's base URL, Egress the build service's egress
	// proxy (its password in DIR/egress/password); both on the gateway.
	Git       string        `json:"git,omitempty"`
	Egress    string        `json:"egress,omitempty"`
	Network   *NetworkState `json:"network,omitempty"`
	Procs     []Proc        `json:"procs"`
	StartedAt time.Time     `json:"startedAt"`
	ReadyAt   time.Time     `json:"readyAt,omitzero"`
}

func (l Layout) readState() (State, error) {
	var s State
	data, err := os.ReadFile(l.StateFile())
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("parse %s: %w", l.StateFile(), err)
	}
	return s, nil
}

func (l Layout) writeState(s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.StateFile() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, l.StateFile())
}

// ErrNotRunning says no supervisor holds the cluster directory.
var ErrNotRunning = errors.New("not running")
