package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is every file's time in a layer: the same files make the same
// layer, so an unchanged dependency layer or launcher is the same blob
// and is never uploaded twice.
var epoch = time.Unix(0, 0).UTC()

// dirLayer makes a layer of the tree at src, placed at dst in the image
// (an absolute path), skipping the relative paths skip says to. Files
// are root's and readable by everyone (a tool's pods run as the tool's
// uid); their executable bits are kept.
func dirLayer(src, dst string, skip func(rel string) bool) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// The parents of dst, so the layer stands on any base.
	parts := strings.Split(strings.Trim(dst, "/"), "/")
	for i := range parts {
		if err := writeDir(tw, strings.Join(parts[:i+1], "/")+"/"); err != nil {
			return nil, err
		}
	}
	var paths []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		if skip != nil && skip(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", src, err)
	}
	sort.Strings(paths)
	for _, rel := range paths {
		name := strings.Trim(dst, "/") + "/" + filepath.ToSlash(rel)
		full := filepath.Join(src, rel)
		st, err := os.Lstat(full)
		if err != nil {
			return nil, err
		}
		switch {
		case st.IsDir():
			err = writeDir(tw, name+"/")
		case st.Mode()&os.ModeSymlink != 0:
			var target string
			if target, err = os.Readlink(full); err == nil {
				err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX})
			}
		case st.Mode().IsRegular():
			err = writeFile(tw, name, full, st)
		default:
			continue // sockets, devices, fifos: nothing an app ships
		}
		if err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return compressedLayer(buf.Bytes())
}

// compressedLayer compresses a layer's tar once (go-containerregistry
// would compress it again at each read: for its digest, its size and the
// push), favouring speed: builds are waited for.
func compressedLayer(data []byte) (v1.Layer, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	compressed := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(compressed)), nil })
}

func writeDir(tw *tar.Writer, name string) error {
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
}

func writeFile(tw *tar.Writer, name, full string, st os.FileInfo) error {
	mode := int64(0o644)
	if st.Mode()&0o111 != 0 {
		mode = 0o755
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: st.Size(), Mode: mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return err
	}
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// filesLayer makes a layer of in-memory files (absolute path → content,
// mode).
func filesLayer(files map[string]fileSpec) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		parts := strings.Split(strings.Trim(n, "/"), "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !dirs[d] {
				dirs[d] = true
				if err := writeDir(tw, d); err != nil {
					return nil, err
				}
			}
		}
		f := files[n]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.Trim(n, "/"), Size: int64(len(f.data)), Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return compressedLayer(buf.Bytes())
}

type fileSpec struct {
	data []byte
	mode int64
}
