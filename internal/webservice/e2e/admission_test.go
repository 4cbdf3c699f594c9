package e2e

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// takesEnvvars says the container gets the tool's envvars: admission
// adds one reference to their Secret.
func takesEnvvars(c corev1.Container) bool {
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil && e.SecretRef.Name == tenancy.EnvvarsSecret {
			return true
		}
	}
	return false
}

// The web service's pods pass the platform's admission, which gives them
// the tool's uid, storage and environment variables (the tests' cluster
// runs the real `toolforged admission`).
func TestWebservicePodsRunAsTheToolWithItsStorageAndVariables(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-admitted"]
	kube, err := tool.Client()
	if err != nil {
		t.Fatal(err)
	}
	envvars := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: tenancy.EnvvarsSecret},
		StringData: map[string]string{"GREETING": "hello"},
	}
	if _, err := kube.CoreV1().Secrets(tool.Namespace).Create(context.Background(), envvars, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, tool, "Starting webservice\n", webservice, "php8.2", "start")
	runningPods(t, tool, 1)
	pod := webPods(t, tool)[0]
	if !takesEnvvars(pod.Spec.Containers[0]) {
		t.Errorf("the web service's container does not take the envvars: envFrom %+v", pod.Spec.Containers[0].EnvFrom)
	}
	sc := pod.Spec.SecurityContext
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != tool.UID || sc.FSGroup == nil || *sc.FSGroup != tool.UID {
		t.Errorf("pod security context %+v, want uid and fsGroup %d", sc, tool.UID)
	}
	var claims []string
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims = append(claims, v.PersistentVolumeClaim.ClaimName)
		}
	}
	if !strings.Contains(strings.Join(claims, ","), "tool-home") {
		t.Errorf("claims mounted %v, want the tool's home", claims)
	}
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")
}

// A host that is not <tool>.<domain> for a configured domain is refused by
// the platform's ingress policy; the Service start had made is removed.
func TestStartUnderAnotherDomainIsRefusedAndRolledBack(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-domain"]
	r := run(t, tool, webservice, "python3.11", "start", "--domain", "example.org")
	if r.Code != 1 || !strings.Contains(r.Stderr, `host "ws-domain.example.org"`) || !strings.Contains(r.Stderr, "nothing was left running") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	assertNoWebObjects(t, tool)
}
