package components

import (
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// EtcdName is the etcd member's name (a restore must use it too).
const EtcdName = "devcluster"

// EtcdConfig is what a devcluster chooses about its etcd.
type EtcdConfig struct {
	DataDir string
	// ClientURL and PeerURL are https: etcd serves TLS on both and
	// requires a client certificate signed by CAFile (as production etcd
	// does), so no local user reaches the cluster's data without one.
	ClientURL string
	PeerURL   string
	// CertFile and KeyFile are etcd's serving (and peer) certificate.
	CertFile, KeyFile, CAFile string
	LogFile                   string
	// Fsync off: a dev cluster survives process restarts (the page cache
	// outlives the process), not power loss, and writes are much faster.
	Fsync bool
}

// StartEtcd runs etcd inside the calling process (the supervisor): etcd is
// built to be embedded, and a separate process would cost another ~130 MiB
// of resident binary pages for nothing.
func StartEtcd(c EtcdConfig) (*embed.Etcd, error) {
	cu, err := url.Parse(c.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("etcd client URL: %w", err)
	}
	pu, err := url.Parse(c.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("etcd peer URL: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = EtcdName
	cfg.Dir = c.DataDir
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	tls := transport.TLSInfo{CertFile: c.CertFile, KeyFile: c.KeyFile, TrustedCAFile: c.CAFile, ClientCertAuth: true}
	cfg.ClientTLSInfo, cfg.PeerTLSInfo = tls, tls
	cfg.UnsafeNoFsync = !c.Fsync
	cfg.QuotaBackendBytes = 8 << 30
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "5m"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{c.LogFile}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd not ready after 60s (log: %s)", c.LogFile)
	}
}
