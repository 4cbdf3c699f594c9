package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: not PEM", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnsureKeepsExistingFilesSoCredentialsSurviveARestart(t *testing.T) {
	d := Dir(t.TempDir())
	if err := Ensure(d); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(d.Cert("admin"))
	if err := Ensure(d); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(d.Cert("admin"))
	if !bytes.Equal(before, after) {
		t.Fatal("a second Ensure replaced the admin certificate")
	}
}

func TestEveryCertificateChainsToTheRightCA(t *testing.T) {
	d := Dir(t.TempDir())
	if err := Ensure(d); err != nil {
		t.Fatal(err)
	}
	cluster := x509.NewCertPool()
	cluster.AddCert(readCert(t, d.CACert()))
	front := x509.NewCertPool()
	front.AddCert(readCert(t, d.FrontProxyCACert()))
	client := x509.VerifyOptions{Roots: cluster, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, name := range ClientNames() {
		if _, err := readCert(t, d.Cert(name)).Verify(client); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	server := x509.VerifyOptions{Roots: cluster, DNSName: "127.0.0.1"}
	for _, name := range []string{"kube-apiserver", "kwok-serving"} {
		if _, err := readCert(t, d.Cert(name)).Verify(server); err != nil {
			t.Errorf("%s as a server for 127.0.0.1: %v", name, err)
		}
	}
	// The front proxy's identity must not come from the CA that signs users'
	// CSRs, and no cluster-CA certificate may pass as the front proxy.
	fp := readCert(t, d.Cert(FrontProxyClient))
	if _, err := fp.Verify(x509.VerifyOptions{Roots: front, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("front proxy client: %v", err)
	}
	if _, err := fp.Verify(client); err == nil {
		t.Error("the front proxy client certificate verifies against the cluster CA")
	}
	if _, err := readCert(t, d.Cert("admin")).Verify(x509.VerifyOptions{Roots: front, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("a cluster-CA certificate verifies against the front-proxy CA")
	}
}

// etcd trusts its own CA only: no certificate of the cluster CA (which
// signs every tool's) verifies as an etcd client, and etcd's clients do.
func TestEtcdTrustsOnlyItsOwnCA(t *testing.T) {
	d := Dir(t.TempDir())
	if err := Ensure(d); err != nil {
		t.Fatal(err)
	}
	etcd := x509.NewCertPool()
	etcd.AddCert(readCert(t, d.EtcdCACert()))
	client := x509.VerifyOptions{Roots: etcd, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, name := range []string{EtcdAPIServerClient, EtcdAdminClient, EtcdServer} {
		if _, err := readCert(t, d.Cert(name)).Verify(client); err != nil {
			t.Errorf("%s as an etcd client: %v", name, err)
		}
	}
	if _, err := readCert(t, d.Cert(EtcdServer)).Verify(x509.VerifyOptions{Roots: etcd, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("etcd's serving certificate for 127.0.0.1: %v", err)
	}
	for _, name := range append(ClientNames(), FrontProxyClient) {
		if _, err := readCert(t, d.Cert(name)).Verify(client); err == nil {
			t.Errorf("%s (not etcd's CA) verifies as an etcd client", name)
		}
	}
	token := readCert(t, d.Cert(RegistryToken))
	if err := token.CheckSignature(token.SignatureAlgorithm, token.RawTBSCertificate, token.Signature); err != nil {
		t.Errorf("the registry token certificate is not self-signed: %v", err)
	}
	if _, err := LoadKey(d.Key(RegistryToken)); err != nil {
		t.Error(err)
	}
}
