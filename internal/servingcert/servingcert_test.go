package servingcert

import (
	"crypto/x509"
	"reflect"
	"testing"
	"time"
)

func TestAServingCertificateChainsToItsCAForItsHostsOnly(t *testing.T) {
	now := time.Now()
	caPEM, caKeyPEM, err := NewCA("test-ca", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := NewServing("test", caPEM, caKeyPEM, []string{"127.0.0.1", "svc.ns.svc"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := ParseCert(caPEM)
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKey(keyPEM); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, host := range []string{"127.0.0.1", "svc.ns.svc"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example"}); err == nil {
		t.Error("verifies for a host it was not made for")
	}
	if got := Hosts(cert); !reflect.DeepEqual(got, NormalizeHosts([]string{"svc.ns.svc", "127.0.0.1", "127.0.0.1"})) {
		t.Errorf("Hosts = %v", got)
	}
}

func TestAServingCertificateNeverOutlivesItsCA(t *testing.T) {
	now := time.Now()
	caPEM, caKeyPEM, _ := NewCA("short", now, time.Hour)
	certPEM, _, err := NewServing("x", caPEM, caKeyPEM, []string{"localhost"}, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := ParseCert(caPEM)
	cert, _ := ParseCert(certPEM)
	if cert.NotAfter.After(ca.NotAfter) {
		t.Fatalf("serving certificate until %s, CA until %s", cert.NotAfter, ca.NotAfter)
	}
}
