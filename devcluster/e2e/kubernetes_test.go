package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestNodesAreReadyForKubectl(t *testing.T) {
	out := mustKubectl(t, shared.kubeconfig, "get", "nodes", "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.metadata.labels.type}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	want := map[string]bool{"node-1=real=True": true, "kwok-node-1=kwok=True": true, "kwok-node-2=kwok=True": true}
	lines := strings.Fields(out)
	for _, l := range lines {
		if !want[l] {
			t.Errorf("unexpected node (name=type=Ready): %s", l)
		}
		delete(want, l)
	}
	if len(want) > 0 {
		t.Fatalf("missing nodes %v; kubectl says:\n%s", want, out)
	}
	// The real node runs a real kubelet and container runtime.
	info := mustKubectl(t, shared.kubeconfig, "get", "node", "node-1", "-o", "jsonpath={.status.nodeInfo.kubeletVersion} {.status.nodeInfo.containerRuntimeVersion}")
	if !strings.HasPrefix(info, "v1.36") || !strings.Contains(info, "containerd://2.") {
		t.Fatalf("node-1 runs %q, want kubelet v1.36 and containerd 2.x", info)
	}
}

func TestResourceQuotaCapsADeploymentAtFourPods(t *testing.T) {
	ns := "quota-test"
	if _, err := apply(t, shared.kubeconfig, `
apiVersion: v1
kind: Namespace
metadata: {name: quota-test}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: pods, namespace: quota-test}
spec: {hard: {pods: "4"}}
`); err != nil {
		t.Fatal(err)
	}
	// The quota must be observed (status.hard set) before pods count against it.
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		q, err := shared.client.CoreV1().ResourceQuotas(ns).Get(ctx, "pods", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if q.Status.Hard.Pods().IsZero() {
			return fmt.Errorf("quota status not computed yet")
		}
		return nil
	})
	if _, err := apply(t, shared.kubeconfig, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: quota-test}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {type: kwok}
      containers: [{name: web, image: registry.k8s.io/pause:3.10}]
`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func(ctx context.Context) error {
		pods, err := shared.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
				running++
			}
		}
		if running != 4 || len(pods.Items) != 4 {
			return fmt.Errorf("%d pods, %d running; want 4 running", len(pods.Items), running)
		}
		return replicaSetQuotaFailure(ctx, ns)
	})
	q, err := shared.client.CoreV1().ResourceQuotas(ns).Get(context.Background(), "pods", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if used := q.Status.Used.Pods().Value(); used != 4 {
		t.Errorf("quota used pods = %d, want 4", used)
	}
}

func replicaSetQuotaFailure(ctx context.Context, ns string) error {
	rss, err := shared.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		return err
	}
	for _, rs := range rss.Items {
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue && strings.Contains(c.Message, "exceeded quota") {
				return nil
			}
		}
	}
	return fmt.Errorf("no ReplicaSet has a ReplicaFailure condition for the exceeded quota yet")
}

// On simulated nodes, kwok completes a Job's pods.
func TestPodsOfAJobOnSimulatedNodesComplete(t *testing.T) {
	if _, err := apply(t, shared.kubeconfig, `
apiVersion: v1
kind: Namespace
metadata: {name: job-test}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: job-test}
spec:
  template:
    spec:
      nodeSelector: {type: kwok}
      restartPolicy: Never
      containers: [{name: main, image: registry.k8s.io/busybox, command: ["true"]}]
`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func(ctx context.Context) error {
		job, err := shared.client.BatchV1().Jobs("job-test").Get(ctx, "once", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range job.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue && job.Status.Succeeded == 1 {
				return nil
			}
		}
		return fmt.Errorf("job status: %+v", job.Status)
	})
}

func TestPodSecurityAdmissionRefusesAPrivilegedPod(t *testing.T) {
	_, err := apply(t, shared.kubeconfig, `
apiVersion: v1
kind: Namespace
metadata:
  name: psa-test
  labels: {pod-security.kubernetes.io/enforce: restricted}
---
apiVersion: v1
kind: Pod
metadata: {name: root, namespace: psa-test}
spec:
  containers:
  - name: main
    image: registry.k8s.io/pause:3.10
    securityContext: {privileged: true}
`)
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("privileged pod in a restricted namespace: want a PodSecurity denial, got %v", err)
	}
	if _, err := shared.client.CoreV1().Pods("psa-test").Get(context.Background(), "root", metav1.GetOptions{}); err == nil {
		t.Fatal("the privileged pod exists")
	}
}

// A validating webhook served on loopback (URL mode) is called and its
// denial reaches the client.
func TestAdmissionWebhooksAreCalled(t *testing.T) {
	called := make(chan string, 10)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		called <- review.Request.Name
		review.Response = &admissionv1.AdmissionResponse{
			UID:     review.Request.UID,
			Allowed: review.Request.Name != "forbidden",
			Result:  &metav1.Status{Message: "the test webhook refuses configmaps named forbidden"},
		}
		_ = json.NewEncoder(w).Encode(review)
	}))
	defer srv.Close()
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: webhook-test, labels: {webhook-test: "yes"}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: e2e-test}
webhooks:
- name: e2e.devcluster.test
  clientConfig: {url: "%s/validate", caBundle: %s}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
  namespaceSelector: {matchLabels: {webhook-test: "yes"}}
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: Fail
`, srv.URL, base64(caBundle))
	if _, err := apply(t, shared.kubeconfig, manifest); err != nil {
		t.Fatal(err)
	}
	defer kubectl(t, shared.kubeconfig, "delete", "validatingwebhookconfiguration", "e2e-test")
	// Webhook configurations take effect asynchronously; retry the denial.
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		_, err := kubectl(t, shared.kubeconfig, "create", "configmap", "forbidden", "-n", "webhook-test")
		if err == nil {
			kubectl(t, shared.kubeconfig, "delete", "configmap", "forbidden", "-n", "webhook-test")
			return fmt.Errorf("configmap was admitted")
		}
		if !strings.Contains(err.Error(), "the test webhook refuses configmaps named forbidden") {
			return err
		}
		return nil
	})
	mustKubectl(t, shared.kubeconfig, "create", "configmap", "allowed", "-n", "webhook-test")
	seen := map[string]bool{}
	for len(called) > 0 {
		seen[<-called] = true
	}
	if !seen["forbidden"] || !seen["allowed"] {
		t.Fatalf("webhook saw %v, want both configmaps", seen)
	}
}

func base64(b []byte) string {
	out, _ := json.Marshal(b) // []byte marshals as base64, quoted
	return string(out)
}

// A client certificate issued through the CSR API by the cluster's signer
// authenticates its holder, who then gets exactly what RBAC grants.
func TestCSRSignedCredentialsAreSubjectToRBAC(t *testing.T) {
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "alice", Organization: []string{"devs"}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	// Not signed before approval: a watch opened before the request exists
	// sees every version of it, and none before the approval may carry a
	// certificate.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	w, err := shared.client.CertificatesV1().CertificateSigningRequests().Watch(wctx, metav1.ListOptions{FieldSelector: "metadata.name=alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := apply(t, shared.kubeconfig, fmt.Sprintf(`
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: alice}
spec:
  request: %s
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 3600
  usages: [digital signature, client auth]
`, base64(csrPEM))); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, shared.kubeconfig, "certificate", "approve", "alice")
	var certPEM []byte
	versions := 0
	for certPEM == nil {
		var ev watch.Event
		select {
		case ev = <-w.ResultChan():
		case <-wctx.Done():
			t.Fatalf("no signed version of the CSR after %d versions: %v", versions, wctx.Err())
		}
		csr, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
		if !ok {
			t.Fatalf("watch: %s %v", ev.Type, ev.Object)
		}
		versions++
		approved := false
		for _, c := range csr.Status.Conditions {
			approved = approved || c.Type == certificatesv1.CertificateApproved && c.Status == corev1.ConditionTrue
		}
		if len(csr.Status.Certificate) > 0 {
			if !approved {
				t.Fatalf("version %d (%s) of the CSR carries a certificate without the approval", versions, csr.ResourceVersion)
			}
			certPEM = csr.Status.Certificate
		}
	}
	if versions < 3 {
		t.Fatalf("the watch saw %d versions of the CSR, want its creation, its approval and its signing apart", versions)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	alice := writeUserKubeconfig(t, certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))

	who := mustKubectl(t, alice, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
	if !strings.HasPrefix(who, "alice ") || !strings.Contains(who, "devs") {
		t.Fatalf("whoami = %q, want alice in group devs", who)
	}
	mustKubectl(t, shared.kubeconfig, "create", "namespace", "rbac-test")
	if _, err := kubectl(t, alice, "get", "pods", "-n", "rbac-test"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("before any grant: want forbidden, got %v", err)
	}
	mustKubectl(t, shared.kubeconfig, "create", "role", "pod-reader", "-n", "rbac-test", "--verb=get,list", "--resource=pods")
	mustKubectl(t, shared.kubeconfig, "create", "rolebinding", "alice-reads", "-n", "rbac-test", "--role=pod-reader", "--user=alice")
	eventually(t, 10*time.Second, func(context.Context) error {
		_, err := kubectl(t, alice, "get", "pods", "-n", "rbac-test")
		return err
	})
	if _, err := kubectl(t, alice, "get", "pods", "-n", "default"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("outside the granted namespace: want forbidden, got %v", err)
	}
	if _, err := kubectl(t, alice, "create", "configmap", "not-granted", "-n", "rbac-test"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("a verb not granted: want forbidden, got %v", err)
	}
}

func writeUserKubeconfig(t *testing.T, certPEM, keyPEM []byte) string {
	t.Helper()
	admin, err := clientcmd.LoadFromFile(shared.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster := admin.Clusters[admin.Contexts[admin.CurrentContext].Cluster]
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = cluster
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// On a simulated node, kwok serves a container's logs from a file (in CRI log format) named by a
// ClusterLogs object; the API server streams them to kubectl.
func TestPodLogsAreServedFromAFileThroughTheAPIServer(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "main.log")
	if err := os.WriteFile(logFile, []byte("2026-01-01T00:00:00.000000000Z stdout F first line\n2026-01-01T00:00:01.000000000Z stdout F second line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(t, shared.kubeconfig, fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: logs-test}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {name: logs-test}
spec:
  selector: {matchNamespaces: [logs-test]}
  logs: [{containers: [main], logsFile: %q}]
---
apiVersion: v1
kind: Pod
metadata: {name: talker, namespace: logs-test}
spec:
  nodeSelector: {type: kwok}
  containers: [{name: main, image: registry.k8s.io/pause:3.10}]
`, logFile)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		out, err := kubectl(t, shared.kubeconfig, "logs", "-n", "logs-test", "talker", "-c", "main")
		if err != nil {
			return err
		}
		if out != "first line\nsecond line\n" {
			return fmt.Errorf("logs = %q", out)
		}
		return nil
	})
	if out := mustKubectl(t, shared.kubeconfig, "logs", "-n", "logs-test", "talker", "-c", "main", "--tail", "1"); out != "second line\n" {
		t.Fatalf("--tail 1 = %q", out)
	}
}
