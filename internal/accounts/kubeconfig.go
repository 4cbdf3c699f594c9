package accounts

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

const kubeconfigMode = 0o600

// kubeEntry is what this controller owns in a kubeconfig: one cluster, one
// user and one context. Everything else in the file is the user's.
type kubeEntry struct {
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
func (e kubeEntry) merge(cfg *clientcmdapi.Config, gentle bool) bool {
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

// writeKubeconfig merges the entry into <home>/.kube/config. A valid file is
// merged and left alone when nothing changed; an unreadable or corrupt one
// is kept as config.bak first.
func (r *Reconciler) writeKubeconfig(home *homefs.Dir, e kubeEntry) (bool, error) {
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
		if err := r.keepBackup(dir, err); err != nil {
			return false, err
		}
	default:
		loaded, lerr := clientcmd.Load(data)
		if lerr != nil {
			if err := r.keepBackup(dir, lerr); err != nil {
				return false, err
			}
			break
		}
		cfg = loaded
	}
	changed := e.merge(cfg, r.opts.Gentle)
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
func (r *Reconciler) keepBackup(dir *homefs.Dir, why error) error {
	r.log.Warn("kubeconfig unusable; keeping it as config.bak and writing a new one", "dir", dir.Path(), "reason", why)
	return dir.Rename(tenancy.KubeconfigFile, tenancy.KubeconfigFile+".bak")
}
