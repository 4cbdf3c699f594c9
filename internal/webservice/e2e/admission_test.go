package e2e

import (
	"strings"
	"testing"
)

// The web service's pods pass the platform's admission, which gives them
// the tool's uid and storage (the tests' cluster runs the real
// `toolforged admission`).
func TestWebservicePodsRunAsTheToolWithItsStorage(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	tool := tools["ws-admitted"]
	mustRun(t, tool, "Starting webservice\n", webservice, "php8.2", "start")
	runningPods(t, tool, 1)
	pod := webPods(t, tool)[0]
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
	if r.code != 1 || !strings.Contains(r.stderr, `host "ws-domain.example.org"`) || !strings.Contains(r.stderr, "nothing was left running") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	assertNoWebObjects(t, tool)
}
