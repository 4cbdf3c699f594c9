package forcemigrate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/toolforge-go/toolforge/internal/accountsource"
)

func kubeconfig(t *testing.T, home string, contexts ...string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for _, c := range contexts {
		cfg.Clusters[c] = &clientcmdapi.Cluster{Server: "https://" + c}
		cfg.AuthInfos[c] = &clientcmdapi.AuthInfo{Token: c}
		cfg.Contexts[c] = &clientcmdapi.Context{Cluster: c, AuthInfo: c}
	}
	cfg.CurrentContext = contexts[0]
	path := filepath.Join(home, ".kube", "config")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEveryToolIsSwitchedOnceAndAToolWithoutTheContextFails(t *testing.T) {
	dir := t.TempDir()
	homes := filepath.Join(dir, "homes")
	a := kubeconfig(t, filepath.Join(homes, "a"), "default", "toolforge")
	kubeconfig(t, filepath.Join(homes, "b"), "toolforge")
	kubeconfig(t, filepath.Join(homes, "c"), "default")
	accounts := filepath.Join(dir, "accounts.yaml")
	const uid = 50001
	if err := os.WriteFile(accounts, []byte(fmt.Sprintf("tools:\n  - {name: a, uid: %d}\n  - {name: b, uid: %d}\n  - {name: c, uid: %d}\n  - {name: d, uid: %d, home: %s}\n", uid, uid, uid, uid, filepath.Join(homes, "a"))), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{HomeRoot: homes, AdminHomeRoot: filepath.Join(dir, "admins"), ContextName: "toolforge", Workers: 2}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rep, err := Run(context.Background(), o, accountsource.File{Path: accounts}, log)
	if err == nil {
		t.Fatalf("a tool without the context must fail the run: %+v", rep)
	}
	if rep.Switched["a"] != "default" || len(rep.Already) != 1 || rep.Already[0] != "b" || rep.Failed["c"] == "" ||
		!strings.Contains(rep.Failed["d"], "is the home of tool a") {
		t.Fatalf("report %+v", rep)
	}
	if cfg, err := clientcmd.LoadFromFile(a); err != nil || cfg.CurrentContext != "toolforge" {
		t.Fatalf("a's kubeconfig: %v %v", cfg, err)
	}
	rep, _ = Run(context.Background(), o, accountsource.File{Path: accounts}, log)
	if len(rep.Switched) != 0 || len(rep.Already) != 2 {
		t.Fatalf("a second run switched %v", rep.Switched)
	}
}

type snapshotSource accountsource.Snapshot

func (s snapshotSource) Load(context.Context) (accountsource.Snapshot, error) {
	return accountsource.Snapshot(s), nil
}
func (snapshotSource) String() string { return "test" }

func TestForceMigrateSkipsDisabledAndNeverProvisionedToolsAndCountsThem(t *testing.T) {
	root := t.TempDir()
	// alpha is provisioned for both contexts and still on the old one.
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["old"] = &clientcmdapi.Cluster{Server: "https://old.example"}
	cfg.Clusters["toolforge"] = &clientcmdapi.Cluster{Server: "https://new.example"}
	cfg.AuthInfos["tf-alpha"] = &clientcmdapi.AuthInfo{Token: "x"}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "old", AuthInfo: "tf-alpha"}
	cfg.Contexts["toolforge"] = &clientcmdapi.Context{Cluster: "toolforge", AuthInfo: "tf-alpha"}
	cfg.CurrentContext = "default"
	if err := os.MkdirAll(filepath.Join(root, "alpha", ".kube"), 0o755); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(root, "alpha", ".kube", "config")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	// beta is disabled (its home is kept), gamma disabled and never had a
	// home, delta enabled but never provisioned.
	if err := os.Mkdir(filepath.Join(root, "beta"), 0o755); err != nil {
		t.Fatal(err)
	}
	uid := int64(os.Getuid())
	src := snapshotSource{Tools: []accountsource.Tool{
		{Name: "alpha", UID: uid}, {Name: "beta", UID: uid, Disabled: true},
		{Name: "gamma", UID: uid, Disabled: true}, {Name: "delta", UID: uid},
	}}
	o := Options{HomeRoot: root, AdminHomeRoot: filepath.Join(t.TempDir(), "admins"), ContextName: "toolforge", Workers: 2}
	rep, err := Run(context.Background(), o, src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("a run with disabled and unprovisioned tools failed: %v (%+v)", err, rep)
	}
	if len(rep.Switched) != 1 || rep.Switched["alpha"] != "default" || len(rep.Failed) != 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, name := range []string{"beta", "gamma", "delta"} {
		if _, ok := rep.Skipped[name]; !ok {
			t.Errorf("%s is not counted as skipped: %+v", name, rep.Skipped)
		}
	}
	if after, err := clientcmd.LoadFromFile(kubeconfig); err != nil || after.CurrentContext != "toolforge" {
		t.Fatalf("alpha after the run: %v %v", after, err)
	}
}
