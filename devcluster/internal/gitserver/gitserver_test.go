package gitserver

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func git(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// DIR/NAME.git is cloned at <base>/NAME.git over smart HTTP; pushes are
// refused.
func TestTheGitServerServesBareRepositoriesReadOnly(t *testing.T) {
	root := t.TempDir()
	work := filepath.Join(root, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, step := range [][]string{{"init", "-q", "--initial-branch=main"}, {"commit", "-q", "--allow-empty", "-m", "x"}} {
		if out, err := git(t, work, step...); err != nil {
			t.Fatalf("git %v: %v\n%s", step, err, out)
		}
	}
	dir := filepath.Join(root, "git")
	if out, err := git(t, root, "clone", "-q", "--bare", work, filepath.Join(dir, "app.git")); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s, err := Start(dir, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	if out, err := git(t, root, "clone", "-q", base+"/app.git", filepath.Join(root, "clone")); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if out, err := git(t, root, "ls-remote", base+"/missing.git"); err == nil {
		t.Errorf("a missing repository answered: %s", out)
	}
	out, err := git(t, filepath.Join(root, "clone"), "push", "-q", "origin", "HEAD:refs/heads/evil")
	if err == nil || !strings.Contains(out, "403") {
		t.Errorf("a push was not refused: %v\n%s", err, out)
	}
}
