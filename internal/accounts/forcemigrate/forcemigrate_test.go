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
