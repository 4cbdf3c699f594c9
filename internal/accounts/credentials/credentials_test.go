package credentials

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// certFor makes a key and a certificate for cn, O=org, valid for life.
func certFor(t *testing.T, cn, org string, life time.Duration) (certPEM, keyPEM []byte, fingerprint string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{org}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(life)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pemKey(key), sha256Hex(der)
}

func credentialsDir(t *testing.T, files map[string][]byte) *homefs.Dir {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	d, err := homefs.OpenHome(dir, homefs.Owner{UID: os.Getuid(), GID: os.Getgid()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestCredentialsAreKeptOnlyWhileTheyAreTheOnesIssuedAndNotDue(t *testing.T) {
	i := &Issuer{RenewBefore: 24 * time.Hour}
	alpha := Identity{CN: "alpha", Org: tenancy.ToolGroup}
	cert, key, fp := certFor(t, "alpha", tenancy.ToolGroup, 365*24*time.Hour)
	otherCert, otherKey, otherFP := certFor(t, "beta", tenancy.ToolGroup, 365*24*time.Hour)
	dueCert, dueKey, dueFP := certFor(t, "alpha", tenancy.ToolGroup, time.Hour)
	for _, tc := range []struct {
		name        string
		files       map[string][]byte
		fingerprint string
		reason      string
	}{
		{"valid credentials stay", map[string][]byte{tenancy.CertFile: cert, tenancy.KeyFile: key}, fp, ""},
		{"no certificate", map[string][]byte{tenancy.KeyFile: key}, fp, "no readable certificate"},
		{"no key", map[string][]byte{tenancy.CertFile: cert}, fp, "no readable key"},
		{"a key of another certificate", map[string][]byte{tenancy.CertFile: cert, tenancy.KeyFile: otherKey}, fp, "key does not match the certificate"},
		{"no record of what was issued", map[string][]byte{tenancy.CertFile: cert, tenancy.KeyFile: key}, "", "no record of the issued certificate"},
		{"a certificate planted in its place", map[string][]byte{tenancy.CertFile: otherCert, tenancy.KeyFile: otherKey}, fp, "not the certificate issued last"},
		{"someone else's certificate recorded as issued", map[string][]byte{tenancy.CertFile: otherCert, tenancy.KeyFile: otherKey}, otherFP, "issued to someone else"},
		{"due for renewal", map[string][]byte{tenancy.CertFile: dueCert, tenancy.KeyFile: dueKey}, dueFP, "due for renewal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, reason, err := i.check(credentialsDir(t, tc.files), alpha, tc.fingerprint)
			if err != nil || reason != tc.reason {
				t.Fatalf("reason %q (%v), want %q", reason, err, tc.reason)
			}
		})
	}
}

func TestRenewalIsDueRenewBeforeTheEndAndNeverSoonerThanAMinute(t *testing.T) {
	i := &Issuer{RenewBefore: time.Hour}
	if d := i.UntilRenewal(Credentials{NotAfter: time.Now().Add(3 * time.Hour)}); d < 119*time.Minute || d > 2*time.Hour {
		t.Fatalf("until renewal %s, want about 2h", d)
	}
	if d := i.UntilRenewal(Credentials{NotAfter: time.Now()}); d != time.Minute {
		t.Fatalf("until renewal of an expired certificate %s, want 1m", d)
	}
}
