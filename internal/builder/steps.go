package builder

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// buildEnv is the environment of the build's steps: the pod's, the
// package sources' settings and the user's variables, HOME in scratch
// space (a build has no home).
func (o Options) buildEnv() []string {
	env := os.Environ()
	home := filepath.Join(o.WorkDir, "home")
	_ = os.MkdirAll(home, 0o755)
	env = append(env, gitEnv...)
	env = append(env, "HOME="+home, "GOCACHE="+filepath.Join(o.WorkDir, "gocache"), "GOMODCACHE="+filepath.Join(o.WorkDir, "gomod"),
		"PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1", "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	keys := make([]string, 0, len(o.Env))
	for k := range o.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+o.Env[k])
	}
	return env
}

// run runs a step's command in dir, its output in the build's log.
func (o Options) run(ctx context.Context, dir string, env []string, name string, args ...string) error {
	fmt.Fprintf(o.Log, "$ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...) //nolint:gosec // G204: a build step's tool (pip, npm, go, apt-get), no shell
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, o.Log, o.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func (o Options) venvDir() string { return filepath.Join(o.LayersDir, "python", "venv") }

// projectWheel builds a pyproject.toml project into a wheel with the build
// image's Python and its build backend (setuptools): the app's venv has no
// backend of its own, and the package index need not serve one. The venv
// then installs the wheel and, from the index, its dependencies.
func (o Options) projectWheel(ctx context.Context, env []string) (string, error) {
	dir := filepath.Join(o.WorkDir, "wheel")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := o.run(ctx, o.AppDir, env, "python3", "-m", "pip", "wheel", "--no-input", "--no-deps", "--no-build-isolation", "--wheel-dir", dir, "."); err != nil {
		return "", fmt.Errorf("building the project of pyproject.toml failed (its build-backend must be setuptools.build_meta, the one the builder has): %w", err)
	}
	wheels, err := filepath.Glob(filepath.Join(dir, "*.whl"))
	if err != nil || len(wheels) != 1 {
		return "", fmt.Errorf("building the project of pyproject.toml made %d wheels, want one (%v)", len(wheels), err)
	}
	return wheels[0], nil
}

// pythonLayer makes a virtualenv with the app's requirements.
func (o Options) pythonLayer(ctx context.Context, plan *Plan, env []string) (v1.Layer, error) {
	step(o.Log, "Installing the Python dependencies (%s)", plan.DepsFile)
	venv := o.venvDir()
	if err := os.RemoveAll(venv); err != nil {
		return nil, err
	}
	// The venv gets no pip of its own (the build image's installs into
	// it): the layer is the app's packages only.
	if err := o.run(ctx, o.AppDir, env, "python3", "-m", "venv", "--without-pip", venv); err != nil {
		return nil, err
	}
	args := []string{"-m", "pip", "--python", filepath.Join(venv, "bin", "python"), "install", "--no-input"}
	if o.UseLatestVersions {
		args = append(args, "--upgrade", "--upgrade-strategy", "eager")
	}
	if plan.DepsFile == "requirements.txt" {
		args = append(args, "-r", "requirements.txt")
	} else {
		wheel, err := o.projectWheel(ctx, env)
		if err != nil {
			return nil, err
		}
		args = append(args, wheel)
	}
	if err := o.run(ctx, o.AppDir, env, "python3", args...); err != nil {
		return nil, fmt.Errorf("installing the Python dependencies failed (the package index is %s): %w", envValue(env, "PIP_INDEX_URL", "pip's default"), err)
	}
	return dirLayer(venv, VenvDir, func(rel string) bool { return strings.HasSuffix(rel, "__pycache__") })
}

// nodeLayer installs node_modules: `npm ci` from the lock file.
func (o Options) nodeLayer(ctx context.Context, env []string) (v1.Layer, error) {
	_, lockErr := os.Stat(filepath.Join(o.AppDir, "package-lock.json"))
	args := []string{"ci", "--omit=dev"}
	if lockErr != nil || o.UseLatestVersions {
		args = []string{"install", "--omit=dev", "--no-package-lock"}
	}
	step(o.Log, "Installing the Node.js dependencies (npm %s)", args[0])
	if err := o.run(ctx, o.AppDir, env, "npm", args...); err != nil {
		return nil, fmt.Errorf("installing the Node.js dependencies failed (the npm registry is %s): %w", envValue(env, "npm_config_registry", "npm's default"), err)
	}
	modules := filepath.Join(o.AppDir, "node_modules")
	if err := os.MkdirAll(modules, 0o755); err != nil {
		return nil, err
	}
	return dirLayer(modules, AppDir+"/node_modules", nil)
}

// goLayer builds every main package of the module.
func (o Options) goLayer(ctx context.Context, env []string) (v1.Layer, error) {
	bin := filepath.Join(o.LayersDir, "go", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	env = append(env, "CGO_ENABLED=0")
	if err := o.run(ctx, o.AppDir, env, "go", "build", "-trimpath", "-o", bin+"/", "./..."); err != nil {
		return nil, fmt.Errorf("go build failed (the Go module proxy is %s): %w", envValue(env, "GOPROXY", "Go's default"), err)
	}
	return dirLayer(bin, GoBinDir, nil)
}

// aptLayer downloads the Aptfile's packages, and those they depend on
// that the run base lacks (apt reads the run base's own package status),
// and unpacks them under /layers/apt. No root is needed: nothing is
// installed in the build pod itself.
func (o Options) aptLayer(ctx context.Context, pkgs []string, base v1.Image, env []string) (v1.Layer, error) {
	step(o.Log, "Downloading the Aptfile's packages from %s", o.DebianMirror)
	dir := filepath.Join(o.WorkDir, "apt")
	for _, d := range []string{"state/lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	status, err := fileFromImage(base, "var/lib/dpkg/status")
	if err != nil {
		return nil, fmt.Errorf("read the run base's package status: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), status, 0o600); err != nil {
		return nil, err
	}
	sources := fmt.Sprintf("deb %s %s main\n", o.DebianMirror, o.DebianSuite)
	if err := os.WriteFile(filepath.Join(dir, "sources.list"), []byte(sources), 0o600); err != nil {
		return nil, err
	}
	aptOpts := []string{
		"-o", "Dir::State=" + filepath.Join(dir, "state"),
		"-o", "Dir::State::status=" + filepath.Join(dir, "status"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "Dir::Etc::SourceList=" + filepath.Join(dir, "sources.list"),
		"-o", "Dir::Etc::SourceParts=/nonexistent",
		"-o", "Debug::NoLocking=1",
		"-o", "APT::Sandbox::User=",
		"-q",
	}
	if err := o.run(ctx, dir, env, "apt-get", append(aptOpts, "update")...); err != nil {
		return nil, fmt.Errorf("the Debian mirror %s cannot be read: %w", o.DebianMirror, err)
	}
	args := append(aptOpts, "install", "--download-only", "--no-install-recommends", "-y")
	if err := o.run(ctx, dir, env, "apt-get", append(args, pkgs...)...); err != nil {
		return nil, fmt.Errorf("downloading the Aptfile's packages from %s failed: %w", o.DebianMirror, err)
	}
	debs, err := filepath.Glob(filepath.Join(dir, "cache", "archives", "*.deb"))
	if err != nil {
		return nil, err
	}
	root := filepath.Join(o.LayersDir, "apt")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	sort.Strings(debs)
	for _, d := range debs {
		if err := o.run(ctx, dir, env, "dpkg-deb", "-x", d, root); err != nil {
			return nil, err
		}
	}
	return dirLayer(root, AptDir, nil)
}

// fileFromImage reads one file of an image's flattened filesystem.
func fileFromImage(img v1.Image, path string) ([]byte, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s is not in the image", path)
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(h.Name, "./") == path {
			return io.ReadAll(tr)
		}
	}
}

// launcherLayers are the launcher (the builder's own binary; the same
// bytes every build, so the same blob) and the app's process types.
func (o Options) launcherLayers(plan *Plan) ([]mutate.Addendum, error) {
	self, err := os.ReadFile(o.Self)
	if err != nil {
		return nil, fmt.Errorf("read the launcher: %w", err)
	}
	bin, err := filesLayer(map[string]fileSpec{LauncherPath: {data: self, mode: 0o755}})
	if err != nil {
		return nil, err
	}
	procs, err := json.MarshalIndent(plan.Processes, "", "  ")
	if err != nil {
		return nil, err
	}
	meta, err := filesLayer(map[string]fileSpec{ProcessesFile: {data: append(procs, '\n'), mode: 0o644}})
	if err != nil {
		return nil, err
	}
	return []mutate.Addendum{
		{Layer: bin, History: v1.History{CreatedBy: "toolforge-builder: launcher", Created: v1.Time{Time: epoch}}},
		{Layer: meta, History: v1.History{CreatedBy: "toolforge-builder: process types", Created: v1.Time{Time: epoch}}},
	}, nil
}

// configure sets the image's environment, working directory, entrypoint
// and labels.
func (o Options) configure(img v1.Image, plan *Plan, labels map[string]string) (v1.Image, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	var env []string
	for _, e := range cfg.Config.Env {
		if p, ok := strings.CutPrefix(e, "PATH="); ok {
			path = p
			continue
		}
		env = append(env, e)
	}
	var prefix []string
	switch plan.Language {
	case Python:
		prefix = append(prefix, VenvDir+"/bin")
		env = append(env, "VIRTUAL_ENV="+VenvDir, "PYTHONUNBUFFERED=1")
	case Node:
		prefix = append(prefix, AppDir+"/node_modules/.bin")
		env = append(env, "NODE_ENV=production")
	case Go:
		prefix = append(prefix, GoBinDir)
	}
	if len(plan.Aptfile) > 0 {
		prefix = append(prefix, AptDir+"/usr/local/bin", AptDir+"/usr/bin", AptDir+"/bin")
		env = append(env, "LD_LIBRARY_PATH="+AptDir+"/usr/lib/x86_64-linux-gnu:"+AptDir+"/usr/lib:"+AptDir+"/lib/x86_64-linux-gnu")
	}
	env = append(env, "PATH="+strings.Join(append(prefix, path), ":"))
	sort.Strings(env)
	cfg.Config.Env = env
	cfg.Config.WorkingDir = AppDir
	cfg.Config.Entrypoint = []string{LauncherPath}
	cfg.Config.Cmd = []string{"web"}
	cfg.Config.User = ""
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for k, v := range labels {
		cfg.Config.Labels[k] = v
	}
	cfg.Created = v1.Time{Time: epoch}
	return mutate.ConfigFile(img, cfg)
}

func envValue(env []string, key, def string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok && v != "" {
			return v
		}
	}
	return def
}

// reference parses ref, naming a mirrored registry host by its mirror's
// address: the image is pulled from and pushed to the mirror as from any
// registry, so its token service's realm (on the mirror's own host:port,
// a private address on devcluster) is the registry's own, which
// go-containerregistry trusts; rewriting hosts under the client instead
// makes that realm look like a redirect to a private address, refused.
func (o Options) reference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	m, ok := o.Mirrors[r.Context().RegistryStr()]
	if !ok {
		return r, nil
	}
	u, err := url.Parse(m)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("mirror %q of %s: not a URL", m, r.Context().RegistryStr())
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	mirrored := u.Host + "/" + r.Context().RepositoryStr()
	if d, isDigest := r.(name.Digest); isDigest {
		return name.NewDigest(mirrored+"@"+d.DigestStr(), opts...)
	}
	return name.NewTag(mirrored+":"+r.Identifier(), opts...)
}
