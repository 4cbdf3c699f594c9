// Package pki generates the certificates a devcluster needs: one cluster CA
// (which kube-controller-manager also uses to sign CertificateSigningRequests),
// serving certificates for the API server and kwok, client certificates for
// every component, the service-account signing key, etcd's own CA with its
// serving and client certificates, and the key that signs the registry's
// tokens.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Client identities of the control plane. The API server's RBAC bootstrap
// policy grants the controller-manager and scheduler names their roles.
var clients = []struct {
	Name string
	CN   string
	Org  []string
}{
	{"admin", "devcluster-admin", []string{"system:masters"}},
	{"kube-controller-manager", "system:kube-controller-manager", nil},
	{"kube-scheduler", "system:kube-scheduler", nil},
	// kwok plays every kubelet: it updates node and pod status of all nodes.
	{"kwok", "system:kwok-controller", []string{"system:masters"}},
	{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}},
	// The bootstrap policy binds system:node-proxier to this name.
	{"kube-proxy", "system:kube-proxy", nil},
	// Cluster DNS; devcluster grants it read access to services.
	{"coredns", "system:devcluster:coredns", nil},
	// The metrics API (metrics-server); devcluster grants it what its own
	// manifest does.
	{"metrics-server", "system:devcluster:metrics-server", nil},
}

// Dir holds the paths of the generated files.
type Dir string

func (d Dir) path(name string) string { return filepath.Join(string(d), name) }

// CACert is the cluster CA certificate.
func (d Dir) CACert() string { return d.path("ca.crt") }

// CAKey is the cluster CA private key.
func (d Dir) CAKey() string { return d.path("ca.key") }

// Cert is the certificate of a named identity (admin, kube-apiserver, ...).
func (d Dir) Cert(name string) string { return d.path(name + ".crt") }

// Key is the private key of a named identity.
func (d Dir) Key(name string) string { return d.path(name + ".key") }

// ServiceAccountKey is the private key that signs service account tokens.
func (d Dir) ServiceAccountKey() string { return d.path("sa.key") }

// ServiceAccountPub is the public half of ServiceAccountKey.
func (d Dir) ServiceAccountPub() string { return d.path("sa.pub") }

// ClientNames lists the client identities Ensure creates.
func ClientNames() []string {
	names := make([]string, 0, len(clients))
	for _, c := range clients {
		names = append(names, c.Name)
	}
	return names
}

// FrontProxyCACert is the CA of the aggregation layer's front proxy. It is
// separate from the cluster CA on purpose: the cluster CA signs users'
// CSRs, and none of those may ever assert identities through request headers.
func (d Dir) FrontProxyCACert() string { return d.path("front-proxy-ca.crt") }

// FrontProxyClient names the front proxy's client certificate.
const FrontProxyClient = "front-proxy-client"

// etcd has a CA of its own, for the same reason as the front proxy: the
// cluster CA signs users' CSRs (every tool holds a certificate from it),
// and no such certificate may ever open etcd.
const (
	// EtcdServer is etcd's serving (and peer) certificate.
	EtcdServer = "etcd-server"
	// EtcdAPIServerClient is the API server's client certificate for etcd.
	EtcdAPIServerClient = "etcd-apiserver-client"
	// EtcdAdminClient is the admins' (backups', toolforge-admin etcd's)
	// client certificate for etcd.
	EtcdAdminClient = "etcd-admin-client"
)

// EtcdCACert is the CA etcd trusts for clients and peers.
func (d Dir) EtcdCACert() string { return d.path("etcd-ca.crt") }

func (d Dir) etcdCAKey() string { return d.path("etcd-ca.key") }

// RegistryToken names the self-signed certificate (and key) whose key
// signs the registry's tokens; the registry trusts that certificate and
// nothing else. Not the cluster CA: a tool could then sign a token with
// its own certificate's key and send the chain along (x5c).
const RegistryToken = "registry-token"

// Ensure creates whatever is missing. Existing files are kept, so a stopped
// cluster restarts with the same CA and clients' credentials stay valid.
// apiIPs are addresses the API server is also reached at (the nodes'
// gateway); a serving certificate without them is reissued.
func Ensure(d Dir, apiIPs ...net.IP) error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("create pki dir: %w", err)
	}
	ca, caKey, err := ensureCA(d, d.CACert(), d.CAKey(), "devcluster-ca")
	if err != nil {
		return err
	}
	fpCA, fpKey, err := ensureCA(d, d.FrontProxyCACert(), d.path("front-proxy-ca.key"), "devcluster-front-proxy-ca")
	if err != nil {
		return err
	}
	if !exists(d.Cert(FrontProxyClient)) || !exists(d.Key(FrontProxyClient)) {
		tmpl := leafTemplate(FrontProxyClient, nil)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if err := issue(d, FrontProxyClient, tmpl, fpCA, fpKey); err != nil {
			return err
		}
	}
	if err := ensureEtcd(d); err != nil {
		return err
	}
	if err := ensureSelfSigned(d, RegistryToken, "devcluster registry token signer"); err != nil {
		return err
	}
	serving := []struct {
		name string
		cn   string
		dns  []string
		ips  []net.IP
		// extra are addresses that change with the cluster's network: a
		// certificate lacking one is reissued.
		extra []net.IP
	}{
		{"kube-apiserver", "kube-apiserver",
			[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 96, 0, 1)}, apiIPs...), apiIPs},
		{"kwok-serving", "kwok", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, nil},
	}
	for _, s := range serving {
		if exists(d.Cert(s.name)) && exists(d.Key(s.name)) && covers(d.Cert(s.name), s.extra) {
			continue
		}
		tmpl := leafTemplate(s.cn, nil)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = s.dns, s.ips
		if err := issue(d, s.name, tmpl, ca, caKey); err != nil {
			return err
		}
	}
	for _, c := range clients {
		if exists(d.Cert(c.Name)) && exists(d.Key(c.Name)) {
			continue
		}
		tmpl := leafTemplate(c.CN, c.Org)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if err := issue(d, c.Name, tmpl, ca, caKey); err != nil {
			return err
		}
	}
	if !exists(d.ServiceAccountKey()) || !exists(d.ServiceAccountPub()) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		if err := writeKey(d.ServiceAccountKey(), key); err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return err
		}
		if err := writePEM(d.ServiceAccountPub(), "PUBLIC KEY", pub, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// EnsureNode creates a real node's kubelet credentials: a client
// certificate as system:node:<name> (what the Node authorizer and
// NodeRestriction expect) and a serving certificate for its address,
// which the API server verifies against the cluster CA.
func EnsureNode(d Dir, name string, ip net.IP) error {
	ca, caKey, err := loadPair(d.CACert(), d.CAKey())
	if err != nil {
		return err
	}
	client := NodeClient(name)
	if !exists(d.Cert(client)) || !exists(d.Key(client)) {
		tmpl := leafTemplate("system:node:"+name, []string{"system:nodes"})
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if err := issue(d, client, tmpl, ca, caKey); err != nil {
			return err
		}
	}
	serving := NodeServing(name)
	if !exists(d.Cert(serving)) || !exists(d.Key(serving)) || !covers(d.Cert(serving), []net.IP{ip}) {
		tmpl := leafTemplate("system:node:"+name, []string{"system:nodes"})
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = []string{name}, []net.IP{ip}
		if err := issue(d, serving, tmpl, ca, caKey); err != nil {
			return err
		}
	}
	return nil
}

// ensureEtcd makes etcd's CA, its serving certificate for loopback (with
// client use too: etcd's gRPC gateway dials etcd with it, and so do its
// peers), and the clients' certificates.
func ensureEtcd(d Dir) error {
	ca, caKey, err := ensureCA(d, d.EtcdCACert(), d.etcdCAKey(), "devcluster-etcd-ca")
	if err != nil {
		return err
	}
	if !exists(d.Cert(EtcdServer)) || !exists(d.Key(EtcdServer)) {
		tmpl := leafTemplate("etcd", nil)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		if err := issue(d, EtcdServer, tmpl, ca, caKey); err != nil {
			return err
		}
	}
	for name, cn := range map[string]string{EtcdAPIServerClient: "kube-apiserver-etcd-client", EtcdAdminClient: "devcluster-etcd-admin"} {
		if exists(d.Cert(name)) && exists(d.Key(name)) {
			continue
		}
		tmpl := leafTemplate(cn, nil)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if err := issue(d, name, tmpl, ca, caKey); err != nil {
			return err
		}
	}
	return nil
}

// ensureSelfSigned makes a key and a self-signed certificate for it under
// name, for a key that is trusted by its certificate alone.
func ensureSelfSigned(d Dir, name, cn string) error {
	if exists(d.Cert(name)) && exists(d.Key(name)) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := leafTemplate(cn, nil)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("create %s certificate: %w", name, err)
	}
	if err := writeKey(d.Key(name), key); err != nil {
		return err
	}
	return writePEM(d.Cert(name), "CERTIFICATE", der, 0o644)
}

// LoadKey reads a private key Ensure wrote.
func LoadKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s is not PEM", path)
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return key, nil
}

// NodeClient and NodeServing name a node's certificates.
func NodeClient(node string) string  { return "kubelet-" + node }
func NodeServing(node string) string { return "kubelet-" + node + "-serving" }

// covers says whether the certificate at path names every ip.
func covers(path string, ips []net.IP) bool {
	if len(ips) == 0 {
		return true
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return false
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return false
	}
	for _, ip := range ips {
		found := false
		for _, have := range cert.IPAddresses {
			if have.Equal(ip) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func ensureCA(d Dir, certFile, keyFile, cn string) (*x509.Certificate, crypto.Signer, error) {
	if exists(certFile) && exists(keyFile) {
		return loadPair(certFile, keyFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA: %w", err)
	}
	if err := writeKey(keyFile, key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certFile, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func leafTemplate(cn string, org []string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: org},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
}

func issue(d Dir, name string, tmpl, ca *x509.Certificate, caKey crypto.Signer) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("issue %s certificate: %w", name, err)
	}
	if err := writeKey(d.Key(name), key); err != nil {
		return err
	}
	return writePEM(d.Cert(name), "CERTIFICATE", der, 0o644)
}

func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", certFile, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", keyFile, err)
	}
	return cert, key, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
