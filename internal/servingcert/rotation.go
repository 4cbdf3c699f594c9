package servingcert

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"time"
)

// state is a server's certificate authority and serving
// certificate, as kept in the Secret toolforge-admission-tls.
type state struct {
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

func (s *state) toData() map[string][]byte {
	return map[string][]byte{keyBundle: s.Bundle, keyCACert: s.CACert, keyCAKey: s.CAKey, keyCert: s.Cert, keyKey: s.Key}
}

func stateFromData(d map[string][]byte) *state {
	return &state{Bundle: d[keyBundle], CACert: d[keyCACert], CAKey: d[keyCAKey], Cert: d[keyCert], Key: d[keyKey]}
}

// Rotation says how long certificates live and for which names.
type Rotation struct {
	// Name is the serving certificate's common name, and the prefix of
	// its CA's (e.g. toolforge-admission).
	Name string
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

// rotate brings st up to date at now: a CA if there is none or it is
// getting old, a serving certificate if there is none, it is getting old,
// names other hosts, or a newer CA has been trusted long enough. It
// reports whether st changed.
func (r Rotation) rotate(st *state, now time.Time) (bool, error) {
	changed := false
	ca, caErr := ParseCert(st.CACert)
	if caErr != nil || ca.NotAfter.Sub(now) < 2*r.Validity || len(st.CAKey) == 0 {
		certPEM, keyPEM, err := NewCA(fmt.Sprintf("%s-ca@%d", r.Name, now.Unix()), now, 10*r.Validity)
		if err != nil {
			return false, err
		}
		st.CACert, st.CAKey = certPEM, keyPEM
		if ca, caErr = ParseCert(certPEM); caErr != nil {
			return false, caErr
		}
		changed = true
	}
	bundle := pruneBundle(append(slices.Clone(st.CACert), st.Bundle...), now)
	if !bytes.Equal(bundle, st.Bundle) {
		st.Bundle, changed = bundle, true
	}
	if r.needsServing(st, ca, now) {
		certPEM, keyPEM, err := NewServing(r.Name, st.CACert, st.CAKey, r.Hosts, now, r.Validity)
		if err != nil {
			return false, err
		}
		st.Cert, st.Key, changed = certPEM, keyPEM, true
	}
	return changed, nil
}

func (r Rotation) needsServing(st *state, ca *x509.Certificate, now time.Time) bool {
	cert, err := ParseCert(st.Cert)
	if err != nil || len(st.Key) == 0 || now.After(cert.NotAfter) || now.Before(cert.NotBefore) ||
		!slices.Equal(Hosts(cert), NormalizeHosts(r.Hosts)) {
		return true // unusable: nothing to lose
	}
	if cert.CheckSignatureFrom(ca) != nil {
		// Signed by an older CA: move to the new one once the API server
		// has had time to trust it, even if renewal is due earlier.
		return now.Sub(ca.NotBefore.Add(ClockSkew)) >= r.Propagation
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
