package images

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
)

// writeLayerFromDir writes dir as a gzipped OCI layer to blobPath. An
// overlayfs upper dir's whiteouts (0/0 character devices, opaque directories)
// become OCI ".wh." entries.
func writeLayerFromDir(dir, blobPath string, include []string) (layerMeta, error) {
	rc, err := archive.TarWithOptions(dir, &archive.TarOptions{
		Compression:    compression.None,
		WhiteoutFormat: archive.OverlayWhiteoutFormat,
		IncludeFiles:   include,
	})
	if err != nil {
		return layerMeta{}, fmt.Errorf("tar %s: %w", dir, err)
	}
	defer rc.Close()
	return writeLayer(rc, blobPath)
}

// writeLayer compresses an uncompressed layer tar to blobPath, computing its
// digest (of the blob) and diff ID (of the tar) on the way.
func writeLayer(tarStream io.Reader, blobPath string) (layerMeta, error) {
	f, err := os.Create(blobPath)
	if err != nil {
		return layerMeta{}, err
	}
	defer f.Close()
	digest, diffID := sha256.New(), sha256.New()
	counted := &countWriter{w: io.MultiWriter(f, digest)}
	// Fastest level: layers are read back once per node, and the time
	// goes into every cold build.
	zw, err := gzip.NewWriterLevel(counted, gzip.BestSpeed)
	if err != nil {
		return layerMeta{}, err
	}
	n, err := io.Copy(io.MultiWriter(zw, diffID), tarStream)
	if err != nil {
		return layerMeta{}, fmt.Errorf("write layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return layerMeta{}, fmt.Errorf("write layer: %w", err)
	}
	if err := f.Close(); err != nil {
		return layerMeta{}, fmt.Errorf("write layer: %w", err)
	}
	return layerMeta{Digest: sum(digest), DiffID: sum(diffID), Size: counted.n, Uncompressed: n}, nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// file is one entry of a layer made in Go (no chroot needed).
type file struct {
	name string
	mode int64
	data []byte // nil for a directory
}

// epoch is the modification time of the files made in Go, so that their
// layers' digests depend on their content only.
var epoch = time.Unix(0, 0).UTC()

// writeFilesLayer writes a layer holding files (directories first, as listed).
func writeFilesLayer(files []file, blobPath string) (layerMeta, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for _, f := range files {
			h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX, Typeflag: tar.TypeDir}
			if f.data != nil {
				h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
			}
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := tw.Write(f.data); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	defer pr.Close()
	return writeLayer(pr, blobPath)
}
