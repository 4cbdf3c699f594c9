package accounts_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// A provisioned tool, with nothing but its home and plain kubectl, works in
// its namespace and nowhere else, and cannot loosen its own limits.
func TestAToolWorksInItsNamespaceAndCannotGetOut(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "ten-a", uid: 51001}, account{name: "ten-b", uid: 51002})
	f.mustOnce()
	home := f.home("ten-a")

	if _, err := asTool(home, "create", "deployment", "web", "--image=docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest"); err != nil {
		t.Fatalf("a tool must be able to create a Deployment in its namespace: %v", err)
	}
	if _, err := cluster.Client.AppsV1().Deployments("tool-ten-a").Get(context.Background(), "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("the Deployment is not in tool-ten-a: %v", err)
	}

	denied := []struct {
		name string
		args []string
	}{
		{"read another tool's namespace", []string{"get", "pods", "-n", "tool-ten-b"}},
		{"read another tool's secrets", []string{"get", "secrets", "-n", "tool-ten-b"}},
		{"list nodes", []string{"get", "nodes"}},
		{"list namespaces", []string{"get", "namespaces"}},
		{"edit its ResourceQuota", []string{"patch", "resourcequota", "tool-ten-a", "--type=merge", "-p", `{"spec":{"hard":{"pods":"100"}}}`}},
		{"delete its ResourceQuota", []string{"delete", "resourcequota", "tool-ten-a"}},
		{"edit its LimitRange", []string{"patch", "limitrange", "tool-ten-a", "--type=merge", "-p", `{"spec":{"limits":[]}}`}},
		{"edit its RoleBinding", []string{"patch", "rolebinding", "ten-a-tool-binding", "--type=merge", "-p", `{"subjects":[{"kind":"User","name":"ten-b","apiGroup":"rbac.authorization.k8s.io"}]}`}},
		{"create a RoleBinding", []string{"create", "rolebinding", "more", "--clusterrole=admin", "--user=ten-a"}},
		{"label its namespace", []string{"label", "namespace", "tool-ten-a", "pod-security.kubernetes.io/enforce=privileged", "--overwrite"}},
		{"create a PersistentVolume", []string{"create", "-f", writeManifest(t, `{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"steal"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/"}}}`)}},
	}
	for _, tc := range denied {
		t.Run("it is forbidden to "+tc.name, func(t *testing.T) {
			_, err := asTool(home, tc.args...)
			if err == nil || !strings.Contains(err.Error(), "forbidden") {
				t.Fatalf("want Forbidden, got %v", err)
			}
		})
	}
	t.Run("a NodePort service is refused by its quota", func(t *testing.T) {
		_, err := asTool(home, "create", "service", "nodeport", "np", "--tcp=80:8000")
		if err == nil || !strings.Contains(err.Error(), "exceeded quota") {
			t.Fatalf("want the quota to refuse a NodePort, got %v", err)
		}
	})
	t.Run("its quota and limit range are the defaults, with its own claims not counted against its 3", func(t *testing.T) {
		q, err := cluster.Client.CoreV1().ResourceQuotas("tool-ten-a").Get(context.Background(), "tool-ten-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pods := q.Spec.Hard[corev1.ResourcePods]; pods.Value() != 4 {
			t.Errorf("pods = %s", pods.String())
		}
		if pvcs := q.Spec.Hard[corev1.ResourcePersistentVolumeClaims]; pvcs.Value() != 5 {
			t.Errorf("persistentvolumeclaims = %s, want 3 + the 2 platform claims", pvcs.String())
		}
		lr, err := cluster.Client.CoreV1().LimitRanges("tool-ten-a").Get(context.Background(), "tool-ten-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if max := lr.Spec.Limits[0].Max[corev1.ResourceMemory]; max.String() != "4Gi" {
			t.Errorf("limit range max memory = %s", max.String())
		}
	})
}

func writeManifest(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The files a tool gets: credentials only it can read, a kubeconfig whose
// toolforge context points at its namespace, all owned by its uid.
func TestAToolsCredentialsAndKubeconfig(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "cred-a", uid: 51101})
	f.mustOnce()
	home := f.home("cred-a")
	for _, file := range []struct {
		path string
		mode os.FileMode
	}{
		{filepath.Join(home, ".toolskube", "client.crt"), 0o400},
		{filepath.Join(home, ".toolskube", "client.key"), 0o400},
		{filepath.Join(home, ".kube", "config"), 0o600},
	} {
		st, err := os.Lstat(file.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != file.mode || !st.Mode().IsRegular() {
			t.Errorf("%s: mode %v, want regular %v", file.path, st.Mode(), file.mode)
		}
		if os.Geteuid() == 0 {
			if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 51101 {
				t.Errorf("%s: owner %d, want the tool's uid", file.path, uid)
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(home, ".toolskube", "client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "cred-a" || strings.Join(cert.Subject.Organization, ",") != "toolforge" {
		t.Errorf("certificate subject %v, want CN=cred-a, O=toolforge", cert.Subject)
	}
	if cert.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA", cert.PublicKeyAlgorithm)
	}
	cfg, err := clientcmd.LoadFromFile(f.kubeconfig("cred-a"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts["toolforge"]
	if cfg.CurrentContext != "toolforge" || ctx == nil || ctx.Namespace != "tool-cred-a" || ctx.AuthInfo != "tf-cred-a" || ctx.Cluster != "toolforge" {
		t.Fatalf("kubeconfig current-context %q, context %+v", cfg.CurrentContext, ctx)
	}
	if who, err := asTool(home, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || who != "cred-a" {
		t.Fatalf("whoami = %q, %v", who, err)
	}
	// No CSR is left behind.
	csrs, err := cluster.Client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=toolforge-accounts"})
	if err != nil {
		t.Fatal(err)
	}
	if len(csrs.Items) != 0 {
		t.Fatalf("%d CSRs left behind", len(csrs.Items))
	}
}
