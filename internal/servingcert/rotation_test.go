package servingcert

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

var testRotation = Rotation{Name: "test", Validity: 24 * time.Hour, Hosts: []string{"127.0.0.1", "localhost"}, Propagation: 2 * time.Minute}

func mustRotate(t *testing.T, r Rotation, st *state, now time.Time) bool {
	t.Helper()
	changed, err := r.rotate(st, now)
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

// verifies says whether the serving certificate chains to the bundle for
// host at now, as the API server checks it.
func verifies(st *state, host string, now time.Time) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(st.Bundle)
	cert, err := ParseCert(st.Cert)
	if err != nil {
		return err
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, CurrentTime: now})
	return err
}

func bundleSize(b []byte) int {
	n := 0
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return n
		}
		n++
	}
}

func TestAFreshStateGetsACAAndAServingCertificate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &state{}
	if !mustRotate(t, testRotation, st, now) {
		t.Fatal("nothing generated")
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if err := verifies(st, host, now); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	if verifies(st, "evil.example", now) == nil {
		t.Error("serving certificate valid for a host it was not made for")
	}
	if mustRotate(t, testRotation, st, now.Add(time.Hour)) {
		t.Error("a second Rotation an hour later changed a fresh state")
	}
}

func TestTheServingCertificateIsRenewedWithAThirdLeft(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &state{}
	mustRotate(t, testRotation, st, now)
	first := *st
	if mustRotate(t, testRotation, st, now.Add(15*time.Hour)) {
		t.Fatal("renewed with more than a third left")
	}
	later := now.Add(17 * time.Hour)
	if !mustRotate(t, testRotation, st, later) {
		t.Fatal("not renewed with less than a third left")
	}
	if bytes.Equal(st.Cert, first.Cert) || !bytes.Equal(st.CACert, first.CACert) || !bytes.Equal(st.Bundle, first.Bundle) {
		t.Error("want a new serving certificate from the same CA, and the same bundle")
	}
	if err := verifies(st, "localhost", later.Add(20*time.Hour)); err != nil {
		t.Errorf("renewed certificate: %v", err)
	}
}

func TestANewHostGetsANewServingCertificate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &state{}
	mustRotate(t, testRotation, st, now)
	r := testRotation
	r.Hosts = append(r.Hosts, "toolforge-admission.toolforge-system.svc")
	if !mustRotate(t, r, st, now) {
		t.Fatal("serving certificate kept although the hosts changed")
	}
	if err := verifies(st, "toolforge-admission.toolforge-system.svc", now); err != nil {
		t.Error(err)
	}
}

// The CA is replaced with no moment in which the API server (trusting the
// bundle) would refuse the serving certificate.
func TestTheCAIsReplacedWithoutAGap(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &state{}
	mustRotate(t, testRotation, st, start)
	oldCA := st.CACert
	caNotAfter := start.Add(10 * testRotation.Validity)

	// Renewals of the serving certificate until the CA gets old.
	now := start
	for ; caNotAfter.Sub(now) >= 2*testRotation.Validity; now = now.Add(6 * time.Hour) {
		mustRotate(t, testRotation, st, now)
		if !bytes.Equal(st.CACert, oldCA) {
			t.Fatalf("CA replaced at %s, %s before it expires", now, caNotAfter.Sub(now))
		}
		if err := verifies(st, "localhost", now); err != nil {
			t.Fatalf("at %s: %v", now, err)
		}
	}
	servingBefore := st.Cert
	if !mustRotate(t, testRotation, st, now) || bytes.Equal(st.CACert, oldCA) {
		t.Fatal("CA not replaced with less than two serving lifetimes left")
	}
	if bundleSize(st.Bundle) != 2 || !bytes.Equal(st.Cert, servingBefore) {
		t.Fatalf("right after a new CA: want both CAs trusted and the serving certificate kept (bundle of %d)", bundleSize(st.Bundle))
	}
	if err := verifies(st, "localhost", now); err != nil {
		t.Fatal(err)
	}
	mustRotate(t, testRotation, st, now.Add(time.Minute))
	if !bytes.Equal(st.Cert, servingBefore) {
		t.Fatal("serving certificate moved to the new CA before the bundle had time to propagate")
	}
	now = now.Add(testRotation.Propagation + ClockSkew)
	if !mustRotate(t, testRotation, st, now) || bytes.Equal(st.Cert, servingBefore) {
		t.Fatal("serving certificate not moved to the new CA after propagation")
	}
	newCA, _ := ParseCert(st.CACert)
	cert, _ := ParseCert(st.Cert)
	if err := cert.CheckSignatureFrom(newCA); err != nil {
		t.Fatalf("serving certificate not signed by the new CA: %v", err)
	}
	if mustRotate(t, testRotation, st, caNotAfter.Add(time.Hour)); bundleSize(st.Bundle) != 1 {
		t.Errorf("expired CA still in the bundle (%d CAs)", bundleSize(st.Bundle))
	}
	if err := verifies(st, "localhost", caNotAfter.Add(time.Hour)); err != nil {
		t.Errorf("after the old CA expired: %v", err)
	}
}

func TestARenewalDueWhileANewCAPropagatesWaitsForIt(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := testRotation.Validity
	st := &state{}
	mustRotate(t, testRotation, st, start)
	caNotAfter := start.Add(10 * v)

	// A serving certificate issued just before the CA gets old…
	issued := caNotAfter.Add(-2*v - time.Hour)
	st.Cert = nil
	mustRotate(t, testRotation, st, issued)
	serving := st.Cert
	// …is due for renewal when the CA is replaced.
	now := issued.Add(17 * time.Hour)
	if !mustRotate(t, testRotation, st, now) || bundleSize(st.Bundle) != 2 {
		t.Fatalf("want a new CA beside the old one, bundle of %d", bundleSize(st.Bundle))
	}
	if !bytes.Equal(st.Cert, serving) {
		t.Fatal("serving certificate renewed from a CA the API server does not trust yet")
	}
	if err := verifies(st, "localhost", now); err != nil {
		t.Fatal(err)
	}
	now = now.Add(testRotation.Propagation + ClockSkew)
	if mustRotate(t, testRotation, st, now); bytes.Equal(st.Cert, serving) {
		t.Fatal("serving certificate not renewed after propagation")
	}
	if err := verifies(st, "localhost", now); err != nil {
		t.Fatal(err)
	}
}
