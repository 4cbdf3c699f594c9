package admincli_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/testcluster"
	"github.com/toolforge-go/toolforge/internal/toolcreds"
)

func certFingerprint(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s is not PEM", path)
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

// Regenerate: a new certificate, which works, and the old one is no longer
// the one in use (in the tool's files, and in the controller's record).
func TestRegeneratedCredentialsAreNewAndWork(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	r := f.admin(t, "credentials", "show", "beta", "-o", "json")
	mustSucceed(t, r, "credentials show")
	var before toolcreds.Status
	if err := json.Unmarshal([]byte(r.stdout), &before); err != nil {
		t.Fatal(err)
	}
	if before.Fingerprint != certFingerprint(t, f.beta.CertFile) || before.Status != "provisioned" ||
		time.Until(before.Expiry) < 300*24*time.Hour || before.Issued.IsZero() {
		t.Fatalf("credentials show: %+v", before)
	}

	r = f.admin(t, "credentials", "regenerate", "beta")
	if r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("regenerate off a terminal without --yes: %s", r)
	}
	mark := auditMark(t)
	r = f.admin(t, "credentials", "regenerate", "beta", "--yes")
	mustSucceed(t, r, "credentials regenerate")
	inUse := certFingerprint(t, f.beta.CertFile)
	if inUse == before.Fingerprint {
		t.Fatal("beta still has its old certificate")
	}
	if !strings.Contains(r.stderr, "regenerated: certificate sha256 "+inUse) || !strings.Contains(r.stderr, "was "+before.Fingerprint) {
		t.Errorf("regenerate says %q", r.stderr)
	}
	deletes := adminWrites(t, mark, func(e testcluster.AuditEvent) bool {
		return e.Verb == "delete" && e.ObjectRef.Resource == "configmaps" && e.ObjectRef.Name == "maintain-kubeusers"
	})
	if len(deletes) != 1 || deletes[0].ObjectRef.Namespace != "tool-beta" {
		t.Errorf("alice's deletes: %v", deletes)
	}
	r = f.admin(t, "credentials", "show", "beta", "-o", "json")
	mustSucceed(t, r, "credentials show")
	var after toolcreds.Status
	if err := json.Unmarshal([]byte(r.stdout), &after); err != nil {
		t.Fatal(err)
	}
	// Certificates carry whole seconds: a regeneration within the same
	// second as the first issue has the same time, so only going back in
	// time is wrong (a CI run here did it within one second).
	if after.Fingerprint != inUse || after.Issued.Before(before.Issued) {
		t.Errorf("after regenerate: %+v (before %+v)", after, before)
	}
	// The new certificate works, through beta's own kubeconfig.
	kube, err := f.beta.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Pods(f.beta.Namespace).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("beta with its new certificate: %v", err)
	}
}
