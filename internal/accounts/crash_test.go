package accounts_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

const crashTools = 300

// Killed with SIGKILL at random points of a first run of 300 tools and
// started again, the controller converges to exactly the state of a clean
// run: every tool complete, no CSR left over, no half-written file.
func TestKillNineDuringAFirstRunConvergesToTheSameEndState(t *testing.T) {
	f := newFixture(t)
	var accounts []account
	for i := 0; i < crashTools; i++ {
		accounts = append(accounts, account{name: fmt.Sprintf("crash-%d", i), uid: int64(57000 + i)})
	}
	f.write(accounts...)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for kill := 0; kill < 4; kill++ {
		// Alone, it knows: a lease of a killed process would hold the next
		// one back for its duration, past every kill.
		cmd := exec.Command(toolforged, f.args("--metrics-addr", "0", "--interval", "1h", "--leader-elect=false")...)
		cmd.Stdout, cmd.Stderr = nil, nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Between 0.3 s and 1.5 s: inside the pass, at a different point each time.
		delay := 300*time.Millisecond + time.Duration(rng.IntN(1200))*time.Millisecond
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		t.Logf("killed after %s", delay)
	}
	// The kills must have interrupted the work, or this test proves nothing.
	done, err := cluster.Client.CoreV1().ConfigMaps("").List(ctx(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=toolforge-accounts"})
	if err != nil {
		t.Fatal(err)
	}
	complete := 0
	for _, m := range done.Items {
		if m.Name == "maintain-kubeusers" && strings.HasPrefix(m.Namespace, "tool-crash-") {
			complete++
		}
	}
	if complete >= crashTools {
		t.Fatalf("all %d tools were complete before the last kill: the kills came too late to test anything", complete)
	}
	t.Logf("%d of %d tools complete when the controller was last killed", complete, crashTools)
	f.mustOnce()

	csrs, err := cluster.Client.CertificatesV1().CertificateSigningRequests().List(ctx(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=toolforge-accounts"})
	if err != nil {
		t.Fatal(err)
	}
	if len(csrs.Items) != 0 {
		t.Fatalf("%d CSRs left over", len(csrs.Items))
	}
	if err := filepath.WalkDir(f.homes, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), ".tf-tmp-") {
			return fmt.Errorf("half-written file left: %s", path)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	markers, err := cluster.Client.CoreV1().ConfigMaps("").List(ctx(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=toolforge-accounts"})
	if err != nil {
		t.Fatal(err)
	}
	byNS := map[string]corev1.ConfigMap{}
	for _, m := range markers.Items {
		if m.Name == "maintain-kubeusers" {
			byNS[m.Namespace] = m
		}
	}
	for _, a := range accounts {
		if err := checkComplete(f, a.name, byNS["tool-"+a.name]); err != nil {
			t.Error(err)
		}
	}
	// And the state is converged: another pass writes nothing.
	mark := markAudit(t)
	f.mustOnce()
	if w := writesSince(t, mark); len(w) != 0 {
		t.Fatalf("the recovered state was not converged; a pass wrote %d times: %v", len(w), w[:min(len(w), 10)])
	}
}

// checkComplete checks one tool is exactly as a clean run leaves it.
func checkComplete(f *fixture, tool string, marker corev1.ConfigMap) error {
	ns := "tool-" + tool
	if marker.Data["status"] != "provisioned" {
		return fmt.Errorf("%s: marker %v", tool, marker.Data)
	}
	for _, get := range []func() error{
		func() error {
			_, err := cluster.Client.CoreV1().ResourceQuotas(ns).Get(ctx(), ns, metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cluster.Client.CoreV1().LimitRanges(ns).Get(ctx(), ns, metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cluster.Client.RbacV1().RoleBindings(ns).Get(ctx(), tool+"-tool-binding", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx(), "tool-home", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err != nil {
			return fmt.Errorf("%s: %w", tool, err)
		}
	}
	home := f.home(tool)
	certPEM, err := os.ReadFile(filepath.Join(home, ".toolskube", "client.crt"))
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(filepath.Join(home, ".toolskube", "client.key"))
	if err != nil {
		return err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return fmt.Errorf("%s: credentials are not PEM", tool)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return fmt.Errorf("%s: %w", tool, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return fmt.Errorf("%s: %w", tool, err)
	}
	if !cert.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		return fmt.Errorf("%s: key and certificate do not match", tool)
	}
	if cert.Subject.CommonName != tool || marker.Data["certificate-sha256"] != fingerprint(cert) {
		return fmt.Errorf("%s: certificate CN %q, marker fingerprint mismatch", tool, cert.Subject.CommonName)
	}
	cfg, err := clientcmd.LoadFromFile(f.kubeconfig(tool))
	if err != nil {
		return fmt.Errorf("%s: kubeconfig: %w", tool, err)
	}
	if c := cfg.Contexts["toolforge"]; c == nil || c.Namespace != ns || cfg.CurrentContext != "toolforge" {
		return fmt.Errorf("%s: kubeconfig context %+v", tool, c)
	}
	return nil
}
