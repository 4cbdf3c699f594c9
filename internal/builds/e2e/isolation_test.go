package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// From the attacker's side: a tool cannot read or write the build
// namespace with its own credentials, cannot reach another tool's builds
// through the API, and its pods gain no way out of the machine (the
// builds' egress proxy asks for credentials tools do not have).
func TestAToolCannotReachBuildsNotItsOwn(t *testing.T) {
	p := setup(t)
	const tool = "attacker"
	for _, args := range [][]string{
		{"get", "builds.toolforge.org", "-n", "image-build"},
		{"get", "pods", "-n", "image-build"},
		{"get", "secrets", "-n", "image-build"},
		{"get", "jobs", "-n", "image-build"},
		{"run", "sneak", "-n", "image-build", "--image", "docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest", "--", "true"},
		{"create", "job", "sneak", "-n", "image-build", "--image", "docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest"},
	} {
		r := p.kubectl(t, tool, args...)
		if r.Code == 0 || !strings.Contains(strings.ToLower(r.Stderr), "forbidden") {
			t.Errorf("kubectl %s as a tool: %s", strings.Join(args, " "), r)
		}
	}

	// Another tool's builds through the API: 403 before anything else.
	home := p.Tools[tool].Home
	cert, err := tls.LoadX509KeyPair(filepath.Join(home, tenancy.ToolCertDir, tenancy.CertFile), filepath.Join(home, tenancy.ToolCertDir, tenancy.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(context.Background(), tenancy.APIConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cm.Data[tenancy.APIConfigCA]))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	for _, path := range []string{"/builds/v1/tool/smoke/builds", "/builds/v1/tool/smoke/builds/latest/logs", "/builds/v1/tool/smoke/quotas"} {
		resp, err := hc.Get(strings.TrimSuffix(cm.Data["url"], "/") + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s as %s: %s, want 403", path, tool, resp.Status)
		}
	}

	// A tool's pod, with the catalogue's curl: the builds' egress proxy
	// refuses it without the credentials (407) and with them (403: they
	// could leak from a build's own code, so the proxy also serves build
	// pods only), and nothing beyond the machine answers directly.
	withCreds := p.Builds.Flags[indexOf(p.Builds.Flags, "--builds-proxy")+1]
	bare := "http://" + withCreds[strings.Index(withCreds, "@")+1:]
	script := fmt.Sprintf(`curl -s -o /dev/null -w 'bare:%%{http_connect}\n' -x %s https://registry.npmjs.org/ ; `+
		`curl -s -o /dev/null -w 'creds:%%{http_connect}\n' -x %s https://registry.npmjs.org/ ; `+
		`curl -s -m 5 -o /dev/null -w 'direct:%%{http_code}\n' https://registry.npmjs.org/ || echo direct:failed`, bare, withCreds)
	p.ok(t, tool, "jobs", "run", "egress", "--image", "bookworm", "--no-filelog", "--command", script, "--wait", "120")
	testcluster.Eventually(t, time.Minute, func() error {
		out := p.ok(t, tool, "jobs", "logs", "egress").Stdout
		if !strings.Contains(out, "bare:407") || !strings.Contains(out, "creds:403") || !strings.Contains(out, "direct:failed") {
			return fmt.Errorf("a tool's pod reached out: %q", out)
		}
		return nil
	})
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// The build service's state is Build objects: admins list them with
// kubectl, and a restart of the platform loses nothing.
func TestBuildsAreObjectsThatOutliveThePlatform(t *testing.T) {
	p := setup(t)
	const tool = "other"
	site := p.repo(t, "other-site", staticSite)
	p.build(t, tool, site)
	before := p.ok(t, tool, "build", "list").Stdout
	out, err := testcluster.Kubectl(context.Background(), cluster.Kubeconfig, "get", "builds", "-n", "image-build", "-l", "toolforge.org/tool="+tool)
	if err != nil || !strings.Contains(out, "Succeeded") || !strings.Contains(out, "registry.devcluster.localhost/tool-other/tool-other:latest") {
		t.Fatalf("kubectl get builds: %v\n%s", err, out)
	}
	if err := p.Platform.Stop(); err != nil {
		t.Fatal(err)
	}
	var restartErr error
	p.Platform, restartErr = cluster.StartPlatform(context.Background(), domain, p.flags...)
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	if after := p.ok(t, tool, "build", "list").Stdout; after != before {
		t.Errorf("build list before the restart:\n%s\nafter:\n%s", before, after)
	}
}

// From the attacker's side, inside a build: the app's own code runs while
// it builds (an npm preinstall script here), reads the build's registry
// token and pushes with it. Its own repository takes the push (the token
// is real); another tool's repository and a catalogue image do not. What
// it saw is in the image it built, which a job then prints.
func TestABuildsOwnCodeCannotPushToAnotherToolsRepository(t *testing.T) {
	p := setup(t)
	const tool = "attacker"
	const attack = `const fs = require('fs');
const lines = [];
async function push(repo) {
  try {
    const token = fs.readFileSync('/var/run/secrets/build/token', 'utf8').trim();
    const r = await fetch(process.env.REGISTRY + '/v2/' + repo + '/blobs/uploads/', {method: 'POST', headers: {Authorization: 'Bearer ' + token}});
    lines.push('push ' + repo + ': ' + r.status);
  } catch (e) {
    lines.push('push ' + repo + ': ' + e);
  }
}
(async () => {
  for (const repo of ['tool-attacker/tool-attacker', 'tool-smoke/tool-smoke', 'toolforge-python311-sssd-base']) {
    await push(repo);
  }
  fs.writeFileSync('attack.out', lines.join('\n') + '\n');
  console.error(lines.join('\n'));
})();
`
	url := p.repo(t, "evil", map[string]string{
		"package.json": `{"name": "evil", "version": "1.0.0", "scripts": {"preinstall": "node attack.js"}}` + "\n",
		"attack.js":    attack,
		"Procfile":     "report: cat attack.out\n",
	})
	p.build(t, tool, url, "-e", "REGISTRY=http://"+net.JoinHostPort(p.Builds.Gateway, "5000"))
	out := p.runJob(t, tool, "report", "tool-"+tool+"/tool-"+tool+":latest", "report")
	for _, want := range []string{
		"push tool-attacker/tool-attacker: 202", // the token works, for its own repository
		"push tool-smoke/tool-smoke: 401",
		"push toolforge-python311-sssd-base: 401",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the build's code saw %q, want a line %q", out, want)
		}
	}
}
