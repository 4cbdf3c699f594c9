package admincli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/observer"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

const image = "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"

// probeScript asks the API server, with the pod's ServiceAccount token,
// for what an observer may and may not do, and prints the HTTP codes.
const probeScript = `sa=/var/run/secrets/kubernetes.io/serviceaccount
T=$(cat $sa/token); NS=$(cat $sa/namespace)
api() { curl -s -o /dev/null -w '%{http_code}' --cacert $sa/ca.crt -H "Authorization: Bearer $T" "$@"; }
S=https://kubernetes.default.svc
echo "pods=$(api $S/api/v1/pods) nodes=$(api $S/api/v1/nodes) deployments=$(api $S/apis/apps/v1/deployments) secrets=$(api $S/api/v1/secrets) ownsecrets=$(api $S/api/v1/namespaces/$NS/secrets) log=$(api $S/api/v1/namespaces/$NS/pods/$HOSTNAME/log) exec=$(api -X POST "$S/api/v1/namespaces/$NS/pods/$HOSTNAME/exec?command=true&stdout=true")"`

func probePod(name, serviceAccount string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"toolforge.org/mount-storage": "none"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: serviceAccount,
			RestartPolicy:      corev1.RestartPolicyNever,
			NodeSelector:       map[string]string{"type": "real"},
			Containers:         []corev1.Container{{Name: "probe", Image: image, Command: []string{"sh", "-c", probeScript}}},
		},
	}
}

// Observer access, granted by the admin and used by the tool's own pod:
// it lists pods everywhere and reads nodes, and is forbidden Secrets,
// logs and exec; no other tool can use it; disable removes every object.
func TestObserverAccessIsReadOnlyAndOnlyTheToolsOwn(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	mark := auditMark(t)
	r := f.admin(t, "observer", "enable", "alpha")
	mustSucceed(t, r, "observer enable")
	if !strings.Contains(r.stderr, "serviceAccountName: alpha-obs") {
		t.Errorf("enable says %q", r.stderr)
	}
	mustSucceed(t, f.admin(t, "observer", "enable", "alpha"), "observer enable again")
	// Written once, by alice: the second enable found nothing to do.
	patches := adminWrites(t, mark, func(e testcluster.AuditEvent) bool {
		return e.ObjectRef.Resource == "namespaces" && e.ObjectRef.Name == "tool-alpha" && e.Verb == "patch"
	})
	if len(patches) != 1 {
		t.Errorf("namespace writes by alice: %v, want one patch", patches)
	}

	r = f.admin(t, "observer", "list", "-o", "json")
	mustSucceed(t, r, "observer list")
	var list []observer.Status
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].Tool != "alpha" || !list[0].Granted {
		t.Fatalf("observer list: %v %+v", err, list)
	}

	// alpha's own pod, as alpha, through admission, on a real node.
	pod, err := f.alphaKube.CoreV1().Pods(f.alpha.Namespace).Create(ctx, probePod("observer-probe", "alpha-obs"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("alpha's pod with its observer ServiceAccount: %v", err)
	}
	t.Cleanup(func() { _ = f.alphaKube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}) })
	testcluster.Eventually(t, 3*time.Minute, func() error {
		p, err := cluster.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("probe pod %s", p.Status.Phase)
		}
		return nil
	})
	logs, err := cluster.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "pods=200 nodes=200 deployments=200 secrets=403 ownsecrets=403 log=403 exec=403"
	if strings.TrimSpace(string(logs)) != want {
		t.Errorf("the observer pod got %q, want %q", strings.TrimSpace(string(logs)), want)
	}

	// beta cannot use alpha's observer account: not in a pod of its own
	// namespace, not by a token, not by a pod in alpha's.
	_, err = f.betaKube.CoreV1().Pods(f.beta.Namespace).Create(ctx, probePod("steal", "alpha-obs"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "alpha-obs") {
		t.Errorf("beta's pod with alpha's observer ServiceAccount: %v", err)
	}
	_, err = f.betaKube.CoreV1().ServiceAccounts(f.alpha.Namespace).CreateToken(ctx, "alpha-obs",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("beta asking for a token of alpha-obs: %v, want forbidden", err)
	}
	_, err = f.betaKube.CoreV1().Pods(f.alpha.Namespace).Create(ctx, probePod("steal", "alpha-obs"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("beta's pod in alpha's namespace: %v, want forbidden", err)
	}
	// Nor can beta make itself an account of that name, or label its
	// own namespace into observer access.
	_, err = f.betaKube.CoreV1().ServiceAccounts(f.beta.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "beta-obs"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("beta making a ServiceAccount: %v, want forbidden", err)
	}
	if _, err := testcluster.Kubectl(ctx, f.beta.Kubeconfig, "label", "namespace", f.beta.Namespace, "toolforge.org/observer=enabled"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("beta labelling its namespace: %v, want forbidden", err)
	}

	r = f.admin(t, "observer", "disable", "alpha")
	mustSucceed(t, r, "observer disable")
	if _, err := cluster.Client.CoreV1().ServiceAccounts(f.alpha.Namespace).Get(ctx, "alpha-obs", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ServiceAccount alpha-obs after disable: %v", err)
	}
	if _, err := cluster.Client.RbacV1().ClusterRoleBindings().Get(ctx, "tool-observer-alpha", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRoleBinding tool-observer-alpha after disable: %v", err)
	}
	r = f.admin(t, "observer", "list")
	mustSucceed(t, r, "observer list")
	if strings.Contains(r.stdout, "alpha") {
		t.Errorf("observer list after disable:\n%s", r.stdout)
	}
}
