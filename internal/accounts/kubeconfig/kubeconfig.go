// Package kubeconfig keeps an account's entries in its kubeconfig,
// <home>/.kube/config: one cluster, one user and one context, merged into
// whatever else the file holds, which is the user's.
package kubeconfig

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

const kubeconfigMode = 0o600

// Target is the cluster the controller's kubeconfig entries point at, and
// how it keeps them.
type Target struct {
	// Context names the context and cluster entries (and, derived, the
	// user entries and credentials directories).
	Context string
	Server  string
	CAData  []byte
	// Gentle never sets a current-context.
	Gentle bool
	Log    *slog.Logger
}

// Write keeps user's entry in home's kubeconfig: the certificate and key in
// <home>/<certDir>, the context in namespace ("" for none).
func (t Target) Write(home *homefs.Dir, user, certDir, namespace string) (bool, error) {
	return Write(home, Entry{
		Cluster:   t.Context,
		User:      user,
		Context:   t.Context,
		Server:    t.Server,
		CAData:    t.CAData,
		CertFile:  filepath.Join(home.Path(), certDir, tenancy.CertFile),
		KeyFile:   filepath.Join(home.Path(), certDir, tenancy.KeyFile),
		Namespace: namespace,
	}, t.Gentle, t.Log)
}

// Entry is what the controller owns in a kubeconfig: one cluster, one
// user and one context. Everything else in the file is the user's.
type Entry struct {
	Cluster, User, Context string
	Server                 string
	CAData                 []byte
	CertFile, KeyFile      string
	Namespace              string
}

// merge returns cfg with the entry set, and whether anything changed.
// The current-context is the tool's choice (or a forced migration's), never
// a pass's: outside gentle mode a kubeconfig that names none (a new one)
// gets the entry's context, and one that names a context keeps it, so a
// controller of the old cluster running beside the new one never undoes a
// tool's switch. Gentle mode never sets it at all: a cluster introduced
// opt-in leaves the choice of a new kubeconfig to the cluster tools use.
func (e Entry) merge(cfg *clientcmdapi.Config, gentle bool) bool {
	changed := false
	if c, ok := cfg.Clusters[e.Cluster]; !ok || c.Server != e.Server || !bytes.Equal(c.CertificateAuthorityData, e.CAData) || c.CertificateAuthority != "" {
		cluster := clientcmdapi.NewCluster()
		if ok {
			cluster = c
		}
		cluster.Server, cluster.CertificateAuthorityData, cluster.CertificateAuthority = e.Server, e.CAData, ""
		cfg.Clusters[e.Cluster], changed = cluster, true
	}
	if u, ok := cfg.AuthInfos[e.User]; !ok || u.ClientCertificate != e.CertFile || u.ClientKey != e.KeyFile ||
		len(u.ClientCertificateData) > 0 || len(u.ClientKeyData) > 0 || u.Token != "" || u.Exec != nil {
		cfg.AuthInfos[e.User] = &clientcmdapi.AuthInfo{ClientCertificate: e.CertFile, ClientKey: e.KeyFile}
		changed = true
	}
	if c, ok := cfg.Contexts[e.Context]; !ok || c.Cluster != e.Cluster || c.AuthInfo != e.User || c.Namespace != e.Namespace {
		cfg.Contexts[e.Context] = &clientcmdapi.Context{Cluster: e.Cluster, AuthInfo: e.User, Namespace: e.Namespace}
		changed = true
	}
	if cfg.CurrentContext == "" && !gentle {
		cfg.CurrentContext, changed = e.Context, true
	}
	return changed
}

// Write merges the entry into <home>/.kube/config. A valid file is merged
// and left alone when nothing changed; an unreadable or corrupt one is kept
// as config.bak first. With gentle, the current-context is never set.
func Write(home *homefs.Dir, e Entry, gentle bool, log *slog.Logger) (bool, error) {
	dir, err := home.Subdir(tenancy.KubeconfigDir, 0o700)
	if err != nil {
		return false, err
	}
	defer dir.Close()
	if err := dir.RemoveTemporaries(); err != nil {
		return false, err
	}
	cfg := clientcmdapi.NewConfig()
	data, info, err := dir.Read(tenancy.KubeconfigFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		if err := keepBackup(dir, err, log); err != nil {
			return false, err
		}
	default:
		loaded, lerr := clientcmd.Load(data)
		if lerr != nil {
			if err := keepBackup(dir, lerr, log); err != nil {
				return false, err
			}
			break
		}
		cfg = loaded
	}
	changed := e.merge(cfg, gentle)
	if !changed && err == nil && !dir.Drifted(info, kubeconfigMode) {
		return false, nil
	}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return false, fmt.Errorf("serialise kubeconfig: %w", err)
	}
	return true, dir.Write(tenancy.KubeconfigFile, out, kubeconfigMode)
}

// keepBackup moves an unusable kubeconfig (whatever it is: a corrupt file,
// a symlink, a FIFO) to config.bak. rename moves the entry itself, so a
// symlink is moved, not followed.
func keepBackup(dir *homefs.Dir, why error, log *slog.Logger) error {
	log.Warn("kubeconfig unusable; keeping it as config.bak and writing a new one", "dir", dir.Path(), "reason", why)
	return dir.Rename(tenancy.KubeconfigFile, tenancy.KubeconfigFile+".bak")
}
