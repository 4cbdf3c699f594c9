// Package platformimage builds the platform's OCI image (one image, the
// static toolforged binary, every service a subcommand, and the build
// service's toolforge-builder) without Docker:
// the layers are tar archives made here from files, assembled with
// go-containerregistry. The base is made here too (not pulled): the CA
// certificates, a passwd and group naming the non-root user, and /tmp.
// Every timestamp is the commit's and every file's owner and mode are
// fixed, so the same commit gives the same digest.
package platformimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID and GID the image runs as: not root, and no tool's (tools' uids are
// 10000 and up in the original; 65532 is distroless' "nonroot").
const (
	UID = 65532
	GID = 65532
)

// Entrypoint is where the binary lives in the image.
const Entrypoint = "/toolforged"

// BuilderPath is where the build service's builder lives in the image:
// build pods copy it from there (toolforge-builder install) into the
// build image they run it in.
const BuilderPath = "/toolforge-builder"

// CACertsPath is where the CA bundle lives, Debian's path (Go reads it
// there without SSL_CERT_FILE).
const CACertsPath = "/etc/ssl/certs/ca-certificates.crt"

// Options are what an image is made from.
type Options struct {
	// Binary is the static toolforged (CGO_ENABLED=0), Builder the static
	// toolforge-builder.
	Binary, Builder string
	// CACerts is the CA bundle to ship (the build machine's Debian
	// ca-certificates bundle).
	CACerts string
	// Created is every timestamp in the image: the commit's time.
	Created time.Time
	// Version and Revision become the OCI labels.
	Version, Revision string
	// Arch is the binary's GOARCH (default: this machine's).
	Arch string
	// Programs are other static programs the image carries, by their path
	// in it (the log store, /victoria-logs, and its collector, /vlagent,
	// which the chart runs from this image), in a layer of their own.
	Programs map[string]string
}

// Build makes the image: a base layer (CA certificates, passwd, group,
// /tmp) and the binary's layer.
func Build(o Options) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the binary: %w", err)
	}
	ca, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("read the CA certificates: %w", err)
	}
	base, err := layer(o.Created, []file{
		{Name: "etc/", Mode: 0o755, Dir: true},
		{Name: "etc/group", Mode: 0o644, Data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", GID)},
		{Name: "etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
		{Name: "etc/passwd", Mode: 0o644, Data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, GID)},
		{Name: "etc/ssl/", Mode: 0o755, Dir: true},
		{Name: "etc/ssl/certs/", Mode: 0o755, Dir: true},
		{Name: CACertsPath[1:], Mode: 0o644, Data: ca},
		{Name: "home/", Mode: 0o755, Dir: true},
		{Name: "home/nonroot/", Mode: 0o700, Dir: true, UID: UID, GID: GID},
		{Name: "tmp/", Mode: 0o1777, Dir: true},
	})
	if err != nil {
		return nil, err
	}
	builder, err := os.ReadFile(o.Builder)
	if err != nil {
		return nil, fmt.Errorf("read the builder: %w", err)
	}
	builderLayer, err := layer(o.Created, []file{{Name: BuilderPath[1:], Mode: 0o755, Data: builder}})
	if err != nil {
		return nil, err
	}
	app, err := layer(o.Created, []file{{Name: Entrypoint[1:], Mode: 0o755, Data: bin}})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	adds := []mutate.Addendum{
		{Layer: base, History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "platformimage: CA certificates, passwd, group, /tmp", Comment: "base"}},
	}
	if len(o.Programs) > 0 {
		var files []file
		var names []string
		for path, src := range o.Programs {
			data, err := os.ReadFile(src)
			if err != nil {
				return nil, fmt.Errorf("read %s for %s: %w", src, path, err)
			}
			files = append(files, file{Name: strings.TrimPrefix(path, "/"), Mode: 0o755, Data: data})
			names = append(names, path)
		}
		sort.Strings(names)
		programs, err := layer(o.Created, files)
		if err != nil {
			return nil, err
		}
		// Below toolforged's and the builder's, which change with every
		// commit: this one changes only with the programs' versions.
		adds = append(adds, mutate.Addendum{Layer: programs, History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "platformimage: " + strings.Join(names, " ")}})
	}
	adds = append(adds,
		mutate.Addendum{Layer: builderLayer, History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "platformimage: " + BuilderPath}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "platformimage: " + Entrypoint}},
	)
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	arch := o.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: o.Created}
	cfg.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", UID, GID),
		Entrypoint: []string{Entrypoint},
		WorkingDir: "/",
		Env: []string{
			"PATH=/",
			"SSL_CERT_FILE=" + CACertsPath,
			"HOME=/home/nonroot",
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "toolforge",
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.revision": o.Revision,
			"org.opencontainers.image.created":  o.Created.UTC().Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cfg)
}

// file is one entry of a layer.
type file struct {
	Name     string
	Mode     int64
	Data     []byte
	Dir      bool
	UID, GID int
}

// layer is a tar of files, sorted, owned as given (root by default), all
// stamped with t: nothing of the build machine (its users, its clock, the
// order it lists a directory in) reaches the digest.
func layer(t time.Time, files []file) (v1.Layer, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name: f.Name, Mode: f.Mode, Uid: f.UID, Gid: f.GID,
			ModTime: t, AccessTime: t, ChangeTime: t,
			Format: tar.FormatPAX,
		}
		if f.Dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
