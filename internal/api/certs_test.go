package api

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestTheGeneratedServingCertificateIsTrustedThroughThePublishedBundle(t *testing.T) {
	c := &servingCerts{hosts: servingHosts("api.example.org"), now: time.Now}
	leaf, err := c.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := c.Bundle()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	for _, host := range []string{"127.0.0.1", "localhost", "api.example.org"} {
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}

func TestTheServingCertificateIsRenewedBeforeItExpiresByTheSameCA(t *testing.T) {
	now := time.Now()
	var published [][]byte
	c := &servingCerts{hosts: servingHosts("127.0.0.1"), now: func() time.Time { return now }, changed: func(b []byte) { published = append(published, b) }}
	first, err := c.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := c.Bundle()
	now = now.Add(leafLifetime - leafLifetime/4) // a quarter of its life left
	second, err := c.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("certificate not renewed with a quarter of its life left")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	if _, err := second.Leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now}); err != nil {
		t.Fatalf("the renewed certificate is not trusted by the bundle clients have: %v", err)
	}
	if len(published) != 0 {
		t.Fatal("renewing the leaf must not change the published CA")
	}
}

func TestGeneratedCertificatesSurviveARestartInTheCertDir(t *testing.T) {
	dir := t.TempDir()
	a := &servingCerts{dir: dir, hosts: servingHosts("127.0.0.1"), now: time.Now}
	first, err := a.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &servingCerts{dir: dir, hosts: servingHosts("127.0.0.1"), now: time.Now}
	second, err := b.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatal("a restart made a new certificate although the kept one is valid")
	}
	// A new public host is not covered by the kept certificate: a new one
	// (by the same CA) is made.
	c := &servingCerts{dir: dir, hosts: servingHosts("api.example.org"), now: time.Now}
	third, err := c.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if third.Leaf.VerifyHostname("api.example.org") != nil {
		t.Fatal("certificate does not cover the new host")
	}
	bundle, _ := a.Bundle()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	if _, err := third.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "api.example.org"}); err != nil {
		t.Fatalf("the new certificate is not from the kept CA: %v", err)
	}
}
