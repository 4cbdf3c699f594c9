package components

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/devcluster/internal/pki"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// etcd takes clients with a certificate of its own CA only: none, one of
// the cluster CA (every tool holds one) and plain HTTP are refused.
func TestEtcdRefusesClientsWithoutACertificateOfItsCA(t *testing.T) {
	dir := t.TempDir()
	d := pki.Dir(filepath.Join(dir, "pki"))
	if err := pki.Ensure(d); err != nil {
		t.Fatal(err)
	}
	client := freeAddr(t)
	e, err := StartEtcd(EtcdConfig{
		DataDir: filepath.Join(dir, "etcd"), ClientURL: "https://" + client, PeerURL: "https://" + freeAddr(t),
		CertFile: d.Cert(pki.EtcdServer), KeyFile: d.Key(pki.EtcdServer), CAFile: d.EtcdCACert(), LogFile: filepath.Join(dir, "etcd.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	caPEM, err := os.ReadFile(d.EtcdCACert())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	get := func(scheme, name string) error {
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if name != "" {
			pair, err := tls.LoadX509KeyPair(d.Cert(name), d.Key(name))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(scheme + "://" + client + "/version")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /version: %s", resp.Status)
		}
		return nil
	}
	if err := get("https", ""); err == nil {
		t.Error("a client without a certificate was answered")
	}
	if err := get("https", "admin"); err == nil {
		t.Error("a client with a cluster-CA certificate was answered")
	}
	if err := get("http", ""); err == nil {
		t.Error("plain HTTP was answered")
	}
	for _, name := range []string{pki.EtcdAdminClient, pki.EtcdAPIServerClient} {
		if err := get("https", name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
