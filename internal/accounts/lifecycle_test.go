package accounts_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

func ctx() context.Context { return context.Background() }

// certificate reads a tool's certificate file.
func certificate(t *testing.T, home string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(home, ".toolskube", "client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("certificate is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func TestADisabledToolLosesAccessKeepsItsDataAndComesBack(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "dis-a", uid: 53001})
	f.mustOnce()
	home := f.home("dis-a")
	ns := "tool-dis-a"
	if _, err := asTool(home, "create", "deployment", "web", "--replicas=2", "--image=docker-registry.tools.wmflabs.org/x:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := asTool(home, "create", "cronjob", "nightly", "--schedule=0 3 * * *", "--image=docker-registry.tools.wmflabs.org/x:1"); err != nil {
		t.Fatal(err)
	}

	f.write(account{name: "dis-a", uid: 53001, disabled: true})
	f.mustOnce()
	if _, err := asTool(home, "get", "pods"); !isForbidden(err) {
		t.Fatalf("a disabled tool still has access: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, "k8s.disabled")); err != nil {
		t.Fatalf("no k8s.disabled in the home: %v", err)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the deployment (the tool's data) is gone: %v", err)
	}
	if *d.Spec.Replicas != 0 {
		t.Fatalf("deployment replicas = %d, want 0", *d.Spec.Replicas)
	}
	cj, err := cluster.Client.BatchV1().CronJobs(ns).Get(ctx(), "nightly", metav1.GetOptions{})
	if err != nil || !ptr.Deref(cj.Spec.Suspend, false) {
		t.Fatalf("cronjob not suspended: %v %v", err, cj.Spec.Suspend)
	}
	marker, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx(), "maintain-kubeusers", metav1.GetOptions{})
	if err != nil || marker.Data["status"] != "disabled" {
		t.Fatalf("marker %v, %v", marker.Data, err)
	}
	// A second pass over a disabled tool changes nothing.
	mark := markAudit(t)
	f.mustOnce()
	if w := writesSince(t, mark); len(w) != 0 {
		t.Fatalf("re-running over a disabled tool wrote: %v", w)
	}

	f.write(account{name: "dis-a", uid: 53001})
	f.mustOnce()
	if _, err := asTool(home, "get", "pods"); err != nil {
		t.Fatalf("a re-enabled tool has no access: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, "k8s.disabled")); !os.IsNotExist(err) {
		t.Fatalf("k8s.disabled is still there: %v", err)
	}
	if d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx(), "web", metav1.GetOptions{}); err != nil || ptr.Deref(d.Spec.Replicas, 0) != 2 {
		t.Fatalf("deployment after re-enabling: %v, replicas %v, want the 2 it had", err, d.Spec.Replicas)
	}
	if cj, err := cluster.Client.BatchV1().CronJobs(ns).Get(ctx(), "nightly", metav1.GetOptions{}); err != nil || ptr.Deref(cj.Spec.Suspend, true) {
		t.Fatalf("cronjob after re-enabling: %v, suspend %v; want it there and not suspended", err, cj.Spec.Suspend)
	}
}

func TestAToolGoneFromTheSourceIsRemovedAfterTheGracePeriod(t *testing.T) {
	f := newIsolatedFixture(t)
	f.write(account{name: "rm-a", uid: 53101}, account{name: "rm-keep", uid: 53102})
	f.mustOnce()
	ns := "tool-rm-a"

	f.write(account{name: "rm-keep", uid: 53102})
	f.mustOnce("--removal-grace", "1h")
	if _, err := asTool(f.home("rm-a"), "get", "pods"); !isForbidden(err) {
		t.Fatalf("a removed tool keeps access during the grace period: %v", err)
	}
	got, err := f.c.Client.CoreV1().Namespaces().Get(ctx(), ns, metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("the namespace must stay during the grace period: %v", err)
	}
	if got.Annotations["toolforge.org/removed-since"] == "" {
		t.Fatal("no removed-since annotation")
	}

	t.Run("a tool that comes back within the grace period is restored", func(t *testing.T) {
		f.write(account{name: "rm-a", uid: 53101}, account{name: "rm-keep", uid: 53102})
		f.mustOnce()
		if _, err := asTool(f.home("rm-a"), "get", "pods"); err != nil {
			t.Fatalf("access not restored: %v", err)
		}
		got, err := f.c.Client.CoreV1().Namespaces().Get(ctx(), ns, metav1.GetOptions{})
		if err != nil || got.DeletionTimestamp != nil {
			t.Fatalf("the namespace of a tool that came back: %v, being deleted %v", err, got.DeletionTimestamp)
		}
		if _, ok := got.Annotations["toolforge.org/removed-since"]; ok {
			t.Fatal("removed-since annotation kept")
		}
	})

	t.Run("after the grace period the namespace and volumes go, the home stays", func(t *testing.T) {
		f.write(account{name: "rm-keep", uid: 53102})
		// Passes until one finds the grace period over and deletes the
		// namespace, and the namespace is gone.
		testcluster.Eventually(t, time.Minute, func() error {
			f.mustOnce("--removal-grace", "2s")
			_, err := f.c.Client.CoreV1().Namespaces().Get(ctx(), ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("namespace still there (%v)", err)
		})
		pvs, err := f.c.Client.CoreV1().PersistentVolumes().List(ctx(), metav1.ListOptions{LabelSelector: "toolforge.org/tool=rm-a"})
		if err != nil || len(pvs.Items) != 0 {
			t.Fatalf("volumes left: %d, %v", len(pvs.Items), err)
		}
		if _, err := os.Stat(filepath.Join(f.home("rm-a"), ".toolskube")); err != nil {
			t.Fatalf("the home was touched: %v", err)
		}
		if _, err := asTool(f.home("rm-keep"), "get", "pods"); err != nil {
			t.Fatalf("the other tool was affected: %v", err)
		}
	})
}

// Deleting the marker ConfigMap is the documented way to make the
// controller regenerate a tool's credentials.
func TestDeletingTheMarkerRegeneratesTheCredentials(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "regen-a", uid: 53201})
	f.mustOnce()
	home := f.home("regen-a")
	before := certificate(t, home)
	if _, err := kubectl(cluster.Kubeconfig, "delete", "configmap", "-n", "tool-regen-a", "maintain-kubeusers"); err != nil {
		t.Fatal(err)
	}
	f.mustOnce()
	after := certificate(t, home)
	if fingerprint(before) == fingerprint(after) {
		t.Fatal("the certificate was not regenerated")
	}
	marker, err := cluster.Client.CoreV1().ConfigMaps("tool-regen-a").Get(ctx(), "maintain-kubeusers", metav1.GetOptions{})
	if err != nil || marker.Data["certificate-sha256"] != fingerprint(after) {
		t.Fatalf("marker %v, %v; want the new certificate's fingerprint", marker.Data, err)
	}
	if _, err := asTool(home, "get", "pods"); err != nil {
		t.Fatalf("the regenerated credentials do not work: %v", err)
	}
}

func TestCertificatesAreRenewedBeforeTheyExpire(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "renew-a", uid: 53301})
	// The API's minimum certificate lifetime is 10 minutes.
	f.mustOnce("--cert-lifetime", "20m", "--cert-renew-before", "10m")
	home := f.home("renew-a")
	first := certificate(t, home)
	if left := time.Until(first.NotAfter); left > 21*time.Minute || left < 15*time.Minute {
		t.Fatalf("certificate lifetime %s, want about 20m", left)
	}
	mark := markAudit(t)
	f.mustOnce("--cert-lifetime", "20m", "--cert-renew-before", "10m")
	if fingerprint(certificate(t, home)) != fingerprint(first) {
		t.Fatal("a certificate with 20m left was renewed with renew-before 10m")
	}
	if w := writesSince(t, mark); len(w) != 0 {
		t.Fatalf("a pass with nothing to renew wrote: %v", w)
	}
	// Now the certificate has less left (20m) than renew-before: renewed.
	f.mustOnce("--cert-lifetime", "1h", "--cert-renew-before", "30m")
	second := certificate(t, home)
	if fingerprint(second) == fingerprint(first) || !second.NotAfter.After(first.NotAfter) {
		t.Fatal("the certificate was not renewed")
	}
	if _, err := asTool(home, "get", "pods"); err != nil {
		t.Fatalf("the renewed credentials do not work: %v", err)
	}
}

func TestQuotaOverridesApplyAndHandEditsAreReverted(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "quota-a", uid: 53401}, account{name: "quota-b", uid: 53402})
	quotas := filepath.Join(f.dir, "quotas.yaml")
	writeFile(t, quotas, "tools:\n  quota-a:\n    quota: {pods: \"10\"}\n    limitRange: {max: {memory: 6Gi}}\n")
	f.mustOnce("--quotas-file", quotas)
	assertQuota(t, "quota-a", corev1.ResourcePods, "10")
	assertQuota(t, "quota-b", corev1.ResourcePods, "4")
	lr, err := cluster.Client.CoreV1().LimitRanges("tool-quota-a").Get(ctx(), "tool-quota-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := lr.Spec.Limits[0].Max[corev1.ResourceMemory]; m.String() != "6Gi" {
		t.Fatalf("limit range max memory %s, want 6Gi", m.String())
	}

	writeFile(t, quotas, "tools:\n  quota-a:\n    quota: {pods: \"12\"}\n")
	f.mustOnce("--quotas-file", quotas)
	assertQuota(t, "quota-a", corev1.ResourcePods, "12")

	if _, err := kubectl(cluster.Kubeconfig, "patch", "resourcequota", "-n", "tool-quota-b", "tool-quota-b", "--type=merge", "-p", `{"spec":{"hard":{"pods":"99"}}}`); err != nil {
		t.Fatal(err)
	}
	f.mustOnce("--quotas-file", quotas)
	assertQuota(t, "quota-b", corev1.ResourcePods, "4")
}

func assertQuota(t *testing.T, tool string, res corev1.ResourceName, want string) {
	t.Helper()
	q, err := cluster.Client.CoreV1().ResourceQuotas("tool-"+tool).Get(ctx(), "tool-"+tool, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Spec.Hard[res]; got.String() != want {
		t.Fatalf("%s quota %s = %s, want %s", tool, res, got.String(), want)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// An entry that cannot be provisioned is reported and skipped; it never
// stops the others.
func TestInvalidEntriesAreSkippedAndTheRestProvisioned(t *testing.T) {
	f := newFixture(t)
	writeFile(t, f.accounts, `tools:
  - {name: Bad_Name, uid: 53501}
  - {name: no-uid}
  - {name: `+strings.Repeat("x", 60)+`, uid: 53502}
  - {name: good-a, uid: 53503}
  - {name: good-b, uid: 53504}
`)
	out, err := f.once()
	if err == nil {
		t.Fatalf("--once must exit non-zero when entries failed:\n%s", out)
	}
	for _, want := range []string{`name \"Bad_Name\" must consist of`, `tools[1] (no-uid): uid is required`, "at most 53 are allowed"} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not report %s:\n%s", want, out)
		}
	}
	for _, tool := range []string{"good-a", "good-b"} {
		if _, err := asTool(f.home(tool), "get", "pods"); err != nil {
			t.Errorf("%s not provisioned: %v", tool, err)
		}
	}
}
