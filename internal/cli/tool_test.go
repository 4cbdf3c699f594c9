package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// twoClusterHome is a tool's home as two accounts controllers leave it:
// context default (certificates in .toolskube-default, written relative
// to the kubeconfig) and toolforge (.toolskube), current as given.
func twoClusterHome(t *testing.T, current string) string {
	t.Helper()
	home := t.TempDir()
	writeToolCredentials(t, home, "demo")
	if err := os.Rename(filepath.Join(home, ".toolskube"), filepath.Join(home, ".toolskube-default")); err != nil {
		t.Fatal(err)
	}
	writeToolCredentials(t, home, "demo")
	cfg := `apiVersion: v1
kind: Config
clusters:
- {name: default, cluster: {server: "https://old.example:6443"}}
- {name: toolforge, cluster: {server: "https://new.example:6443"}}
users:
- {name: default-demo, user: {client-certificate: ../.toolskube-default/client.crt, client-key: ../.toolskube-default/client.key}}
- {name: tf-demo, user: {client-certificate: ` + filepath.Join(home, ".toolskube", "client.crt") + `, client-key: ` + filepath.Join(home, ".toolskube", "client.key") + `}}
- {name: other, user: {token: abc}}
contexts:
- {name: default, context: {cluster: default, user: default-demo, namespace: tool-demo}}
- {name: toolforge, context: {cluster: toolforge, user: tf-demo, namespace: tool-demo}}
- {name: personal, context: {cluster: default, user: other}}
current-context: "` + current + `"
`
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".kube", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	return home
}

func TestTheToolActsInItsKubeconfigsCurrentContext(t *testing.T) {
	cases := []struct {
		name, current, ask string
		wantServer         string
		wantErr            string
	}{
		{"on the old cluster", "default", "", "https://old.example:6443", ""},
		{"switched to the new one", "toolforge", "", "https://new.example:6443", ""},
		{"no current context falls back to toolforge", "", "", "https://new.example:6443", ""},
		{"another context asked for (migrate)", "default", "toolforge", "https://new.example:6443", ""},
		{"a context it does not have", "default", "nowhere", "", `has no context "nowhere"`},
		{"a context without a certificate", "personal", "", "", "has no client certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			home := twoClusterHome(t, tc.current)
			tool, err := ToolIn(tc.ask)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := tool.RestConfig()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tc.wantServer || tool.Name != "demo" || tool.Namespace != "tool-demo" {
				t.Fatalf("host %s, tool %s in %s", cfg.Host, tool.Name, tool.Namespace)
			}
			wantCert := filepath.Join(home, ".toolskube", "client.crt")
			if tc.wantServer == "https://old.example:6443" {
				wantCert = filepath.Join(home, ".toolskube-default", "client.crt")
			}
			if tool.CertFile != wantCert || cfg.CertFile != wantCert {
				t.Fatalf("certificate %s (rest config %s), want %s", tool.CertFile, cfg.CertFile, wantCert)
			}
			if _, err := tool.Certificate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
