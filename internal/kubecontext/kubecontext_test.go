package kubecontext

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/toolforge-go/toolforge/internal/homefs"
)

// twoClusters writes a kubeconfig with an old ("default") and a new
// ("toolforge") cluster, on the old one, and opens its home.
func twoClusters(t *testing.T) (*homefs.Dir, string) {
	t.Helper()
	home := t.TempDir()
	cfg := clientcmdapi.NewConfig()
	for _, n := range []string{"default", "toolforge"} {
		cfg.Clusters[n] = &clientcmdapi.Cluster{Server: "https://" + n + ".example:6443"}
		cfg.AuthInfos[n+"-demo"] = &clientcmdapi.AuthInfo{ClientCertificate: "/certs/" + n}
		cfg.Contexts[n] = &clientcmdapi.Context{Cluster: n, AuthInfo: n + "-demo", Namespace: "tool-demo"}
	}
	cfg.CurrentContext = "default"
	path := filepath.Join(home, ".kube", "config")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	d, err := OpenOwnHome(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, path
}

func TestUseSwitchesTheCurrentContextAndKeepsEverythingElse(t *testing.T) {
	home, path := twoClusters(t)
	prev, changed, err := Use(home, "toolforge")
	if err != nil || prev != "default" || !changed {
		t.Fatalf("Use = %q, %v, %v", prev, changed, err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "toolforge" {
		t.Fatalf("current-context %q", cfg.CurrentContext)
	}
	if len(cfg.Contexts) != 2 || len(cfg.Clusters) != 2 || cfg.AuthInfos["default-demo"].ClientCertificate != "/certs/default" {
		t.Fatalf("entries lost: %+v", cfg)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != Mode {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
}

func TestUsingTheCurrentContextAgainWritesNothing(t *testing.T) {
	home, path := twoClusters(t)
	before, _ := os.Stat(path)
	prev, changed, err := Use(home, "default")
	if err != nil || prev != "default" || changed {
		t.Fatalf("Use = %q, %v, %v", prev, changed, err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("the kubeconfig was rewritten")
	}
}

func TestAContextTheKubeconfigLacksIsRefusedAndNothingChanges(t *testing.T) {
	home, path := twoClusters(t)
	before, _ := os.ReadFile(path)
	_, _, err := Use(home, "nowhere")
	if !errors.Is(err, ErrNoContext) {
		t.Fatalf("err = %v, want ErrNoContext", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the kubeconfig changed")
	}
}

func TestASymlinkedKubeconfigIsNotFollowed(t *testing.T) {
	home, path := twoClusters(t)
	elsewhere := filepath.Join(t.TempDir(), "victim")
	if err := os.Rename(path, elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(elsewhere)
	if _, _, err := Use(home, "toolforge"); !errors.Is(err, homefs.ErrNotRegular) {
		t.Fatalf("err = %v, want ErrNotRegular", err)
	}
	if after, _ := os.ReadFile(elsewhere); string(after) != string(before) {
		t.Fatal("the symlink's target changed")
	}
}
