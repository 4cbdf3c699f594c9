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
	// Leftovers of killed builds of this key: nobody else holds the lock.
	if old, _ := filepath.Glob(filepath.Join(layers, "tmp-"+key+"-*")); len(old) > 0 {
		for _, o := range old {
			_ = os.RemoveAll(o)
		}
	}
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
