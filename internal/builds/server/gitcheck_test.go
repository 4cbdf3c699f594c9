package server

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitServer serves a repository with branch main and tag v1 through git's
// own http-backend.
func gitServer(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	run := func(dir string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	work := filepath.Join(root, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	run(work, "init", "--quiet", "--initial-branch=main")
	if err := os.WriteFile(filepath.Join(work, "index.html"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(work, "add", "-A")
	run(work, "commit", "--quiet", "-m", "x")
	run(work, "tag", "v1")
	run(work, "tag", "-a", "-m", "annotated", "v2")
	run(root, "clone", "--quiet", "--bare", work, "app.git")
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	h := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"), Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestARepositoryIsCheckedBeforeABuildIsMade(t *testing.T) {
	base := gitServer(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>not git</html>")) }))
	defer other.Close()
	for _, tc := range []struct {
		name, url, ref, want string
	}{
		{"the default branch", base + "/app.git", "", ""},
		{"a branch", base + "/app.git", "main", ""},
		{"a tag", base + "/app.git", "v1", ""},
		{"a commit is left to the build", base + "/app.git", "0123456789abcdef", ""},
		{"an unknown branch", base + "/app.git", "nope", `has no branch or tag "nope"`},
		{"no repository there", base + "/missing.git", "", "there is no git repository at"},
		{"not a git server", other.URL + "/app.git", "", "does not answer as a git repository"},
		{"nothing listening", "http://127.0.0.1:1/app.git", "", "cannot reach the git repository at http://127.0.0.1:1/app.git"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRepository(context.Background(), http.DefaultClient, tc.url, tc.ref)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// A components deployment builds the commit its ref names now: the
// default branch, a branch, a lightweight or annotated tag all resolve
// to the commit (an annotated tag's peeled one), a commit to itself.
func TestARefResolvesToItsCommit(t *testing.T) {
	base := gitServer(t)
	url := base + "/app.git"
	ctx := context.Background()
	head, err := resolveRef(ctx, http.DefaultClient, url, "")
	if err != nil || len(head) != 40 {
		t.Fatalf("HEAD: %q, %v", head, err)
	}
	for _, ref := range []string{"main", "v1", "v2", head[:12]} {
		got, err := resolveRef(ctx, http.DefaultClient, url, ref)
		want := head
		if ref == head[:12] {
			want = ref
		}
		if err != nil || got != want {
			t.Errorf("%s resolves to %q (%v), want %s", ref, got, err, want)
		}
	}
}
