package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// compsApp is a Python web app answering its version on $PORT.
func compsApp(version string) map[string]string {
	return map[string]string{
		"requirements.txt": testcluster.PyPackage + "==" + testcluster.PyVersion + "\n",
		"Procfile":         "web: python3 app.py\n",
		"app.py": `import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from greeting import hello

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (hello("components") + " (` + version + `)\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
`,
	}
}

type deploymentList struct {
	Data struct {
		Deployments []struct {
			DeployID   string `json:"deploy_id"`
			Status     string `json:"status"`
			LongStatus string `json:"long_status"`
			Builds     map[string]struct {
				BuildID string `json:"build_id"`
			} `json:"builds"`
		} `json:"deployments"`
	} `json:"data"`
}

// The original's components-smoke-test.bats and deploy-tests.bats, in
// their terms, with the sample repository on the devcluster git server:
// config create/show/update, deploy token create/show/refresh, a wrong
// token refused, a deployment from the CLI whose app answers through the
// ingress, a second deployment of the same commit reusing the build; then
// a push and the webhook with the token deploy the new version, which
// answers at the tool's URL.
func TestComponentsDeployFromTheCLIAndFromAPushWebhook(t *testing.T) {
	p := setup(t)
	const tool = "comps"
	url := p.repo(t, "compsapp", compsApp("v1"))
	file := func(ref string) string {
		return fmt.Sprintf(`config_version: "v1beta1"
components:
  component1:
    component_type: continuous
    build:
      repository: %s
      ref: %s
    run:
      command: web
      port: 8000
      publish: true
`, url, ref)
	}
	run := func(stdin string, args ...string) testcluster.Result {
		t.Helper()
		return p.Tools[tool].Run(t, stdin, nil, p.CLI, args...)
	}
	ok := func(stdin string, args ...string) testcluster.Result {
		t.Helper()
		r := run(stdin, args...)
		if r.Code != 0 {
			t.Fatalf("toolforge %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	list := func() deploymentList {
		t.Helper()
		var l deploymentList
		r := ok("", "components", "deployment", "list", "--json")
		if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil {
			t.Fatalf("deployment list --json: %v\n%s", err, r)
		}
		return l
	}
	// waitDone waits for the newest deployment to end, and wants it successful.
	waitDone := func() string {
		t.Helper()
		var id string
		testcluster.Eventually(t, 8*time.Minute, func() error {
			l := list()
			if len(l.Data.Deployments) == 0 {
				return fmt.Errorf("no deployments")
			}
			d := l.Data.Deployments[len(l.Data.Deployments)-1]
			id = d.DeployID
			switch d.Status {
			case "successful":
				return nil
			case "failed":
				t.Fatalf("deployment %s failed: %s", d.DeployID, d.LongStatus)
			}
			return fmt.Errorf("deployment %s is %s: %s", d.DeployID, d.Status, d.LongStatus)
		})
		return id
	}
	answers := func(want string) {
		t.Helper()
		testcluster.Eventually(t, 3*time.Minute, func() error {
			code, body, err := curl(p.webURL(tool))
			if err != nil {
				return err
			}
			if code != 200 || !strings.Contains(body, want) {
				return fmt.Errorf("%d %q", code, body)
			}
			return nil
		})
	}

	// config create, show, update (the smoke test's first three).
	run("", "components", "config", "delete", "--yes-im-sure")
	ok(file("dummy_branch"), "components", "config", "create", "-")
	ok(file("main"), "components", "config", "create", "-")
	if r := ok("", "components", "config", "show"); !strings.Contains(r.Stdout, "component1:") || !strings.Contains(r.Stdout, "ref: main") || strings.Contains(r.Stdout, "dummy_branch") {
		t.Fatalf("config show after the update:\n%s", r)
	}
	if r := run(strings.Replace(file("main"), "command:", "comand:", 1), "components", "config", "create", "-"); r.Code == 0 || !strings.Contains(r.Stderr, "components.component1.run.comand") {
		t.Errorf("a file with an unknown key: %s", r)
	}

	// Deploy tokens.
	run("", "components", "deploy-token", "delete", "--yes-im-sure")
	if r := ok("", "components", "deploy-token", "create"); !strings.Contains(r.Stdout, "Token:") {
		t.Fatalf("deploy-token create: %s", r)
	}
	tokenOf := func() string {
		var tok struct {
			Token string `json:"token"`
		}
		r := ok("", "components", "deploy-token", "show", "--json")
		if err := json.Unmarshal([]byte(r.Stdout), &tok); err != nil || tok.Token == "" {
			t.Fatalf("deploy-token show --json: %v %s", err, r)
		}
		return tok.Token
	}
	old := tokenOf()
	r := ok("", "components", "deploy-token", "refresh", "--yes-im-sure")
	token := tokenOf()
	if token == old || !strings.Contains(r.Stdout, "Token: "+token) {
		t.Fatalf("refresh: old %s, new %s, printed %s", old, token, r)
	}
	webhook := func(tok string) (string, error) {
		out, err := exec.Command("curl", "-sS", "--insecure", "-X", "POST", "https://"+p.Platform.APIAddr+"/components/v1/tool/"+tool+"/deployment?token="+tok).CombinedOutput()
		return string(out), err
	}
	if out, err := webhook("3fae991e-193c-4b86-9f6a-im1nv4l1d"); err != nil || !strings.Contains(out, "does not match the tool's token") {
		t.Fatalf("a wrong token: %v %s", err, out)
	}

	// A deployment from the CLI builds the app and runs it.
	if r := ok("", "components", "deployment", "create"); !strings.Contains(r.Stdout+r.Stderr, "created successfully") {
		t.Fatalf("deployment create: %s", r)
	}
	if r := run("", "components", "deployment", "create"); r.Code == 0 || !strings.Contains(r.Stderr, "already has a deployment in progress") {
		t.Errorf("a second deployment while one runs: %s", r)
	}
	first := waitDone()
	answers("Hello, components, from the greeting package! (v1)")
	if r := ok("", "components", "deployment", "list"); !strings.Contains(r.Stdout, "ID") || !strings.Contains(r.Stdout, "component1") {
		t.Errorf("deployment list: %s", r)
	}
	if r := ok("", "components", "deployment", "show", first); !strings.Contains(r.Stdout, first) {
		t.Errorf("deployment show: %s", r)
	}

	// A dry run of the same file says the build is reused and the job
	// left alone, and deploys nothing.
	r = ok("", "components", "deployment", "create", "--dry-run")
	if !strings.Contains(r.Stdout, "reuse build comps-") || !strings.Contains(r.Stdout, "job unchanged") {
		t.Errorf("deployment create --dry-run: %s", r)
	}
	if n := len(list().Data.Deployments); n != 1 {
		t.Errorf("%d deployments after a dry run, want 1", n)
	}

	// The same commit again reuses the build (deploy-tests.bats).
	ok("", "components", "deployment", "create")
	waitDone()
	l := list().Data.Deployments
	if a, b := l[len(l)-2].Builds["component1"].BuildID, l[len(l)-1].Builds["component1"].BuildID; a != b || a == "no-id-yet" {
		t.Errorf("the second deployment's build %s, the first's %s: want the same", b, a)
	}

	// A push, then the webhook: the new version answers.
	p.repo(t, "compsapp", map[string]string{"app.py": compsApp("v2")["app.py"]})
	out, err := webhook(token)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Messages struct {
			Info []string `json:"info"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Messages.Info) == 0 || resp.Messages.Info[0] != "Deployment for "+tool+" created successfully." {
		t.Fatalf("the webhook answered %v %s", err, out)
	}
	// The old version answers, every time, until the new one is ready
	// (through the build and the rollout); then the new one does.
	var gaps []string
	testcluster.Eventually(t, 5*time.Minute, func() error {
		code, body, err := curl(p.webURL(tool))
		switch {
		case err == nil && code == 200 && strings.Contains(body, "(v2)"):
			return nil
		case err != nil || code != 200 || !strings.Contains(body, "(v1)"):
			gaps = append(gaps, fmt.Sprintf("%d %q %v", code, body, err))
		}
		return fmt.Errorf("the new version does not answer yet")
	})
	if len(gaps) > 0 {
		t.Errorf("before the new version answered, the tool's URL answered %d time(s) without the old one: %v", len(gaps), gaps)
	}
	waitDone()
	answers("(v2)")

	// The file's JSON Schema is public, for editors.
	if out, err := exec.Command("curl", "-sS", "--insecure", "https://"+p.Platform.APIAddr+"/components/v1/schema.json").CombinedOutput(); err != nil || !strings.Contains(string(out), `"health_check_http"`) {
		t.Errorf("the JSON Schema: %v %s", err, out)
	}

	// Delete a deployment's record, the token and the file.
	if r := ok("", "components", "deployment", "delete", "--yes-im-sure", first); !strings.Contains(r.Stderr, "deleted successfully") {
		t.Errorf("deployment delete: %s", r)
	}
	ok("", "components", "deploy-token", "delete", "--yes-im-sure")
	if r := run("", "components", "deploy-token", "show"); r.Code == 0 || !strings.Contains(r.Stderr, "Unable to find") {
		t.Errorf("deploy-token show after delete: %s", r)
	}
	ok("", "components", "config", "delete", "--yes-im-sure")
	if r := run("", "components", "config", "show"); r.Code == 0 || strings.Contains(r.Stdout, "components:") {
		t.Errorf("config show after delete: %s", r)
	}
}
