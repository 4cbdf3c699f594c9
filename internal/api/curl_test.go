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

// The checks of issue 5 as an operator would make them, with curl and the
// tools' real certificate files.
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
	cases := []struct {
		name string
		args []string
		path string
		want string
	}{
		{"tool A's certificate on tool B's path is 403", withAlpha, "/jobs/v1/tool/beta/jobs", "403"},
		{"tool A's certificate on its own path is 200", withAlpha, "/jobs/v1/tool/alpha/jobs", "200"},
		{"no certificate on a tool path is 401", nil, "/jobs/v1/tool/alpha/jobs", "401"},
		{"healthz needs no certificate", nil, api.HealthzPath, "200"},
		{"metrics need no certificate", nil, api.MetricsPath, "200"},
		{"openapi.json needs no certificate", nil, api.OpenAPIPath, "200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caFile}, tc.args...)
			out, err := exec.Command(curl, append(args, f.Server.URL+tc.path)...).CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v: %s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Fatalf("curl %s = %s, want %s", tc.path, got, tc.want)
			}
		})
	}
}
