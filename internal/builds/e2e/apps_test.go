package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// build starts a build of url as tool, follows its log to the end and
// returns the log; the build must succeed.
func (p *platform) build(t *testing.T, tool, url string, args ...string) string {
	t.Helper()
	r := p.ok(t, tool, append([]string{"build", "start", url}, args...)...)
	if !strings.Contains(r.Stderr, "succeeded") {
		t.Fatalf("the build did not say it succeeded:\n%s", r)
	}
	return r.Stdout
}

// runJob runs command on image as a one-off job, waits for it and
// returns its log.
func (p *platform) runJob(t *testing.T, tool, name, image, command string) string {
	t.Helper()
	p.ok(t, tool, "jobs", "run", name, "--image", image, "--command", command, "--wait", "180")
	var log string
	testcluster.Eventually(t, time.Minute, func() error {
		log = p.ok(t, tool, "jobs", "logs", name).Stdout
		if strings.TrimSpace(log) == "" {
			return fmt.Errorf("no log yet")
		}
		return nil
	})
	return log
}

// A Python web app whose one dependency comes from the package index the
// platform is configured with (--builds-pip-index-url: here the test's
// own), run by `webservice buildservice start` behind the tool's URL; a
// rebuild after a code-only change reuses the dependency layer.
func TestAPythonWebAppWithADependencyBuildsRunsAndRebuildsReusingItsDependencies(t *testing.T) {
	p := setup(t)
	const tool = "pyapp"
	app := func(version string) map[string]string {
		return map[string]string{
			"requirements.txt": testcluster.PyPackage + "==" + testcluster.PyVersion + "\n",
			"Procfile":         "web: python3 app.py\n",
			"app.py": `import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from greeting import hello

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (hello("Toolforge") + " (` + version + `)\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
`,
		}
	}
	url := p.repo(t, "pyapp", app("v1"))
	log := p.build(t, tool, url)
	for _, want := range []string{"Detected a python app", "Installing the Python dependencies (requirements.txt)", "Successfully installed " + testcluster.PyPackage + "-" + testcluster.PyVersion} {
		if !strings.Contains(log, want) {
			t.Errorf("the build's log lacks %q:\n%s", want, log)
		}
	}
	r := p.ok(t, tool, "webservice", "buildservice", "start")
	if !strings.Contains(r.Stdout, "Starting webservice") {
		t.Errorf("webservice buildservice start: %s", r)
	}
	answers := func(want string) {
		t.Helper()
		testcluster.Eventually(t, 2*time.Minute, func() error {
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
	answers("Hello, Toolforge, from the greeting package! (v1)")
	if r := p.ok(t, tool, "webservice", "status"); !strings.Contains(r.Stdout, "webservice of type buildservice is running") {
		t.Errorf("webservice status: %s", r)
	}

	p.repo(t, "pyapp", map[string]string{"app.py": strings.Replace(app("v2")["app.py"], "(v1)", "(v2)", 1)})
	log = p.build(t, tool, url)
	if !strings.Contains(log, "Reusing the python dependency layer") || strings.Contains(log, "Installing the Python dependencies") {
		t.Errorf("the rebuild after a code-only change did not reuse the dependency layer:\n%s", log)
	}
	if r := p.ok(t, tool, "build", "show"); !strings.Contains(r.Stdout, "reused: python") {
		t.Errorf("build show: %s", r)
	}
	p.ok(t, tool, "webservice", "restart")
	answers("(v2)")
}

// A Node.js app with an npm dependency installed by `npm ci` from its lock
// file (through the builds' egress to the npm registry), run as a job.
func TestANodeAppWithAnNpmDependencyBuildsAndRunsAsAJob(t *testing.T) {
	p := setup(t)
	const tool = "nodeapp"
	url := p.repo(t, "nodeapp", map[string]string{
		"package.json": `{"name": "nodeapp", "version": "1.0.0", "dependencies": {"ms": "2.1.3"}}` + "\n",
		"package-lock.json": `{
  "name": "nodeapp",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {"name": "nodeapp", "version": "1.0.0", "dependencies": {"ms": "2.1.3"}},
    "node_modules/ms": {
      "version": "2.1.3",
      "resolved": "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz",
      "integrity": "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA=="
    }
  }
}
`,
		"Procfile": "days: node -e \"console.log('two days are', require('ms')('2 days'), 'ms')\"\n",
	})
	log := p.build(t, tool, url)
	if !strings.Contains(log, "npm ci") {
		t.Errorf("the build did not run npm ci:\n%s", log)
	}
	image := "tool-" + tool + "/tool-" + tool + ":latest"
	if out := p.runJob(t, tool, "days", image, "days"); !strings.Contains(out, "two days are 172800000 ms") {
		t.Errorf("the Procfile's process type printed %q", out)
	}
}

// A Go module with a dependency from the Go module proxy (through the
// builds' egress), its binary run as a job by name.
func TestAGoAppWithAModuleDependencyBuildsAndRunsAsAJob(t *testing.T) {
	p := setup(t)
	const tool = "goapp"
	url := p.repo(t, "goapp", map[string]string{
		"go.mod": "module example.org/uuidapp\n\ngo 1.21\n\nrequire github.com/google/uuid v1.6.0\n",
		"go.sum": "github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=\n" +
			"github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n",
		"main.go": `package main

import (
	"fmt"

	"github.com/google/uuid"
)

func main() { fmt.Println("uuid version", uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8").Version()) }
`,
	})
	p.build(t, tool, url)
	if out := p.runJob(t, tool, "uuid", "tool-"+tool+"/tool-"+tool+":latest", "uuidapp"); !strings.Contains(out, "uuid version VERSION_1") {
		t.Errorf("the Go binary printed %q", out)
	}
}

// A Python project described by pyproject.toml (its dependency from the
// platform's package index) with an Aptfile's Debian package (from the
// Debian archive, through the builds' egress), both used by the job.
func TestAPyprojectAppWithAnAptfilePackageBuildsAndRunsAsAJob(t *testing.T) {
	p := setup(t)
	const tool = "aptapp"
	url := p.repo(t, "aptapp", map[string]string{
		"pyproject.toml": `[project]
name = "aptapp"
version = "1.0"
dependencies = ["` + testcluster.PyPackage + `==` + testcluster.PyVersion + `"]

[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[tool.setuptools]
py-modules = ["aptapp"]
`,
		"aptapp.py": "from greeting import hello\nprint(hello(\"pyproject\"))\n",
		"Aptfile":   "jq\n",
		"Procfile":  "banner: echo '{\"word\": \"from-the-aptfile\"}' | jq -r .word && python3 aptapp.py\n",
	})
	log := p.build(t, tool, url)
	for _, want := range []string{"Aptfile: jq", "Downloading the Aptfile's packages", "Installing the Python dependencies (pyproject.toml)"} {
		if !strings.Contains(log, want) {
			t.Errorf("the build's log lacks %q:\n%s", want, log)
		}
	}
	out := p.runJob(t, tool, "banner", "tool-"+tool+"/tool-"+tool+":latest", "banner")
	// jq (not in the run base) printed the word alone on its line, then
	// the project's module its dependency's greeting.
	jqLine := strings.HasPrefix(out, "from-the-aptfile\n") || strings.Contains(out, "\nfrom-the-aptfile\n")
	if !jqLine || !strings.Contains(out, "Hello, pyproject, from the greeting package!") {
		t.Errorf("the job printed %q", out)
	}
}
