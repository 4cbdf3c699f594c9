// Package builder turns a git repository into a tool's image, in a build
// pod of the image-build namespace. It follows the buildpacks model
// without its lifecycle: it clones the repository with git, detects the
// app (Procfile process types, an Aptfile, Python, Node.js, Go or a
// static site), builds its dependencies into layers, keyed by the hash of
// their lock or requirements file so that an unchanged one is reused from
// the previous image, assembles the image with go-containerregistry on
// the catalogue's image of the same Debian release (the run base), adds
// the launcher, and pushes it with a token scoped to the tool's
// repository.
package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Paths in the build pod and in the image: the app and its layers live at
// the same paths in both, so that what a step makes (a virtualenv's
// scripts name their interpreter by path) works where it runs.
const (
	AppDir       = "/app"
	LayersDir    = "/layers"
	VenvDir      = LayersDir + "/python/venv"
	GoBinDir     = LayersDir + "/go/bin"
	AptDir       = LayersDir + "/apt"
	LauncherPath = "/usr/local/bin/launcher"
	// ProcessesFile holds the process types the launcher runs.
	ProcessesFile = LayersDir + "/launcher/processes.json"
)

// Labels the builder writes on its images.
const (
	labelCachePrefix = "org.toolforge.cache."
	labelKind        = "org.toolforge.build.language"
	labelSource      = "org.opencontainers.image.source"
	labelRevision    = "org.opencontainers.image.revision"
)

// Options are one build's inputs.
type Options struct {
	Source, Ref string
	// Image is the repository the image is pushed to, as pods pull it
	// (<registry>/tool-<tool>/<name>), and Tags its tags (latest, the
	// build's ID).
	Image string
	Tags  []string
	// Bases are the run base image of each language.
	Bases map[string]string
	// Mirrors send a registry host's requests to another URL (devcluster's
	// registry answers on the nodes' gateway).
	Mirrors map[string]string
	// Token is the bearer token for the push ("" when the registry asks
	// for none).
	Token string
	// Env is the build's environment variables (the user's -e and the
	// package sources' settings).
	Env map[string]string
	// UseLatestVersions ignores lock files.
	UseLatestVersions bool
	// DebianMirror and DebianSuite are where Aptfile packages come from.
	DebianMirror, DebianSuite string
	// WorkDir is scratch space; AppDir and LayersDir are overridable for
	// tests (in the pod they are the constants above).
	WorkDir, AppDir, LayersDir string
	// Self is the builder's own binary, copied into the image as the
	// launcher.
	Self string
	Log  io.Writer
}

// Result is what a build made, written for the platform to read.
type Result struct {
	Image    string `json:"image"`
	Digest   string `json:"digest"`
	Language string `json:"language"`
	Commit   string `json:"commit"`
	Size     int64  `json:"size"`
	// Reused names the dependency layers taken from the previous image.
	Reused []string `json:"reused,omitempty"`
}

// Build runs one build.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	if o.AppDir == "" {
		o.AppDir = AppDir
	}
	if o.LayersDir == "" {
		o.LayersDir = LayersDir
	}
	step(o.Log, "Cloning %s (ref %s)", o.Source, refOrHead(o.Ref))
	commit, err := Clone(ctx, o.Source, o.Ref, o.AppDir, o.Log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "Checked out commit %s\n", commit)
	plan, err := Detect(o.AppDir)
	if err != nil {
		return nil, err
	}
	step(o.Log, "Detected a %s app%s", plan.Language, processesNote(plan))
	baseRef, ok := o.Bases[plan.Language]
	if !ok {
		return nil, fmt.Errorf("the build service has no run base image for %s apps", plan.Language)
	}
	opts := o.remoteOptions(ctx)
	base, err := o.readImage(baseRef, opts)
	if err != nil {
		return nil, fmt.Errorf("run base image %s: %w", baseRef, err)
	}
	baseDigest, err := base.Digest()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "Run base: %s@%s\n", baseRef, baseDigest)
	prev := o.previous(opts)

	env := o.buildEnv()
	var layers []mutate.Addendum
	labels := map[string]string{labelKind: plan.Language, labelSource: o.Source, labelRevision: commit}
	var reused []string
	add := func(step string, key string, make func() (v1.Layer, error)) error {
		l, hit, err := o.cachedLayer(prev, step, key, make)
		if err != nil {
			return err
		}
		if hit {
			reused = append(reused, step)
		}
		diff, err := l.DiffID()
		if err != nil {
			return err
		}
		labels[labelCachePrefix+step] = key
		labels[labelCachePrefix+step+".diffid"] = diff.String()
		layers = append(layers, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "toolforge-builder: " + step, Created: v1.Time{Time: epoch}}})
		return nil
	}
	if len(plan.Aptfile) > 0 {
		key := hashOf(baseDigest.String(), o.DebianMirror, strings.Join(plan.Aptfile, "\n"))
		if err := add("apt", key, func() (v1.Layer, error) { return o.aptLayer(ctx, plan.Aptfile, base, env) }); err != nil {
			return nil, err
		}
	}
	switch plan.Language {
	case Python:
		key, err := o.depsKey(plan, baseDigest.String())
		if err != nil {
			return nil, err
		}
		if err := add("python", key, func() (v1.Layer, error) { return o.pythonLayer(ctx, plan, env) }); err != nil {
			return nil, err
		}
	case Node:
		key, err := o.depsKey(plan, baseDigest.String())
		if err != nil {
			return nil, err
		}
		if err := add("node", key, func() (v1.Layer, error) { return o.nodeLayer(ctx, env) }); err != nil {
			return nil, err
		}
	case Go:
		// The binaries are the app's code: built every time (the modules
		// come from the Go proxy).
		step(o.Log, "Building the Go module")
		l, err := o.goLayer(ctx, env)
		if err != nil {
			return nil, err
		}
		layers = append(layers, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "toolforge-builder: go build", Created: v1.Time{Time: epoch}}})
	}
	step(o.Log, "Adding the app and the launcher")
	app, err := dirLayer(o.AppDir, AppDir, func(rel string) bool {
		return rel == ".git" || (plan.Language == Node && rel == "node_modules")
	})
	if err != nil {
		return nil, err
	}
	launcher, err := o.launcherLayers(plan)
	if err != nil {
		return nil, err
	}
	layers = append(layers, mutate.Addendum{Layer: app, History: v1.History{CreatedBy: "toolforge-builder: the app at " + commit, Created: v1.Time{Time: epoch}}})
	layers = append(layers, launcher...)

	img, err := mutate.Append(base, layers...)
	if err != nil {
		return nil, err
	}
	img, err = o.configure(img, plan, labels)
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	step(o.Log, "Pushing %s", o.Image)
	if err := o.push(img, opts); err != nil {
		return nil, err
	}
	size, err := imageSize(img)
	if err != nil {
		return nil, err
	}
	sort.Strings(reused)
	if len(reused) > 0 {
		fmt.Fprintf(o.Log, "Reused from the previous image (unchanged dependencies): %s\n", strings.Join(reused, ", "))
	}
	fmt.Fprintf(o.Log, "Built %s@%s (%s) in %s\n", o.Image, digest, humanBytes(size), time.Since(start).Round(100*time.Millisecond))
	return &Result{Image: o.Image, Digest: digest.String(), Language: plan.Language, Commit: commit, Size: size, Reused: reused}, nil
}

func refOrHead(ref string) string {
	if ref == "" {
		return "HEAD"
	}
	return ref
}

func processesNote(p *Plan) string {
	if len(p.Processes) == 0 {
		return ""
	}
	names := make([]string, 0, len(p.Processes))
	for n := range p.Processes {
		names = append(names, n)
	}
	sort.Strings(names)
	note := "; process types: " + strings.Join(names, ", ")
	if len(p.Aptfile) > 0 {
		note += "; Aptfile: " + strings.Join(p.Aptfile, " ")
	}
	return note
}

// step prints a step's header in the build's log.
func step(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "==> "+format+"\n", args...)
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// depsKey is the hash of the dependency file, the run base (a new
// interpreter needs new packages) and whether lock files count.
func (o Options) depsKey(plan *Plan, baseDigest string) (string, error) {
	data, err := os.ReadFile(filepath.Join(o.AppDir, plan.DepsFile))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hashOf(plan.DepsFile, hex.EncodeToString(sum[:]), baseDigest, fmt.Sprint(o.UseLatestVersions)), nil
}

// cachedLayer is the previous image's layer for step when it was made
// from the same key, else a new one.
func (o Options) cachedLayer(prev v1.Image, step, key string, make func() (v1.Layer, error)) (v1.Layer, bool, error) {
	if prev != nil {
		if cfg, err := prev.ConfigFile(); err == nil && cfg.Config.Labels[labelCachePrefix+step] == key {
			if diff, err := v1.NewHash(cfg.Config.Labels[labelCachePrefix+step+".diffid"]); err == nil {
				if l, err := prev.LayerByDiffID(diff); err == nil {
					fmt.Fprintf(o.Log, "==> Reusing the %s dependency layer (%s unchanged)\n", step, "its inputs")
					return l, true, nil
				}
			}
		}
	}
	l, err := make()
	return l, false, err
}

// previous is the image last pushed under the first tag, if any (its
// layers are the cache).
func (o Options) previous(opts []remote.Option) v1.Image {
	if len(o.Tags) == 0 {
		return nil
	}
	ref, err := o.reference(o.Image + ":" + o.Tags[0])
	if err != nil {
		return nil
	}
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil
	}
	return img
}

func (o Options) readImage(ref string, opts []remote.Option) (v1.Image, error) {
	r, err := o.reference(ref)
	if err != nil {
		return nil, err
	}
	return remote.Image(r, opts...)
}

func (o Options) remoteOptions(ctx context.Context) []remote.Option {
	auth := authn.Anonymous
	if o.Token != "" {
		auth = authn.FromConfig(authn.AuthConfig{RegistryToken: o.Token})
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
}

func (o Options) push(img v1.Image, opts []remote.Option) error {
	if len(o.Tags) == 0 {
		return errors.New("no tag to push")
	}
	first, err := o.reference(o.Image + ":" + o.Tags[0])
	if err != nil {
		return err
	}
	if err := remote.Write(first, img, opts...); err != nil {
		return fmt.Errorf("push %s: %w", first, err)
	}
	for _, t := range o.Tags[1:] {
		ref, err := o.reference(o.Image + ":" + t)
		if err != nil {
			return err
		}
		tag, ok := ref.(name.Tag)
		if !ok {
			return fmt.Errorf("%s is not a tag", ref)
		}
		if err := remote.Tag(tag, img, opts...); err != nil {
			return fmt.Errorf("tag %s: %w", tag, err)
		}
	}
	return nil
}

func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return size, nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// WriteResult writes the result as JSON to file (the pod's termination
// message, which the platform reads).
func WriteResult(file string, r *Result) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o600)
}
