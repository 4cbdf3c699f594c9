package kubeconfig

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/toolforge-go/toolforge/internal/homefs"
)

var entry = Entry{Cluster: "toolforge", User: "tf-alpha", Context: "toolforge", Server: "https://k8s.example:6443",
	CAData: []byte("ca"), CertFile: "/h/.toolskube/client.crt", KeyFile: "/h/.toolskube/client.key", Namespace: "tool-alpha"}

func legacy() *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: "https://legacy:6443"}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	return cfg
}

func TestTheEntryIsMergedAndTheCurrentContextIsTheTools(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     func() *clientcmdapi.Config
		gentle  bool
		current string
	}{
		{"a new kubeconfig gets the entry's context", clientcmdapi.NewConfig, false, "toolforge"},
		{"gentle mode sets no context even in a new one", clientcmdapi.NewConfig, true, ""},
		{"an existing current context is kept", legacy, false, "default"},
		{"an existing current context is kept in gentle mode", legacy, true, "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			if !entry.merge(cfg, tc.gentle) {
				t.Fatal("merging into a config without the entry changed nothing")
			}
			if cfg.CurrentContext != tc.current {
				t.Fatalf("current-context %q, want %q", cfg.CurrentContext, tc.current)
			}
			if c := cfg.Contexts["toolforge"]; c == nil || c.Namespace != "tool-alpha" || c.AuthInfo != "tf-alpha" {
				t.Fatalf("context %+v", c)
			}
			if tc.cfg().CurrentContext == "default" && cfg.AuthInfos["default"] == nil {
				t.Fatal("the user's own entries were dropped")
			}
			if entry.merge(cfg, tc.gentle) {
				t.Fatal("merging twice changed something")
			}
		})
	}
}

func TestAUserEntryWithOtherCredentialsIsReplaced(t *testing.T) {
	cfg := clientcmdapi.NewConfig()
	entry.merge(cfg, false)
	cfg.AuthInfos["tf-alpha"].Token = "stolen"
	if !entry.merge(cfg, false) || cfg.AuthInfos["tf-alpha"].Token != "" {
		t.Fatalf("user entry %+v", cfg.AuthInfos["tf-alpha"])
	}
}

func TestACorruptFileIsKeptAsBakAndAConvergedOneIsNotRewritten(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".kube", "config"), []byte("not: [a kubeconfig"), 0o600); err != nil {
		t.Fatal(err)
	}
	home, err := homefs.OpenHome(dir, homefs.Owner{UID: os.Getuid(), GID: os.Getgid()})
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if changed, err := Write(home, entry, false, log); err != nil || !changed {
		t.Fatalf("write: %v %v", changed, err)
	}
	if bak, err := os.ReadFile(filepath.Join(dir, ".kube", "config.bak")); err != nil || string(bak) != "not: [a kubeconfig" {
		t.Fatalf("config.bak %q, %v", bak, err)
	}
	cfg, err := clientcmd.LoadFromFile(filepath.Join(dir, ".kube", "config"))
	if err != nil || cfg.CurrentContext != "toolforge" {
		t.Fatalf("new kubeconfig %v, %v", cfg, err)
	}
	if changed, err := Write(home, entry, false, log); err != nil || changed {
		t.Fatalf("a converged kubeconfig was rewritten: %v %v", changed, err)
	}
}
