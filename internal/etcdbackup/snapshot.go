// Package etcdbackup takes, checks, keeps and restores snapshots of the
// cluster's etcd, where Kubernetes keeps all of its state (the seeds: "It
// is not currently backed up"). A snapshot comes from etcd's own snapshot
// API (consistent: one revision of the whole keyspace), which appends the
// sha256 of the database; every snapshot is verified against that hash
// and read back (its keys counted) before it counts as taken, and again
// before a restore touches anything.
package etcdbackup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Config is how to reach etcd.
type Config struct {
	Endpoints []string
	// TLS client certificate and CA (production etcd and devcluster's
	// require client certificates); all empty for plain HTTP.
	CACert, Cert, Key string
	DialTimeout       time.Duration
}

func (c Config) tls() (*tls.Config, error) {
	if c.CACert == "" && c.Cert == "" && c.Key == "" {
		return nil, nil
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, errors.New("give both --etcd-cert and --etcd-key, or neither")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s holds no PEM certificate", c.CACert)
		}
		cfg.RootCAs = pool
	}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func (c Config) client() (*clientv3.Client, error) {
	if len(c.Endpoints) == 0 {
		return nil, errors.New("no etcd endpoint: give --etcd-endpoints (or --devcluster-dir)")
	}
	tlsCfg, err := c.tls()
	if err != nil {
		return nil, err
	}
	timeout := c.DialTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints, TLS: tlsCfg, DialTimeout: timeout, Logger: nopLogger()})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(c.Endpoints, ","), err)
	}
	return cli, nil
}

// Info is what a verified snapshot holds.
type Info struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Revision is the newest revision in the snapshot.
	Revision int64 `json:"revision"`
	// Keys are the key revisions stored (what etcdutl's status calls
	// total keys); LiveKeys the keys that exist at Revision.
	Keys     int `json:"keys"`
	LiveKeys int `json:"liveKeys"`
	// Namespaces counts Kubernetes namespaces at Revision: a quick sense
	// of what a restore brings back.
	Namespaces int `json:"namespaces"`
}

// Verify checks a snapshot file: the sha256 etcd appended matches the
// database, and the database opens and its keys read. Nothing is written.
func Verify(path string) (Info, error) {
	info := Info{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return info, err
	}
	info.Size = st.Size()
	// etcd's rule: a database is whole pages; the hash makes the size 32
	// past a multiple of 512.
	if info.Size < 512+sha256.Size || info.Size%512 != sha256.Size {
		return info, fmt.Errorf("snapshot %s (%d bytes) does not end with etcd's sha256: not a snapshot from etcd's snapshot API, or truncated", path, info.Size)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, info.Size-sha256.Size); err != nil {
		return info, fmt.Errorf("read snapshot %s: %w", path, err)
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		return info, fmt.Errorf("read snapshot %s: %w", path, err)
	}
	got := h.Sum(nil)
	if !bytes.Equal(got, want) {
		return info, fmt.Errorf("snapshot %s is corrupt: its sha256 is %x, etcd recorded %x", path, got, want)
	}
	info.SHA256 = hex.EncodeToString(got)
	if err := countKeys(path, &info); err != nil {
		return info, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return info, nil
}

// Revision keys in etcd's "key" bucket: 8 bytes main revision, '_', 8
// bytes sub revision, and a trailing 't' for a deletion (tombstone).
const revBytesLen = 8 + 1 + 8

// countKeys reads the snapshot's keyspace read-only.
func countKeys(path string, info *Info) error {
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		if b == nil {
			return errors.New("no key bucket: not an etcd v3 database")
		}
		// Revisions are in order, so the last state of each key wins.
		live := map[string]bool{}
		err := b.ForEach(func(k, v []byte) error {
			if len(k) < revBytesLen {
				return fmt.Errorf("malformed revision key %x", k)
			}
			info.Keys++
			if rev := int64(binary.BigEndian.Uint64(k[:8])); rev > info.Revision {
				info.Revision = rev
			}
			var kv mvccpb.KeyValue
			if err := kv.Unmarshal(v); err != nil {
				return fmt.Errorf("key revision %x: %w", k, err)
			}
			live[string(kv.Key)] = len(k) == revBytesLen // a tombstone has the extra byte
			return nil
		})
		if err != nil {
			return err
		}
		for k, ok := range live {
			if ok {
				info.LiveKeys++
				if strings.HasPrefix(k, "/registry/namespaces/") {
					info.Namespaces++
				}
			}
		}
		return nil
	})
}

// Snapshot is a snapshot taken and verified.
type Snapshot struct {
	Info
	Taken    time.Time     `json:"taken"`
	Duration time.Duration `json:"duration"`
}

// Prefix and Suffix frame snapshot file names: etcd-<UTC time>.db, so that
// names sort by time.
const (
	Prefix     = "etcd-"
	Suffix     = ".db"
	timeLayout = "20060102T150405.000Z"
)

// Name is the file name of a snapshot taken at t.
func Name(t time.Time) string { return Prefix + t.UTC().Format(timeLayout) + Suffix }

// Take streams a snapshot from etcd into dir, verifies it, and only then
// gives it its final name: a failed or corrupt transfer never looks like a
// backup.
func Take(ctx context.Context, cfg Config, dir string, now time.Time) (Snapshot, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Snapshot{}, fmt.Errorf("backup directory: %w", err)
	}
	cli, err := cfg.client()
	if err != nil {
		return Snapshot{}, err
	}
	defer cli.Close()
	start := time.Now()
	final := filepath.Join(dir, Name(now))
	part, err := os.CreateTemp(dir, ".partial-*"+Suffix)
	if err != nil {
		return Snapshot{}, fmt.Errorf("backup directory: %w", err)
	}
	defer os.Remove(part.Name()) // gone once renamed
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		part.Close()
		return Snapshot{}, fmt.Errorf("etcd snapshot: %w", err)
	}
	_, err = io.Copy(part, rc)
	rc.Close()
	if err == nil {
		err = part.Sync()
	}
	if cerr := part.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("receive etcd snapshot: %w", err)
	}
	info, err := Verify(part.Name())
	if err != nil {
		return Snapshot{}, fmt.Errorf("the snapshot etcd sent does not verify, not kept: %w", err)
	}
	if err := os.Rename(part.Name(), final); err != nil {
		return Snapshot{}, err
	}
	info.Path = final
	return Snapshot{Info: info, Taken: now.UTC(), Duration: time.Since(start)}, nil
}

// List are the snapshots in dir, oldest first (by name, which is by time).
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), Prefix) && strings.HasSuffix(e.Name(), Suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Prune keeps the newest keep snapshots in dir and removes the rest,
// returning what it removed. Other files are never touched.
func Prune(dir string, keep int) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("retention must keep at least 1 snapshot (got %d)", keep)
	}
	all, err := List(dir)
	if err != nil {
		return nil, err
	}
	if len(all) <= keep {
		return nil, nil
	}
	var removed []string
	var errs []error
	for _, p := range all[:len(all)-keep] {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
