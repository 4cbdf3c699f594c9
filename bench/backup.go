package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/etcdbackup"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var backupTools = flag.Int("backup-tools", 3000, "tools provisioned before the backup benchmark")

// benchBackup provisions N tools (kwok nodes), takes etcd backups with
// toolforge-admin (snapshot, verification, retention), and restores one
// (verify, stop, restore, start until the API server and the nodes are
// ready), then checks every tool namespace is back.
func benchBackup(ctx context.Context, r *report) error {
	toolforged, err := testcluster.BuildBinary("toolforged")
	if err != nil {
		return err
	}
	admin, err := testcluster.BuildBinary("toolforge-admin")
	if err != nil {
		return err
	}
	devcluster, err := testcluster.Binary()
	if err != nil {
		return err
	}
	c, err := testcluster.Start(ctx, testcluster.Options{Nodes: 3})
	if err != nil {
		return err
	}
	defer cleanup("stop devcluster", c.Stop)
	dir, err := os.MkdirTemp("", "bench-backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	n := *backupTools
	accountsFile, err := writeAccountsFile(dir, n)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if out, err := exec.CommandContext(ctx, toolforged, "accounts", "--once", "--kubeconfig", c.Kubeconfig, "--accounts-file", accountsFile,
		"--home-root", filepath.Join(dir, "home"), "--metrics-addr", "0", "--health-addr", "0").CombinedOutput(); err != nil {
		return fmt.Errorf("toolforged accounts --once: %w\n%s", err, tail(string(out), 20))
	}
	r.add(fmt.Sprintf("provisioning %d tools (setup)", n), "%s", secs(time.Since(t0)))
	// The controller-manager binds volumes and counts quotas for a while
	// after provisioning: back up the settled cluster, as a nightly
	// backup would find it.
	if settled, err := waitQuiet(ctx, c); err != nil {
		return err
	} else {
		r.add("  control plane busy after provisioning", "%s more", secs(settled))
	}

	snapDir := filepath.Join(dir, "snapshots")
	var last etcdbackup.Snapshot
	var walls []time.Duration
	for i := 0; i < 3; i++ {
		cmd := exec.CommandContext(ctx, admin, "etcd", "backup", "--devcluster-dir", c.Dir, "--to", snapDir, "--keep", "2", "-o", "json")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("toolforge-admin etcd backup: %w\n%s", err, errOut.String())
		}
		walls = append(walls, time.Since(t0))
		if err := json.Unmarshal(out.Bytes(), &last); err != nil {
			return fmt.Errorf("backup output: %w", err)
		}
	}
	r.add("etcd backup (toolforge-admin etcd backup: snapshot, verify, retention), 3 runs", "%s", joinDurations(walls))
	r.add("  snapshot and verification inside the last run", "%s", secs(last.Duration))
	r.add("  snapshot size", "%.1f MiB (%d bytes)", float64(last.Size)/(1<<20), last.Size)
	r.add("  keys / revisions / namespaces", "%d / %d / %d", last.LiveKeys, last.Keys, last.Namespaces)
	t0 = time.Now()
	if _, err := etcdbackup.Verify(last.Path); err != nil {
		return err
	}
	r.add("  verification alone (sha256 and every key read)", "%s", secs(time.Since(t0)))

	// Something to lose: a tool's namespace deleted after the backup.
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, "tool-tool0", metav1.DeleteOptions{}); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, admin, "etcd", "restore", last.Path, "--devcluster-dir", c.Dir, "--devcluster-bin", devcluster, "--yes")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	t0 = time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("toolforge-admin etcd restore: %w\n%s", err, errOut.String())
	}
	restore := time.Since(t0)
	r.add("restore to a ready API server and Ready nodes (verify, stop, restore, start)", "%s", secs(restore))
	ns, err := c.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: "tenancy=tool"})
	if err != nil {
		return err
	}
	back := false
	for _, x := range ns.Items {
		back = back || (x.Name == "tool-tool0" && x.DeletionTimestamp == nil)
	}
	r.check("  tool namespaces after the restore", fmt.Sprintf("%d", len(ns.Items)), fmt.Sprintf("%d, tool-tool0 back", n), len(ns.Items) == n && back)
	r.note("etcd runs without fsync on devcluster; a production etcd's snapshot streams the same database from disk")
	return nil
}
