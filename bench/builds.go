package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// benchBuilds measures the build service on a devcluster with a real node
// and the whole platform: the first build of a small Python web app with
// one dependency (from a local package index: PyPI is out of reach), and
// the rebuild after a change of its code only, which reuses the
// dependency layer. Target: the rebuild takes at most a third of the first
// build (the anchor: a Toolforge build with the heroku builder takes
// minutes). An untimed build of a static site first puts the builder's and
// the build image on the node, as on a platform that builds every day.
func benchBuilds(ctx context.Context, r *report) error {
	cli, err := testcluster.BuildBinary("toolforge")
	if err != nil {
		return err
	}
	c, err := testcluster.Start(ctx, testcluster.Options{RealNodes: 1})
	if err != nil {
		return err
	}
	defer cleanup("stop devcluster", c.Stop)
	tools, err := c.ProvisionTools(ctx, "bench-builds")
	if err != nil {
		return err
	}
	b, err := c.SetUpBuilds(ctx)
	if err != nil {
		return err
	}
	index, err := testcluster.ServePackageIndex(b.Gateway)
	if err != nil {
		return err
	}
	platform, err := c.StartPlatform(ctx, "toolforge.localhost", append([]string{"--builds-pip-index-url", index}, b.Flags...)...)
	if err != nil {
		return err
	}
	defer cleanup("stop toolforged all", platform.Stop)
	tool := tools["bench-builds"]
	build := func(url string) (time.Duration, string, error) {
		cmd := exec.CommandContext(ctx, cli, "build", "start", url)
		cmd.Env, cmd.Dir = tool.Env(), tool.Home
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, "", fmt.Errorf("build start %s: %w\n%s", url, err, out.String())
		}
		return time.Since(t0), out.String(), nil
	}

	site, err := publish(b.GitDir, "site", map[string]string{"index.html": "<h1>warm-up</h1>\n"})
	if err != nil {
		return err
	}
	if _, _, err := build(b.Git + "/" + site); err != nil {
		return err
	}
	app := func(version string) map[string]string {
		return map[string]string{
			"requirements.txt": testcluster.PyPackage + "==" + testcluster.PyVersion + "\n",
			"Procfile":         "web: python3 app.py\n",
			"app.py":           "import os\nfrom greeting import hello\nprint(hello('bench'), '" + version + "')\n",
		}
	}
	repo, err := publish(b.GitDir, "pyapp", app("v1"))
	if err != nil {
		return err
	}
	first, firstLog, err := build(b.Git + "/" + repo)
	if err != nil {
		return err
	}
	if _, err := publish(b.GitDir, "pyapp", map[string]string{"app.py": app("v2")["app.py"]}); err != nil {
		return err
	}
	rebuild, log, err := build(b.Git + "/" + repo)
	if err != nil {
		return err
	}
	reused := strings.Contains(log, "Reusing the python dependency layer")
	inFirst, err := builderTime(firstLog)
	if err != nil {
		return err
	}
	inRebuild, err := builderTime(log)
	if err != nil {
		return err
	}
	r.add("first build, python app with 1 dependency (start to exit)", "%.1f s", first.Seconds())
	r.add("rebuild after a code-only change", "%.1f s", rebuild.Seconds())
	r.add("  of which the builder in its pod: first build", "%.1f s", inFirst.Seconds())
	r.add("  of which the builder in its pod: rebuild", "%.1f s", inRebuild.Seconds())
	r.add("builder's rebuild / first build", "%.2f", inRebuild.Seconds()/inFirst.Seconds())
	r.check("rebuild reuses the dependency layer", fmt.Sprint(reused), "true", reused)
	r.check("rebuild / first build", fmt.Sprintf("%.2f", rebuild.Seconds()/first.Seconds()), "≤ 0.33", rebuild*3 <= first)
	r.note("each figure is `toolforge build start URL` from the command to its exit: the repository check, the Job and its pod, git clone, the dependency step (pip from a local index: first build only), assembly on the python3.11 run base, the push, and the status the platform records")
	return nil
}

// builderTime is the builder's own time, from its last line ("Built … in
// 2.2s"): clone, dependencies, assembly and push, without the pod's start.
func builderTime(log string) (time.Duration, error) {
	i := strings.LastIndex(log, ") in ")
	if i < 0 {
		return 0, fmt.Errorf("no builder time in the log:\n%s", log)
	}
	rest := log[i+len(") in "):]
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	return time.ParseDuration(strings.TrimSpace(rest))
}

// publish commits files to the bare repository NAME.git under gitDir (the
// devcluster git server's), making it the first time, and returns its
// name on the server.
func publish(gitDir, name string, files map[string]string) (string, error) {
	bare := filepath.Join(gitDir, name+".git")
	work := filepath.Join(gitDir, ".work-"+name)
	git := func(dir string, args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@toolforge.test", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@toolforge.test")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %w\n%s", args, err, out)
		}
		return nil
	}
	if _, err := os.Stat(bare); err != nil {
		if err := os.MkdirAll(work, 0o755); err != nil {
			return "", err
		}
		for _, step := range [][]string{{"init", "--quiet", "--bare", "--initial-branch=main", bare}, {"-C", work, "init", "--quiet", "--initial-branch=main"}, {"-C", work, "remote", "add", "origin", bare}} {
			if err := git(gitDir, step...); err != nil {
				return "", err
			}
		}
	}
	for n, content := range files {
		if err := os.WriteFile(filepath.Join(work, n), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	for _, step := range [][]string{{"add", "-A"}, {"commit", "--quiet", "-m", "change"}, {"push", "--quiet", "origin", "main"}} {
		if err := git(work, step...); err != nil {
			return "", err
		}
	}
	return name + ".git", nil
}
