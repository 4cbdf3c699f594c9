package images_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/moby/go-archive"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/toolforge-go/toolforge/devcluster/internal/images"
)

// toolUID is an arbitrary uid with no passwd entry, as tools' pods run.
const toolUID = 50001

// requireBuildHost fails (not skips) a test that cannot run here: CI has
// the same machine, so a missing prerequisite is a broken setup.
func requireBuildHost(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this integration test builds images and runs containers: it needs root")
	}
	for _, tool := range append([]string{"mmdebstrap", "unshare"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("this integration test needs %s: apt-get install %s", tool, tool)
		}
	}
}

// sharedBuilder uses the machine's cache, as devcluster does: the first run
// builds, later ones reuse.
func sharedBuilder(t *testing.T) *images.Builder {
	requireBuildHost(t)
	return images.NewBuilder("")
}

func build(t *testing.T, b *images.Builder, repo string) v1.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	img, err := b.Build(ctx, repo, tlog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s ready in %s", repo, time.Since(start).Round(time.Millisecond))
	return img
}

type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// container is an OCI bundle made from an image, run by runc as toolUID
// with a read-only root, a writable home and /tmp, on the host's network.
type container struct {
	t      *testing.T
	bundle string
	state  string
	id     string
	home   string
}

func newContainer(t *testing.T, img v1.Image) *container {
	t.Helper()
	requireBuildHost(t, "runc")
	dir := t.TempDir()
	c := &container{t: t, bundle: filepath.Join(dir, "bundle"), state: filepath.Join(dir, "state"),
		id: fmt.Sprintf("images-test-%d", time.Now().UnixNano()), home: filepath.Join(dir, "home")}
	rootfs := filepath.Join(c.bundle, "rootfs")
	for _, d := range []string{rootfs, c.state, c.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(c.home, toolUID, toolUID); err != nil {
		t.Fatal(err)
	}
	flat := mutate.Extract(img)
	defer flat.Close()
	if err := archive.Untar(flat, rootfs, &archive.TarOptions{}); err != nil {
		t.Fatalf("unpack image: %v", err)
	}
	return c
}

// writeHome writes a file of the tool's home, owned by the tool.
func (c *container) writeHome(name, content string) {
	p := filepath.Join(c.home, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	for d := p; d != c.home; d = filepath.Dir(d) {
		if err := os.Chown(d, toolUID, toolUID); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *container) spec(img v1.Image, args []string) {
	t := c.t
	if out, err := exec.Command("runc", "spec", "--bundle", c.bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Process.Args = args
	s.Process.User = specs.User{UID: toolUID, GID: toolUID}
	s.Process.Env = append(slices.Clone(cf.Config.Env), "HOME=/data/project/tool")
	s.Process.Cwd = "/data/project/tool"
	s.Root.Readonly = true
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		specs.Mount{Destination: "/data/project/tool", Type: "bind", Source: c.home, Options: []string{"rbind", "rw"}},
	)
	// The host's network: the test reaches the server on a loopback port.
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
		return ns.Type == specs.NetworkNamespace
	})
	if data, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs args in the container and returns its output.
func (c *container) run(img v1.Image, args ...string) string {
	c.spec(img, args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "runc", "--root", c.state, "run", "--bundle", c.bundle, c.id).CombinedOutput()
	if err != nil {
		c.t.Fatalf("runc run %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// start starts args in the background; the container is killed at the end
// of the test. The returned function gives its output so far.
func (c *container) start(img v1.Image, args ...string) func() string {
	c.spec(img, args)
	var out syncBuffer
	cmd := exec.Command("runc", "--root", c.state, "run", "--bundle", c.bundle, c.id)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		_ = exec.Command("runc", "--root", c.state, "kill", c.id, "KILL").Run()
		_ = cmd.Wait()
		_ = exec.Command("runc", "--root", c.state, "delete", "--force", c.id).Run()
		c.t.Logf("container output:\n%s", out.String())
	})
	return out.String
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// get polls url until it answers 200 or the deadline passes.
func get(t *testing.T, url string, output func() string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		last = err
		time.Sleep(200 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("GET %s: %v\ncontainer output:\n%s", url, last, output())
	return ""
}

func TestAJobRunsInTheSuiteImageAsAnArbitraryUID(t *testing.T) {
	b := sharedBuilder(t)
	img := build(t, b, "toolforge-bookworm-sssd")
	c := newContainer(t, img)
	out := c.run(img, "/bin/sh", "-c", `id -u; echo "$LANG"; curl --version | head -1; touch /cant 2>/dev/null || echo read-only; echo ok > "$HOME/f" && cat "$HOME/f"`)
	for _, want := range []string{fmt.Sprint(toolUID), "C.UTF-8", "curl ", "read-only", "ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestEachLanguageRunsInItsImage(t *testing.T) {
	tests := []struct {
		name, repo string
		args       []string
	}{
		{"python3.11 runs python", "toolforge-python311-sssd-base", []string{"python3", "-c", "print(6*7)"}},
		{"php8.2 runs php", "toolforge-php82-sssd-base", []string{"php", "-r", "echo 6*7, PHP_EOL;"}},
		{"node20 runs node", "toolforge-node20-sssd-base", []string{"node", "-e", "console.log(6*7)"}},
	}
	b := sharedBuilder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := build(t, b, tt.repo)
			if out := newContainer(t, img).run(img, tt.args...); strings.TrimSpace(out) != "42" {
				t.Fatalf("%v printed %q, want 42", tt.args, out)
			}
		})
	}
}

func TestWebImagesServeTheToolsPages(t *testing.T) {
	tests := []struct {
		name, repo, typ string
		files           map[string]string
		accessLog       string // what the server logs of the request
	}{
		{
			name: "php serves public_html/index.php through lighttpd and php-cgi",
			repo: "toolforge-php82-sssd-web", typ: "php8.2",
			files:     map[string]string{"public_html/index.php": "<?php echo 'answer ', 6*7, \"\\n\";"},
			accessLog: `"GET / HTTP/1.1" 200`,
		},
		{
			name: "python serves app of www/python/src/app.py through uwsgi",
			repo: "toolforge-python311-sssd-web", typ: "python3.11",
			files: map[string]string{"www/python/src/app.py": "def app(environ, start_response):\n" +
				"    start_response('200 OK', [('Content-Type', 'text/plain')])\n" +
				"    return [b'answer %d\\n' % (6*7)]\n"},
			accessLog: "GET / => generated",
		},
	}
	b := sharedBuilder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := build(t, b, tt.repo)
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"/usr/bin/webservice-runner", "--type", tt.typ}; !slices.Equal(cf.Config.Entrypoint, want) {
				t.Errorf("entrypoint %q, want %q", cf.Config.Entrypoint, want)
			}
			c := newContainer(t, img)
			for name, content := range tt.files {
				c.writeHome(name, content)
			}
			port := freePort(t)
			output := c.start(img, append(cf.Config.Entrypoint, "--port", fmt.Sprint(port))...)
			body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port), output)
			if !strings.Contains(body, "answer 42") {
				t.Errorf("page %q lacks %q", body, "answer 42")
			}
			if want := fmt.Sprintf("webservice-runner: starting %s on port %d", tt.typ, port); !strings.Contains(output(), want) {
				t.Errorf("output lacks %q:\n%s", want, output())
			}
			// Servers may buffer their access log for a few seconds.
			for deadline := time.Now().Add(20 * time.Second); !strings.Contains(output(), tt.accessLog); time.Sleep(200 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Errorf("the request is not in the container's output (%q):\n%s", tt.accessLog, output())
					break
				}
			}
		})
	}
}

// The original's PHP web service: lighttpd runs, and says so in the log
// (its tests grep /usr/sbin/lighttpd), even before the tool has pages: it
// answers 404 until public_html appears, then serves it.
func TestThePHPWebServiceRunsLighttpdBeforeTheToolHasPages(t *testing.T) {
	b := sharedBuilder(t)
	img := build(t, b, "toolforge-php82-sssd-web")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := newContainer(t, img)
	port := freePort(t)
	output := c.start(img, append(cf.Config.Entrypoint, "--port", fmt.Sprint(port))...)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	status := func(want int) {
		t.Helper()
		var last string
		err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
			resp, err := http.Get(url)
			if err != nil {
				last = err.Error()
				return false, nil
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%s %q", resp.Status, body)
			return resp.StatusCode == want, nil
		})
		if err != nil {
			t.Fatalf("GET %s: want %d, last %s\noutput:\n%s", url, want, last, output())
		}
	}
	status(http.StatusNotFound)
	if out := output(); !strings.Contains(out, "/usr/sbin/lighttpd") || !strings.Contains(out, "server started") {
		t.Fatalf("the log does not show lighttpd starting:\n%s", out)
	}
	c.writeHome("public_html/index.html", "hello\n")
	status(http.StatusOK)
}

func TestThePauseImageRunsCatatonit(t *testing.T) {
	b := sharedBuilder(t)
	img := build(t, b, images.PauseRepo)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := newContainer(t, img)
	output := c.start(img, cf.Config.Entrypoint...)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("runc", "--root", c.state, "state", c.id).Output()
		var st struct{ Status string }
		if json.Unmarshal(out, &st) == nil && st.Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pause container is not running: %s\n%s", out, output())
		}
	}
}
