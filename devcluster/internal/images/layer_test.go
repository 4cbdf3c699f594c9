package images

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// readLayer lists a layer blob's entries and checks its recorded digests.
func readLayer(t *testing.T, blob string, meta layerMeta) map[string]*tar.Header {
	t.Helper()
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256(data)); got != meta.Digest.String() || int64(len(data)) != meta.Size {
		t.Errorf("digest %s size %d, recorded %s %d", got, len(data), meta.Digest, meta.Size)
	}
	f, _ := os.Open(blob)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(zr, h))
	out := map[string]*tar.Header{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = hdr
	}
	_, _ = io.Copy(io.Discard, zr)
	if got := fmt.Sprintf("sha256:%x", h.Sum(nil)); got != meta.DiffID.String() {
		t.Errorf("diff ID %s, recorded %s", got, meta.DiffID)
	}
	return out
}

func TestOverlayWhiteoutsBecomeOCIWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("making overlayfs whiteouts (device nodes, trusted xattrs) needs root")
	}
	upper := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(upper, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(upper, "etc", "kept"), []byte("x"), 0o644))
	// A deleted file: a 0/0 character device.
	must(unix.Mknod(filepath.Join(upper, "etc", "deleted"), unix.S_IFCHR, 0))
	// A directory replaced as a whole: opaque.
	must(os.MkdirAll(filepath.Join(upper, "var", "replaced"), 0o755))
	must(os.WriteFile(filepath.Join(upper, "var", "replaced", "new"), nil, 0o644))
	must(unix.Setxattr(filepath.Join(upper, "var", "replaced"), "trusted.overlay.opaque", []byte("y"), 0))

	blob := filepath.Join(t.TempDir(), "layer.tar.gz")
	meta, err := writeLayerFromDir(upper, blob, nil)
	must(err)
	entries := readLayer(t, blob, meta)
	var names []string
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, want := range []string{"etc/kept", "etc/.wh.deleted", "var/replaced/", "var/replaced/.wh..wh..opq", "var/replaced/new"} {
		if entries[want] == nil {
			t.Errorf("layer lacks %s; it has %v", want, names)
		}
	}
	if entries["etc/deleted"] != nil {
		t.Errorf("the whiteout device itself is in the layer: %v", names)
	}
	if wh := entries["etc/.wh.deleted"]; wh != nil && (wh.Typeflag != tar.TypeReg || wh.Size != 0) {
		t.Errorf("whiteout entry is type %c size %d, want an empty file", wh.Typeflag, wh.Size)
	}
	if d := entries["var/replaced/"]; d != nil {
		for k := range d.PAXRecords {
			if k == "SCHILY.xattr.trusted.overlay.opaque" {
				t.Error("the overlayfs xattr leaked into the layer")
			}
		}
	}
}

func TestLayersMadeInGoDependOnTheirContentOnly(t *testing.T) {
	files := []file{{name: "usr/", mode: 0o755}, {name: "usr/bin/", mode: 0o755}, {name: "usr/bin/x", mode: 0o755, data: []byte("#!/bin/sh\n")}}
	a, err := writeFilesLayer(files, filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(t.TempDir(), "b")
	b, err := writeFilesLayer(files, blob)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest {
		t.Errorf("digests %s and %s differ", a.Digest, b.Digest)
	}
	if h := readLayer(t, blob, b)["usr/bin/x"]; h == nil || h.Mode != 0o755 || h.Uid != 0 {
		t.Errorf("usr/bin/x: %+v", h)
	}
}
