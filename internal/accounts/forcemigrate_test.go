package accounts

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/toolforge-go/toolforge/internal/accountsource"
)

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
	o := DefaultOptions()
	o.HomeRoot, o.Workers = root, 2
	rep, err := ForceMigrate(context.Background(), o, src, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
