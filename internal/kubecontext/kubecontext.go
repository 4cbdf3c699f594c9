// Package kubecontext reads and switches the current context of a tool's
// kubeconfig (<home>/.kube/config): which cluster the tool's kubectl and
// toolforge commands act on. Switching is how a tool moves between two
// clusters side by side (SPEC §9), whoever does it: the tool itself
// (`webservice migrate`), an admin (`toolforge-admin migration force`) or
// the accounts controller (`--force-migrate`). The file is in a home the
// tool controls, so it is read and replaced through homefs: no symlink is
// followed, and the new file is written whole and renamed into place.
package kubecontext

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Mode of a kubeconfig: it holds the paths of the tool's key.
const Mode = 0o600

// path is the kubeconfig's path relative to the home.
const path = tenancy.KubeconfigDir + "/" + tenancy.KubeconfigFile

// Read parses the kubeconfig in home. A missing one satisfies
// errors.Is(err, os.ErrNotExist).
func Read(home *homefs.Dir) (*clientcmdapi.Config, error) {
	data, _, err := home.Read(path)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", home.Path(), path, err)
	}
	return cfg, nil
}

// Current is the current context of the kubeconfig in home ("" when it
// names none).
func Current(home *homefs.Dir) (string, error) {
	cfg, err := Read(home)
	if err != nil {
		return "", err
	}
	return cfg.CurrentContext, nil
}

// ErrNoContext is a kubeconfig without the context asked for: the
// accounts controller of that cluster has not provisioned the tool yet.
var ErrNoContext = errors.New("no such context")

// Use makes ctx the current context of the kubeconfig in home and returns
// the one it replaces; changed is false when ctx already was current (the
// file is then not written). Everything else in the file is kept.
func Use(home *homefs.Dir, ctx string) (previous string, changed bool, err error) {
	cfg, err := Read(home)
	if err != nil {
		return "", false, err
	}
	previous = cfg.CurrentContext
	if _, ok := cfg.Contexts[ctx]; !ok {
		return previous, false, fmt.Errorf("%s/%s has %w %q (it has %s)", home.Path(), path, ErrNoContext, ctx, names(cfg))
	}
	if previous == ctx {
		return previous, false, nil
	}
	cfg.CurrentContext = ctx
	if err := write(home, cfg); err != nil {
		return previous, false, err
	}
	return previous, true, nil
}

func write(home *homefs.Dir, cfg *clientcmdapi.Config) error {
	dir, err := home.Subdir(tenancy.KubeconfigDir, 0o700)
	if err != nil {
		return err
	}
	defer dir.Close()
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return dir.Write(tenancy.KubeconfigFile, data, Mode)
}

func names(cfg *clientcmdapi.Config) string {
	var out []string
	for n := range cfg.Contexts {
		out = append(out, fmt.Sprintf("%q", n))
	}
	slices.Sort(out)
	if len(out) == 0 {
		return "no contexts"
	}
	return "contexts " + strings.Join(out, ", ")
}

// OpenOwnHome opens the home of the user running this process (a tool
// running its own commands): files it writes stay its own.
func OpenOwnHome(path string) (*homefs.Dir, error) {
	return homefs.OpenHome(path, homefs.Owner{UID: os.Getuid(), GID: os.Getgid()})
}
