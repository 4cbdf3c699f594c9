package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// builderVersion is part of every cache key: bump it when the way layers are
// made changes in a way the recipe's text does not show.
const builderVersion = "1"

// CacheDir is where built layers and downloaded packages are kept, shared by
// every cluster on the machine: $DEVCLUSTER_CACHE, else
// $XDG_CACHE_HOME/devcluster, else ~/.cache/devcluster.
func CacheDir() string {
	if d := os.Getenv("DEVCLUSTER_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "devcluster")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "devcluster")
	}
	return filepath.Join(os.TempDir(), "devcluster-cache")
}

// cacheKey hashes everything a layer is made from.
func cacheKey(parts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "devcluster-images/%s\n", builderVersion)
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// layerMeta describes a cached layer's blob, so that an image is assembled
// without reading (hashing) its layers again.
type layerMeta struct {
	Digest       v1.Hash       `json:"digest"`
	DiffID       v1.Hash       `json:"diffID"`
	Size         int64         `json:"size"`
	What         string        `json:"what"`
	Built        time.Time     `json:"built"`
	Duration     time.Duration `json:"duration"`
	Uncompressed int64         `json:"uncompressedSize"`
}

// entry is one cached layer: DIR/layer.tar.gz, DIR/layer.json and, for
// layers that others are built on, DIR/rootfs (an overlayfs upper dir, or the
// whole tree for a suite's base layer).
type entry struct {
	dir  string
	meta layerMeta
}

func (e entry) rootfs() string { return filepath.Join(e.dir, "rootfs") }
func (e entry) blob() string   { return filepath.Join(e.dir, "layer.tar.gz") }

// layer is the entry's blob as a v1.Layer that knows its digests.
func (e entry) layer() (v1.Layer, error) {
	return partial.CompressedToLayer(cachedLayer{e})
}

type cachedLayer struct{ e entry }

func (l cachedLayer) Digest() (v1.Hash, error)            { return l.e.meta.Digest, nil }
func (l cachedLayer) DiffID() (v1.Hash, error)            { return l.e.meta.DiffID, nil }
func (l cachedLayer) Size() (int64, error)                { return l.e.meta.Size, nil }
func (l cachedLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l cachedLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.e.blob()) }

// store is the layer cache: DIR/layers/<key>/, made in a temporary directory
// and renamed into place, so a killed build leaves no half entry.
type store struct{ dir string }

func (s store) entryDir(key string) string { return filepath.Join(s.dir, "layers", key) }

// lookup returns the entry of key if it is complete.
func (s store) lookup(key string) (entry, bool, error) {
	dir := s.entryDir(key)
	data, err := os.ReadFile(filepath.Join(dir, "layer.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return entry{}, false, nil
	}
	if err != nil {
		return entry{}, false, fmt.Errorf("read layer cache entry: %w", err)
	}
	e := entry{dir: dir}
	if err := json.Unmarshal(data, &e.meta); err != nil {
		return entry{}, false, fmt.Errorf("read layer cache entry %s: %w", dir, err)
	}
	return e, true, nil
}

// sweep removes what killed builds left: temporary entries whose key's
// lock nobody holds (held is the key whose lock the caller holds).
func (s store) sweep(held string) {
	layers := filepath.Join(s.dir, "layers")
	tmps, _ := filepath.Glob(filepath.Join(layers, "tmp-*"))
	for _, tmp := range tmps {
		key, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(tmp), "tmp-"), "-")
		if !ok {
			continue
		}
		if key == held {
			_ = os.RemoveAll(tmp)
			continue
		}
		lock := flock.New(filepath.Join(layers, key+".lock"))
		if locked, err := lock.TryLock(); err == nil && locked {
			_ = os.RemoveAll(tmp)
			_ = lock.Unlock()
		}
	}
}

// getOrMake returns the entry of key, making it with build (into a fresh
// temporary directory) unless it exists. A file lock per key makes
// concurrent processes wait for one build.
func (s store) getOrMake(ctx context.Context, key string, build func(tmp string) (layerMeta, error)) (entry, error) {
	if e, ok, err := s.lookup(key); ok || err != nil {
		return e, err
	}
	layers := filepath.Join(s.dir, "layers")
	if err := os.MkdirAll(layers, 0o755); err != nil {
		return entry{}, fmt.Errorf("create cache: %w", err)
	}
	lock := flock.New(filepath.Join(layers, key+".lock"))
	if _, err := lock.TryLockContext(ctx, 100*time.Millisecond); err != nil {
		return entry{}, fmt.Errorf("lock cache entry %s: %w", key, err)
	}
	defer lock.Unlock()
	if e, ok, err := s.lookup(key); ok || err != nil {
		return e, err
	}
	s.sweep(key)
	tmp, err := os.MkdirTemp(layers, "tmp-"+key+"-")
	if err != nil {
		return entry{}, fmt.Errorf("create cache entry: %w", err)
	}
	defer os.RemoveAll(tmp)
	meta, err := build(tmp)
	if err != nil {
		return entry{}, err
	}
	data, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return entry{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "layer.json"), data, 0o644); err != nil {
		return entry{}, fmt.Errorf("write cache entry: %w", err)
	}
	if err := os.Rename(tmp, s.entryDir(key)); err != nil {
		return entry{}, fmt.Errorf("commit cache entry: %w", err)
	}
	return entry{dir: s.entryDir(key), meta: meta}, nil
}

// prune removes the entries whose key is not in used, each under its lock.
func (s store) prune(used map[string]bool) (int64, error) {
	layers := filepath.Join(s.dir, "layers")
	dirs, err := os.ReadDir(layers)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("prune cache: %w", err)
	}
	var freed int64
	for _, d := range dirs {
		key := d.Name()
		if !d.IsDir() || used[key] || strings.HasPrefix(key, "tmp-") {
			continue
		}
		lock := flock.New(filepath.Join(layers, key+".lock"))
		if locked, err := lock.TryLock(); err != nil || !locked {
			continue
		}
		_ = filepath.WalkDir(filepath.Join(layers, key), func(_ string, e fs.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				if info, err := e.Info(); err == nil {
					freed += info.Size()
				}
			}
			return nil
		})
		err := os.RemoveAll(filepath.Join(layers, key))
		_ = os.Remove(lock.Path())
		_ = lock.Unlock()
		if err != nil {
			return freed, fmt.Errorf("prune cache: %w", err)
		}
	}
	s.sweep("")
	return freed, nil
}
