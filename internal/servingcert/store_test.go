package servingcert

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// The generated certificate lives in a Secret: a restarted server (or
// another replica) serves the same one, and Rotation replaces it there.
func TestTheServingCertificateIsKeptInASecretAndRotated(t *testing.T) {
	ctx := context.Background()
	ns := "cert-store-test"
	c := fake.NewClientBuilder().Build()
	now := time.Now()
	elected := make(chan struct{})
	close(elected)
	newStore := func(leader bool) *SecretStore {
		ch := elected
		if !leader {
			ch = make(chan struct{})
		}
		return &SecretStore{
			notifier: newNotifier(), client: c, namespace: ns, name: "test-tls", elected: ch,
			rotation: Rotation{Name: "test", Validity: time.Hour, Hosts: []string{"127.0.0.1"}, Propagation: time.Minute},
			now:      func() time.Time { return now }, log: slog.Default(),
		}
	}
	serving := func(s *SecretStore) []byte {
		t.Helper()
		cert, err := s.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return cert.Certificate[0]
	}

	follower := newStore(false)
	if err := follower.sync(ctx); err == nil {
		t.Fatal("a follower served before the leader made the Secret")
	}
	leader := newStore(true)
	if err := leader.sync(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leader.Changed():
	default:
		t.Fatal("no CA bundle announced to the installer")
	}
	if err := follower.sync(ctx); err != nil {
		t.Fatal(err)
	}
	first := serving(leader)
	if !bytes.Equal(serving(follower), first) || !bytes.Equal(follower.CABundle(), leader.CABundle()) {
		t.Fatal("leader and follower serve different certificates")
	}
	restarted := newStore(true)
	if err := restarted.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(serving(restarted), first) {
		t.Fatal("a restarted leader made a new certificate instead of reusing the Secret's")
	}

	drain := func(s *SecretStore) {
		select {
		case <-s.Changed():
		default:
		}
	}
	drain(follower)
	now = now.Add(50 * time.Minute) // less than a third of an hour left
	if err := leader.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := follower.sync(ctx); err != nil {
		t.Fatal(err)
	}
	renewed := serving(follower)
	if bytes.Equal(renewed, first) {
		t.Fatal("the follower still serves the old certificate after Rotation")
	}
	select {
	case <-follower.Changed():
		t.Fatal("renewing the serving certificate changed the CA bundle")
	default:
	}
	cert, err := x509.ParseCertificate(renewed)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(follower.CABundle())
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now.Add(30 * time.Minute)}); err != nil {
		t.Fatalf("renewed certificate does not verify against the bundle: %v", err)
	}
}
