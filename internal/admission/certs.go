package admission

import (
	"bytes"
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
	"slices"
	"time"
)

// tlsState is the webhook server's certificate authority and serving
// certificate, as kept in the Secret toolforge-admission-tls.
type tlsState struct {
	// Bundle is what the API server trusts (caBundle): the current CA and
	// any older one still valid, so a CA can be replaced without a moment
	// in which the API server trusts neither.
	Bundle []byte
	CACert []byte
	CAKey  []byte
	Cert   []byte
	Key    []byte
}

// Keys of the TLS Secret.
const (
	keyBundle = "ca-bundle.crt"
	keyCACert = "ca.crt"
	keyCAKey  = "ca.key"
	keyCert   = "tls.crt"
	keyKey    = "tls.key"
)

func (s *tlsState) toData() map[string][]byte {
	return map[string][]byte{keyBundle: s.Bundle, keyCACert: s.CACert, keyCAKey: s.CAKey, keyCert: s.Cert, keyKey: s.Key}
}

func stateFromData(d map[string][]byte) *tlsState {
	return &tlsState{Bundle: d[keyBundle], CACert: d[keyCACert], CAKey: d[keyCAKey], Cert: d[keyCert], Key: d[keyKey]}
}

// rotation says how long certificates live and for which names.
type rotation struct {
	// Validity of a serving certificate; it is renewed with a third of it
	// left. The CA lives ten times as long and is replaced with two
	// serving lifetimes left.
	Validity time.Duration
	// Hosts are the DNS names and IP addresses the serving certificate is
	// for.
	Hosts []string
	// Propagation is how long a new CA is only trusted (in the bundle)
	// before it signs the serving certificate: time for the webhook
	// configurations to carry it.
	Propagation time.Duration
}

const clockSkew = 5 * time.Minute

// rotate brings st up to date at now: a CA if there is none or it is
// getting old, a serving certificate if there is none, it is getting old,
// names other hosts, or a newer CA has been trusted long enough. It
// reports whether st changed.
func (r rotation) rotate(st *tlsState, now time.Time) (bool, error) {
	changed := false
	ca, caErr := parseCert(st.CACert)
	if caErr != nil || ca.NotAfter.Sub(now) < 2*r.Validity || len(st.CAKey) == 0 {
		certPEM, keyPEM, err := newCA(now, 10*r.Validity)
		if err != nil {
			return false, err
		}
		st.CACert, st.CAKey = certPEM, keyPEM
		if ca, caErr = parseCert(certPEM); caErr != nil {
			return false, caErr
		}
		changed = true
	}
	bundle := pruneBundle(append(slices.Clone(st.CACert), st.Bundle...), now)
	if !bytes.Equal(bundle, st.Bundle) {
		st.Bundle, changed = bundle, true
	}
	if r.needsServing(st, ca, now) {
		certPEM, keyPEM, err := newServingCert(st.CACert, st.CAKey, r.Hosts, now, r.Validity)
		if err != nil {
			return false, err
		}
		st.Cert, st.Key, changed = certPEM, keyPEM, true
	}
	return changed, nil
}

func (r rotation) needsServing(st *tlsState, ca *x509.Certificate, now time.Time) bool {
	cert, err := parseCert(st.Cert)
	if err != nil || len(st.Key) == 0 || now.After(cert.NotAfter) || now.Before(cert.NotBefore) ||
		!slices.Equal(certHosts(cert), sortedHosts(r.Hosts)) {
		return true // unusable: nothing to lose
	}
	if cert.CheckSignatureFrom(ca) != nil {
		// Signed by an older CA: move to the new one once the API server
		// has had time to trust it, even if renewal is due earlier.
		return now.Sub(ca.NotBefore.Add(clockSkew)) >= r.Propagation
	}
	return cert.NotAfter.Sub(now) < r.Validity/3
}

// pruneBundle keeps each still valid CA of a PEM bundle once, in order.
func pruneBundle(bundle []byte, now time.Time) []byte {
	var out bytes.Buffer
	seen := map[string]bool{}
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return out.Bytes()
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil || now.After(c.NotAfter) || seen[string(block.Bytes)] {
			continue
		}
		seen[string(block.Bytes)] = true
		_ = pem.Encode(&out, block)
	}
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func newCA(now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("toolforge-admission-ca@%d", now.Unix())},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	return encode(der, key)
}

func newServingCert(caPEM, caKeyPEM []byte, hosts []string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	ca, err := parseCert(caPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA: %w", err)
	}
	block, _ := pem.Decode(caKeyPEM)
	if block == nil {
		return nil, nil, errors.New("parse CA key: no PEM key")
	}
	caKey, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "toolforge-admission"},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create serving certificate: %w", err)
	}
	return encode(der, key)
}

func encode(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// certHosts are the names and addresses a certificate is for, sorted.
func certHosts(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	slices.Sort(out)
	return out
}

func sortedHosts(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		out = append(out, h)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
