package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/singleflight"
)

// Builder builds the catalogue's images, caching their layers on disk.
// Builds of the same layer, by goroutines of one process or by processes of
// the machine, wait for one another. A Builder is safe for concurrent use.
type Builder struct {
	// Dir is the cache directory (see CacheDir).
	Dir string
	// Mirror and SecurityMirror are the Debian archive and its security
	// archive (plain HTTP works: apt checks signatures).
	Mirror         string
	SecurityMirror string

	group singleflight.Group
}

// NewBuilder returns a builder caching in dir (CacheDir() when "") from
// deb.debian.org.
func NewBuilder(dir string) *Builder {
	if dir == "" {
		dir = CacheDir()
	}
	return &Builder{
		Dir:            dir,
		Mirror:         "http://deb.debian.org/debian",
		SecurityMirror: "http://deb.debian.org/debian-security",
	}
}

func (b *Builder) store() store { return store{dir: filepath.Join(b.Dir, "images")} }

// Build returns the image of repo (a catalogue repository such as
// toolforge-python311-sssd-base, or PauseRepo), building the layers it lacks
// and writing a line per layer built to progress. A build shared with a
// concurrent caller stops when the first caller's ctx ends.
func (b *Builder) Build(ctx context.Context, repo string, progress io.Writer) (v1.Image, error) {
	if progress == nil {
		progress = io.Discard
	}
	p, err := b.plan(repo)
	if err != nil {
		return nil, err
	}
	entries := make([]entry, len(p.layers))
	for i, l := range p.layers {
		if entries[i], err = b.ensure(ctx, l, progress); err != nil {
			return nil, fmt.Errorf("build %s: %w", repo, err)
		}
	}
	img, err := p.assemble(entries)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", repo, err)
	}
	return img, nil
}

// Status is what the cache holds of an image.
type Status struct {
	Repo   string
	Cached bool
	// Digest and Size (the layers' compressed bytes) when cached.
	Digest v1.Hash
	Size   int64
}

// Status tells whether repo's image is cached, without building anything.
func (b *Builder) Status(repo string) (Status, error) {
	p, err := b.plan(repo)
	if err != nil {
		return Status{}, err
	}
	st := Status{Repo: repo}
	entries := make([]entry, len(p.layers))
	for i, l := range p.layers {
		e, ok, err := b.store().lookup(l.key)
		if err != nil || !ok {
			return st, err
		}
		entries[i] = e
		st.Size += e.meta.Size
	}
	img, err := p.assemble(entries)
	if err != nil {
		return st, err
	}
	if st.Digest, err = img.Digest(); err != nil {
		return st, err
	}
	st.Cached = true
	return st, nil
}

// layerSpec is one layer of an image: what it is made from (key) and how.
type layerSpec struct {
	key   string
	what  string
	below []layerSpec // the layers it is built on, topmost first
	build func(ctx context.Context, b *Builder, tmp string, below []entry, log string) (layerMeta, error)
}

// ensure returns the cached entry of l, building it (and what it is built
// on) when missing.
func (b *Builder) ensure(ctx context.Context, l layerSpec, progress io.Writer) (entry, error) {
	if e, ok, err := b.store().lookup(l.key); ok || err != nil {
		return e, err
	}
	below := make([]entry, len(l.below))
	for i, bl := range l.below {
		var err error
		if below[i], err = b.ensure(ctx, bl, progress); err != nil {
			return entry{}, err
		}
	}
	v, err, _ := b.group.Do(l.key, func() (any, error) {
		return b.store().getOrMake(ctx, l.key, func(tmp string) (layerMeta, error) {
			if err := preflight(); err != nil {
				return layerMeta{}, err
			}
			log := filepath.Join(b.Dir, "images", "logs", strings.ReplaceAll(l.what, " ", "-")+".log")
			fmt.Fprintf(progress, "images: building layer %s (log: %s)\n", l.what, log)
			start := time.Now()
			meta, err := l.build(ctx, b, tmp, below, log)
			if err != nil {
				return layerMeta{}, fmt.Errorf("layer %s: %w", l.what, err)
			}
			meta.What, meta.Built, meta.Duration = l.what, start.UTC().Truncate(time.Second), time.Since(start).Round(time.Millisecond)
			fmt.Fprintf(progress, "images: built layer %s in %s (%s compressed)\n", l.what, meta.Duration.Round(100*time.Millisecond), HumanSize(meta.Size))
			return meta, nil
		})
	})
	if err != nil {
		return entry{}, err
	}
	return v.(entry), nil
}

// plan is an image: its layers, bottom first, and its configuration.
type plan struct {
	repo   string
	layers []layerSpec
	config v1.Config
	desc   string
}

func (b *Builder) plan(repo string) (plan, error) {
	if repo == PauseRepo {
		return plan{
			repo:   repo,
			layers: []layerSpec{b.pauseLayer()},
			config: v1.Config{Entrypoint: []string{"/usr/bin/catatonit", "-P"}},
			desc:   "the sandbox (pause) container: Debian's catatonit in pause mode",
		}, nil
	}
	r, ok := Lookup(repo)
	if !ok {
		return plan{}, fmt.Errorf("build %s: not in the image catalogue (devcluster images list shows it)", repo)
	}
	if r.Unavailable != "" {
		return plan{}, fmt.Errorf("build %s: cannot be built here: %s", repo, r.Unavailable)
	}
	base := b.baseLayer(r.Suite)
	layers := []layerSpec{base}
	if len(r.Packages) > 0 {
		layers = append(layers, aptLayer(r.Name+" language", r.Suite, r.Packages, r.MainArchive, layers))
	}
	p := plan{
		repo:   repo,
		config: v1.Config{Env: imageEnv(r.Env), Cmd: []string{"/bin/bash"}},
		desc:   fmt.Sprintf("Toolforge %s image for jobs, from Debian %s", r.Name, r.Suite),
	}
	if repo == r.WebRepo() {
		if len(r.WebPackages) > 0 {
			layers = append(layers, aptLayer(r.Name+" web", r.Suite, r.WebPackages, r.MainArchive, layers))
		}
		layers = append(layers, runnerLayer())
		p.config.Cmd = nil
		p.config.Entrypoint = []string{"/usr/bin/webservice-runner", "--type", r.Name}
		p.desc = fmt.Sprintf("Toolforge %s image for web services, from Debian %s", r.Name, r.Suite)
	}
	p.layers = layers
	return p, nil
}

func imageEnv(extra []string) []string {
	env := []string{"PATH=" + defaultPath, "LANG=C.UTF-8"}
	for _, e := range extra {
		if strings.HasPrefix(e, "PATH=") {
			env[0] = e
			continue
		}
		env = append(env, e)
	}
	return env
}

// assemble makes the OCI image from cached layers: no layer is read, so
// a cached image is ready at once and its digest is stable.
func (p plan) assemble(entries []entry) (v1.Image, error) {
	if len(entries) == 0 {
		return nil, errors.New("no layers")
	}
	top := entries[len(entries)-1].meta
	cfg := &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: top.Built},
		Config:       p.config,
		RootFS:       v1.RootFS{Type: "layers"},
	}
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       p.repo,
		"org.opencontainers.image.description": p.desc,
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	adds := make([]mutate.Addendum, len(entries))
	for i, e := range entries {
		l, err := e.layer()
		if err != nil {
			return nil, err
		}
		adds[i] = mutate.Addendum{Layer: l, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: e.meta.Built}, CreatedBy: "devcluster images: " + e.meta.What,
		}}
	}
	return mutate.Append(img, adds...)
}

// HumanSize formats a byte count for people.
func HumanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
}

// Prune removes cached layers that no image of the catalogue uses any more
// (left by changed recipes) and returns the bytes freed. Downloaded packages
// stay.
func (b *Builder) Prune() (int64, error) {
	used := map[string]bool{}
	var mark func(l layerSpec)
	mark = func(l layerSpec) {
		used[l.key] = true
		for _, bl := range l.below {
			mark(bl)
		}
	}
	for _, repo := range AllRepos() {
		p, err := b.plan(repo)
		if err != nil {
			return 0, err
		}
		for _, l := range p.layers {
			mark(l)
		}
	}
	return b.store().prune(used)
}
