package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/toolforge-go/toolforge/devcluster/internal/components"
)

// RestoreEtcd replaces the stopped cluster's etcd data with a snapshot
// (taken with etcd's snapshot API, which appends its hash). The snapshot
// is restored into a fresh directory first, which checks its hash: a
// corrupt snapshot is refused before the cluster's data is touched. The
// data it replaces is kept beside it.
func RestoreEtcd(dir, snapshotFile string, msgs io.Writer) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	l := Layout{Dir: abs}
	if running(l) {
		return fmt.Errorf("devcluster in %s is running: stop it first (devcluster stop --dir %s)", abs, abs)
	}
	if _, err := os.Stat(snapshotFile); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	mgr := snapshot.NewV3(zap.NewNop())
	st, err := mgr.Status(snapshotFile)
	if err != nil {
		return fmt.Errorf("snapshot %s is not an etcd snapshot: %w", snapshotFile, err)
	}
	fresh := l.EtcdData() + ".restoring"
	if err := os.RemoveAll(fresh); err != nil {
		return err
	}
	err = mgr.Restore(snapshot.RestoreConfig{
		SnapshotPath:        snapshotFile,
		Name:                components.EtcdName,
		OutputDataDir:       fresh,
		PeerURLs:            []string{"https://127.0.0.1:2380"},
		InitialCluster:      components.EtcdName + "=https://127.0.0.1:2380",
		InitialClusterToken: "devcluster",
		// Clients (the API server's watch cache, controllers' informers)
		// must never see revisions go back: start well past the
		// snapshot's, with what lies between marked compacted.
		RevisionBump:  1_000_000_000,
		MarkCompacted: true,
	})
	if err != nil {
		os.RemoveAll(fresh)
		return fmt.Errorf("snapshot %s refused, nothing changed: %w", snapshotFile, err)
	}
	if err := os.Chmod(fresh, 0o700); err != nil {
		return err
	}
	kept := ""
	if _, err := os.Stat(l.EtcdData()); err == nil {
		kept = l.EtcdData() + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(l.EtcdData(), kept); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(fresh, l.EtcdData()); err != nil {
		return err
	}
	fmt.Fprintf(msgs, "restored %s into %s: revision %d, %d keys", snapshotFile, l.EtcdData(), st.Revision, st.TotalKey)
	if kept != "" {
		fmt.Fprintf(msgs, "; the data it replaced is in %s", kept)
	}
	fmt.Fprintln(msgs)
	return nil
}
