package images

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

var (
	//go:embed scripts/common.sh
	commonScript string
	//go:embed scripts/base.sh
	baseScript string
	//go:embed scripts/apt.sh
	aptScript string
	//go:embed scripts/webservice-runner
	runnerScript []byte
)

// dpkgExcludes keep documentation out of every layer (copyright files stay);
// mmdebstrap writes them into the suite's dpkg configuration, so later apt
// stages follow them too.
var dpkgExcludes = []string{
	"path-exclude=/usr/share/man/*",
	"path-exclude=/usr/share/info/*",
	"path-exclude=/usr/share/doc/*",
	"path-include=/usr/share/doc/*/copyright",
	"path-exclude=/usr/share/locale/*",
	"path-include=/usr/share/locale/locale.alias",
	"path-exclude=/usr/share/lintian/*",
}

// ErrPrerequisite wraps what the machine lacks to build images.
var ErrPrerequisite = errors.New("missing prerequisite")

// preflight checks what building (not using cached) layers needs.
func preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: building images needs root (mounts, chroot); run as root, or use images already in the cache", ErrPrerequisite)
	}
	for tool, pkg := range map[string]string{"mmdebstrap": "mmdebstrap", "unshare": "util-linux", "flock": "util-linux", "chroot": "coreutils"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s is not installed: apt-get install %s", ErrPrerequisite, tool, pkg)
		}
	}
	return nil
}

func (b *Builder) sources(suite string) []string {
	lines := []string{
		fmt.Sprintf("deb %s %s main", b.Mirror, suite),
		fmt.Sprintf("deb %s %s-updates main", b.Mirror, suite),
		fmt.Sprintf("deb %s %s-security main", b.SecurityMirror, suite),
	}
	if suites[suite].backports {
		lines = append(lines, fmt.Sprintf("deb %s %s-backports main", b.Mirror, suite))
	}
	return lines
}

func (b *Builder) aptDir(parts ...string) string {
	return filepath.Join(append([]string{b.Dir, "images", "apt"}, parts...)...)
}

// mmdebstrapArgs are mmdebstrap's arguments for a tree in target; the
// hooks share downloaded packages with the machine's cache.
func (b *Builder) mmdebstrapArgs(variant, suite string, include []string, target string) []string {
	args := []string{
		"--mode=root", "--variant=" + variant, "--format=directory",
		`--aptopt=APT::Install-Recommends "false"`, `--aptopt=Acquire::Retries "3"`,
		"--skip=essential/unlink",
		`--setup-hook=mkdir -p "$1/var/cache/apt/archives/partial" && find "$ARCHIVES" -maxdepth 1 -name "*.deb" -exec cp -ln -t "$1/var/cache/apt/archives/" {} + ; true`,
		`--customize-hook=find "$1/var/cache/apt/archives" -maxdepth 1 -name "*.deb" -exec cp -ln -t "$ARCHIVES/" {} + ; true`,
	}
	for _, o := range dpkgExcludes {
		args = append(args, "--dpkgopt="+o)
	}
	if len(include) > 0 {
		args = append(args, "--include="+strings.Join(include, ","))
	}
	args = append(args, suite, target)
	return append(args, b.sources(suite)...)
}

// baseLayer is a suite's minbase plus the common packages, shared by every
// image of the suite.
func (b *Builder) baseLayer(suite string) layerSpec {
	// The key holds every argument but the target, a temporary directory.
	args := b.mmdebstrapArgs("minbase", suite, commonPackages, "TARGET")
	if suites[suite].mergedUsr {
		args = append([]string{"--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"}, args...)
	}
	return layerSpec{
		key:  cacheKey("base", strings.Join(args, "\n"), strings.Join(dpkgExcludes, ","), commonScript, baseScript),
		what: suite + " base",
		build: func(ctx context.Context, b *Builder, tmp string, _ []entry, log string) (layerMeta, error) {
			target := filepath.Join(tmp, "rootfs")
			args := slices.Clone(args)
			args[slices.Index(args, "TARGET")] = target
			if err := b.runStage(ctx, baseScript, []string{"TARGET=" + target}, args, log); err != nil {
				return layerMeta{}, err
			}
			return writeLayerFromDir(target, filepath.Join(tmp, "layer.tar.gz"), nil)
		},
	}
}

// aptLayer installs packages over the layers below (topmost first); those
// matching mainOnly come from the suite's main archive (Recipe.MainArchive).
func aptLayer(what, suite string, packages, mainOnly []string, below []layerSpec) layerSpec {
	under := make([]layerSpec, len(below))
	keys := make([]string, len(below))
	for i := range below {
		under[i] = below[len(below)-1-i]
		keys[i] = under[i].key
	}
	return layerSpec{
		key:   cacheKey("apt", strings.Join(keys, ":"), strings.Join(packages, " "), strings.Join(mainOnly, " "), commonScript, aptScript),
		what:  what,
		below: under,
		build: func(ctx context.Context, b *Builder, tmp string, below []entry, log string) (layerMeta, error) {
			lower := make([]string, len(below))
			for i, e := range below {
				lower[i] = e.rootfs()
			}
			dirs := map[string]string{"UPPER": "rootfs", "WORK": "work", "MERGED": "merged", "PRIVATE_ARCHIVES": "archives"}
			env := []string{
				"LOWER=" + strings.Join(lower, ":"),
				"PACKAGES=" + strings.Join(packages, " "),
				"MAIN_ONLY=" + strings.Join(mainOnly, " "),
				"LISTS=" + b.aptDir("lists", suite),
			}
			for name, d := range dirs {
				p := filepath.Join(tmp, d)
				if err := os.MkdirAll(p, 0o755); err != nil {
					return layerMeta{}, err
				}
				env = append(env, name+"="+p)
			}
			if err := b.runStage(ctx, aptScript, env, nil, log); err != nil {
				return layerMeta{}, err
			}
			for _, d := range []string{"work", "merged", "archives"} {
				if err := os.RemoveAll(filepath.Join(tmp, d)); err != nil {
					return layerMeta{}, err
				}
			}
			return writeLayerFromDir(filepath.Join(tmp, "rootfs"), filepath.Join(tmp, "layer.tar.gz"), nil)
		},
	}
}

// runnerLayer holds /usr/bin/webservice-runner; made in Go with fixed
// metadata, it is one blob shared by every web image.
func runnerLayer() layerSpec {
	return layerSpec{
		key:  cacheKey("runner", string(runnerScript)),
		what: "webservice-runner",
		build: func(_ context.Context, _ *Builder, tmp string, _ []entry, _ string) (layerMeta, error) {
			return writeFilesLayer([]file{
				{name: "usr/", mode: 0o755},
				{name: "usr/bin/", mode: 0o755},
				{name: "usr/bin/webservice-runner", mode: 0o755, data: runnerScript},
			}, filepath.Join(tmp, "layer.tar.gz"))
		},
	}
}

// pauseLayer is Debian's catatonit (statically linked) alone.
func (b *Builder) pauseLayer() layerSpec {
	const suite = "bookworm"
	return layerSpec{
		key:  cacheKey("pause", strings.Join(b.sources(suite), "\n"), "catatonit", commonScript, baseScript),
		what: "pause",
		build: func(ctx context.Context, b *Builder, tmp string, _ []entry, log string) (layerMeta, error) {
			target := filepath.Join(tmp, "rootfs")
			args := b.mmdebstrapArgs("extract", suite, []string{"catatonit"}, target)
			if err := b.runStage(ctx, baseScript, []string{"TARGET=" + target}, args, log); err != nil {
				return layerMeta{}, err
			}
			meta, err := writeLayerFromDir(target, filepath.Join(tmp, "layer.tar.gz"),
				[]string{"usr/bin/catatonit", "usr/share/doc/catatonit/copyright"})
			if err != nil {
				return meta, err
			}
			// Nothing builds on it: keep only the blob.
			return meta, os.RemoveAll(target)
		},
	}
}

// runStage runs a stage script as root in a private mount namespace and a
// PID namespace of its own: when it ends (or ctx kills it), its mounts and
// any process it left go with it. Its output goes to log.
func (b *Builder) runStage(ctx context.Context, script string, env, args []string, log string) error {
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(b.aptDir("archives"), 0o755); err != nil {
		return err
	}
	f, err := os.Create(log)
	if err != nil {
		return err
	}
	defer f.Close()
	cmdArgs := append([]string{"--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc",
		"sh", "-c", commonScript + "\n" + script, "stage"}, args...)
	cmd := exec.CommandContext(ctx, "unshare", cmdArgs...)
	cmd.Env = append(os.Environ(), append(env, "ARCHIVES="+b.aptDir("archives"))...)
	cmd.Stdout, cmd.Stderr = f, f
	// If this process dies, so does the stage (and with it, its namespaces).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s (full log: %s)", err, lastLine(log), log)
	}
	return nil
}

// lastLine is the last non-empty line of a log: apt and mmdebstrap end with
// the reason they failed.
func lastLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	return string(bytes.TrimSpace(lines[len(lines)-1]))
}
