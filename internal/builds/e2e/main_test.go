// Package e2e tests the build service end to end on a devcluster with a
// real node: the toolforge CLI as tools, the platform (toolforged all)
// with its build service, the devcluster git server, real builds pushed
// to the cluster's registry, and their images run by jobs and web
// services.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{RealNodes: 1}, &cluster) }

const domain = "toolforge.localhost"

// Each test has tools of its own.
var toolNames = []string{"smoke", "pyapp", "nodeapp", "goapp", "aptapp", "bad", "other", "full", "attacker", "comps"}

type platform struct {
	Tools    map[string]*testcluster.Tool
	CLI      string
	Ingress  string
	Builds   *testcluster.Builds
	Index    string // the Python package index the test serves
	Platform *testcluster.Platform
	flags    []string
}

var (
	sharedOnce sync.Once
	shared     *platform
	sharedErr  error
)

func setup(t *testing.T) *platform {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func start() (*platform, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	p := &platform{}
	var err error
	if p.CLI, err = testcluster.BuildBinary("toolforge"); err != nil {
		return nil, err
	}
	if p.Tools, err = cluster.ProvisionTools(ctx, toolNames...); err != nil {
		return nil, err
	}
	if p.Ingress, err = cluster.IngressURL(); err != nil {
		return nil, err
	}
	if p.Builds, err = cluster.SetUpBuilds(ctx); err != nil {
		return nil, err
	}
	if p.Index, err = testcluster.ServePackageIndex(p.Builds.Gateway); err != nil {
		return nil, err
	}
	port := p.Ingress[strings.LastIndexByte(p.Ingress, ':')+1:]
	p.flags = append([]string{"--web-url", "http://{host}:" + port + "/", "--log-level", "debug",
		"--builds-pip-index-url", p.Index}, p.Builds.Flags...)
	p.Platform, err = cluster.StartPlatform(ctx, domain, p.flags...)
	return p, err
}

// toolforge runs the CLI as tool.
func (p *platform) toolforge(t *testing.T, tool string, args ...string) testcluster.Result {
	t.Helper()
	return p.Tools[tool].Run(t, "", nil, p.CLI, args...)
}

// ok runs the CLI and fails the test unless it exits 0.
func (p *platform) ok(t *testing.T, tool string, args ...string) testcluster.Result {
	t.Helper()
	r := p.toolforge(t, tool, args...)
	if r.Code != 0 {
		t.Fatalf("toolforge %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// kubectl runs kubectl as tool (its own kubeconfig).
func (p *platform) kubectl(t *testing.T, tool string, args ...string) testcluster.Result {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	return p.Tools[tool].Run(t, "", nil, kubectl, args...)
}

// repo publishes files as the bare repository NAME.git on the devcluster
// git server (a commit on main) and returns its URL; called again it adds
// a commit.
func (p *platform) repo(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	bare := filepath.Join(p.Builds.GitDir, name+".git")
	work := filepath.Join(cluster.Dir, "git-work", name)
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@toolforge.test", "GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@toolforge.test")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if _, err := os.Stat(bare); err != nil {
		if err := os.MkdirAll(work, 0o755); err != nil {
			t.Fatal(err)
		}
		git(p.Builds.GitDir, "init", "--quiet", "--bare", "--initial-branch=main", bare)
		git(work, "init", "--quiet", "--initial-branch=main")
		git(work, "remote", "add", "origin", bare)
	}
	for name, content := range files {
		path := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(work, "add", "-A")
	git(work, "commit", "--quiet", "--allow-empty", "-m", "change")
	git(work, "push", "--quiet", "origin", "main")
	return p.Builds.Git + "/" + name + ".git"
}

// curl fetches url through the ingress (curl resolves *.localhost to
// loopback).
func curl(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return 0, "", fmt.Errorf("curl %s: %w: %s", url, err, strings.TrimSpace(errb.String()))
	}
	s := out.String()
	i := strings.LastIndexByte(s, '\n')
	code, _ := strconv.Atoi(s[i+1:])
	return code, s[:i], nil
}

// webURL is tool's web service URL through the ingress.
func (p *platform) webURL(tool string) string {
	port := p.Ingress[strings.LastIndexByte(p.Ingress, ':')+1:]
	return "http://" + tool + "." + domain + ":" + port + "/"
}
