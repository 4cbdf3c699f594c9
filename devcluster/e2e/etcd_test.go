package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// etcd serves TLS and requires a client certificate of its own CA: a
// client without one, with one of the cluster CA (which signs every
// tool's), or speaking plain HTTP is refused; the admins' certificate
// devcluster's state names is taken.
func TestEtcdRefusesClientsWithoutItsCertificate(t *testing.T) {
	st := readState(t, shared.dir)
	if !strings.HasPrefix(st.EtcdURL, "https://") {
		t.Fatalf("etcd's URL is %s, want https", st.EtcdURL)
	}
	caPEM, err := os.ReadFile(st.EtcdCACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", st.EtcdCACert)
	}
	pki := filepath.Join(shared.dir, "pki")
	get := func(cert, key string) (int, error) {
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(st.EtcdURL + "/version")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if code, err := get("", ""); err == nil {
		t.Errorf("a client without a certificate: %d, want the handshake refused", code)
	}
	if code, err := get(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key")); err == nil {
		t.Errorf("the cluster admin's certificate (cluster CA, as every tool's): %d, want refused", code)
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	if resp, err := plain.Get("http://" + strings.TrimPrefix(st.EtcdURL, "https://") + "/version"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200")
		}
	}
	if code, err := get(st.EtcdCert, st.EtcdKey); err != nil || code != http.StatusOK {
		t.Errorf("the admins' etcd certificate: %d, %v; want 200", code, err)
	}
}
