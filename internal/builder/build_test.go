package builder

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// gitRepo makes a repository with files committed on branch main and
// returns its URL.
func gitRepo(t *testing.T, files map[string]string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	commitFiles(t, dir, files, true)
	return dir
}

func commitFiles(t *testing.T, dir string, files map[string]string, init bool) {
	t.Helper()
	run := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if init {
		run("init", "--quiet", "--initial-branch=main")
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("add", "-A")
	run("commit", "--quiet", "-m", "change")
}

// testRegistry serves an in-memory registry holding a run base, and
// returns its host and the base's reference.
func testRegistry(t *testing.T) (host, base string) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	base = host + "/toolforge-bookworm-sssd:latest"
	ref, _ := name.ParseReference(base)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return host, base
}

func options(t *testing.T, src, host, base string, log *bytes.Buffer) Options {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Source: src, Image: host + "/tool-demo/web", Tags: []string{"latest", "demo-1"},
		Bases:   map[string]string{Static: base, Python: base, Procfile: base},
		WorkDir: t.TempDir(), AppDir: filepath.Join(t.TempDir(), "app"), LayersDir: t.TempDir(),
		Self: self, Log: log,
	}
}

func TestAStaticSiteBuildsIntoAnImageThatServesIt(t *testing.T) {
	src := gitRepo(t, map[string]string{"index.html": "<h1>hello</h1>\n", "css/site.css": "h1{}"})
	host, base := testRegistry(t)
	var log bytes.Buffer
	res, err := Build(context.Background(), options(t, src, host, base, &log))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	if res.Language != Static || !strings.HasPrefix(res.Digest, "sha256:") {
		t.Fatalf("result %+v", res)
	}
	for _, tag := range []string{"latest", "demo-1"} {
		ref, _ := name.ParseReference(host + "/tool-demo/web:" + tag)
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatalf("pull %s: %v", tag, err)
		}
		d, _ := img.Digest()
		if d.String() != res.Digest {
			t.Errorf("%s is %s, want the build's %s", tag, d, res.Digest)
		}
		cfg, _ := img.ConfigFile()
		if cfg.Config.WorkingDir != AppDir || !slices.Equal(cfg.Config.Entrypoint, []string{LauncherPath}) {
			t.Errorf("config %+v", cfg.Config)
		}
		procs, err := fileFromImage(img, strings.TrimPrefix(ProcessesFile, "/"))
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]string
		if err := json.Unmarshal(procs, &p); err != nil || p["web"] != LauncherPath+" "+staticFlag+" "+AppDir {
			t.Errorf("process types %s (%v)", procs, err)
		}
		index, err := fileFromImage(img, "app/index.html")
		if err != nil || string(index) != "<h1>hello</h1>\n" {
			t.Errorf("app/index.html = %q, %v", index, err)
		}
		if _, err := fileFromImage(img, "app/.git/HEAD"); err == nil {
			t.Error("the image ships the repository's .git")
		}
		if _, err := fileFromImage(img, strings.TrimPrefix(LauncherPath, "/")); err != nil {
			t.Errorf("no launcher: %v", err)
		}
	}
}

func TestBadRepositoriesFailNamingTheCause(t *testing.T) {
	host, base := testRegistry(t)
	empty := gitRepo(t, map[string]string{"README": "nothing to run\n"})
	site := gitRepo(t, map[string]string{"index.html": "x"})
	for _, tc := range []struct {
		name, src, ref, want string
	}{
		{"nothing detected names the files looked for", empty, "", "looked for Procfile, Aptfile, requirements.txt, pyproject.toml, package.json, go.mod, index.html"},
		{"an unknown branch", site, "no-such-branch", `has no branch or tag "no-such-branch"`},
		{"an unknown commit", site, "0123456789abcdef", `has no commit, branch or tag "0123456789abcdef"`},
		{"an unreachable repository", "http://127.0.0.1:1/nothing.git", "", "cannot fetch http://127.0.0.1:1/nothing.git"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			o := options(t, tc.src, host, base, &log)
			o.Ref = tc.ref
			_, err := Build(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q\n%s", err, tc.want, log.String())
			}
			ref, _ := name.ParseReference(host + "/tool-demo/web:latest")
			if _, err := remote.Image(ref); err == nil {
				t.Error("a failed build pushed an image")
			}
		})
	}
}

// The dependency layer is keyed by the requirements file: a change of the
// code alone reuses it from the previous image, a change of the
// requirements rebuilds it.
func TestARebuildWithUnchangedRequirementsReusesTheDependencyLayer(t *testing.T) {
	if err := exec.Command("python3", "-c", "import venv, ensurepip").Run(); err != nil {
		t.Fatalf("python3 with venv is needed (Debian's python3-venv; hack/setup.sh installs it): %v", err)
	}
	src := gitRepo(t, map[string]string{"requirements.txt": "# no dependencies\n", "app.py": "print('v1')\n", "Procfile": "web: python3 app.py\n"})
	host, base := testRegistry(t)
	build := func() *Result {
		t.Helper()
		var log bytes.Buffer
		res, err := Build(context.Background(), options(t, src, host, base, &log))
		if err != nil {
			t.Fatalf("build: %v\n%s", err, log.String())
		}
		return res
	}
	first := build()
	if len(first.Reused) != 0 {
		t.Fatalf("the first build reused %v", first.Reused)
	}
	commitFiles(t, src, map[string]string{"app.py": "print('v2')\n"}, false)
	second := build()
	if !slices.Equal(second.Reused, []string{"python"}) || second.Digest == first.Digest {
		t.Fatalf("after a code change: reused %v, digest %s (first %s)", second.Reused, second.Digest, first.Digest)
	}
	commitFiles(t, src, map[string]string{"requirements.txt": "# still none, but changed\n"}, false)
	if third := build(); len(third.Reused) != 0 {
		t.Fatalf("after a requirements change the layer was reused: %v", third.Reused)
	}
}

// In a build pod the app's directory is a volume the build's user does
// not own; git refuses such a repository unless told it is safe.
func TestCloneWorksInADirectoryTheBuilderDoesNotOwn(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test gives a directory to another user: run it as root (as make test does)")
	}
	src := gitRepo(t, map[string]string{"index.html": "x"})
	dir := filepath.Join(t.TempDir(), "app")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := Clone(context.Background(), src, "", dir, &log); err != nil {
		t.Fatalf("clone: %v\n%s", err, log.String())
	}
}
