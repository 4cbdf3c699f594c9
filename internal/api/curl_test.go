package api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolforge-go/toolforge/internal/api"
	"github.com/toolforge-go/toolforge/internal/api/apitest"
)

// The checks of issues 5 and 17 as an operator would make them, with
// `curl -v` and the tools' real certificate files: the status line a
// health check or script looks for (HTTP/1.1, as the original API gateway
// answers), each service's public paths, the caller's own list and
// another tool's.
func TestCurlWithAToolsCertificate(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed (Debian package curl; .ci/run installs it)")
	}
	f := setup(t)
	ca, err := apitest.CA(context.Background(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "api-ca.crt")
	if err := os.WriteFile(caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	alpha := f.Tools["alpha"]
	withAlpha := []string{"--cert", alpha.CertFile, "--key", alpha.KeyFile}
	type curlCase struct {
		name string
		args []string
		path string
		want string // the status line curl -v shows
	}
	cases := []curlCase{
		{"tool A's certificate on tool B's jobs is 403", withAlpha, "/jobs/v1/tool/beta/jobs", "HTTP/1.1 403 Forbidden"},
		{"tool A's certificate on tool B's envvars is 403", withAlpha, "/envvars/v1/tool/beta/envvars", "HTTP/1.1 403 Forbidden"},
		{"tool A's certificate on its own jobs is 200", withAlpha, "/jobs/v1/tool/alpha/jobs", "HTTP/1.1 200 OK"},
		{"tool A's certificate on its own envvars is 200", withAlpha, "/envvars/v1/tool/alpha/envvars", "HTTP/1.1 200 OK"},
		{"no certificate on a tool path is 401", nil, "/jobs/v1/tool/alpha/jobs", "HTTP/1.1 401 Unauthorized"},
		{"the merged openapi.json needs no certificate", nil, api.RootOpenAPIPath, "HTTP/1.1 200 OK"},
	}
	for _, service := range []string{"jobs", "envvars"} {
		cases = append(cases,
			curlCase{service + " healthz needs no certificate", nil, api.HealthzPath(service), "HTTP/1.1 200 OK"},
			curlCase{service + " metrics need no certificate", nil, api.MetricsPath(service), "HTTP/1.1 200 OK"},
			curlCase{service + " openapi.json needs no certificate", nil, api.OpenAPIPath(service), "HTTP/1.1 200 OK"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-v", "-sS", "-o", "/dev/null", "--cacert", caFile}, tc.args...)
			out, err := exec.Command(curl, append(args, f.Server.URL+tc.path)...).CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v: %s", err, out)
			}
			// curl -v shows the response's status line as "< HTTP/1.1 200 OK".
			if !strings.Contains(string(out), "< "+tc.want+"\r\n") {
				t.Fatalf("curl -v %s does not show %q:\n%s", tc.path, tc.want, out)
			}
		})
	}
}
