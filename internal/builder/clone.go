package builder

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// gitEnv lets git work in the app's directory, a volume the build's user
// does not own (git refuses such a repository unless told it is safe),
// for the clone and for every step that asks git (go build's VCS
// stamping).
var gitEnv = []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*"}

// commitRE is an abbreviated or full commit name.
var commitRE = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// Clone fetches ref (a branch, tag or commit; "" for the default branch)
// of the repository at url into dir with git, and returns the commit it
// checked out. Branches and tags are fetched shallow.
func Clone(ctx context.Context, url, ref, dir string, log io.Writer) (string, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...) //nolint:gosec // G204: git with the build's own arguments, no shell
		cmd.Dir = dir
		// Never prompt for credentials: the repository must be public.
		cmd.Env = append(append(os.Environ(), gitEnv...), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(&out, log)
		err := cmd.Run()
		return strings.TrimSpace(out.String()), err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := git("init", "--quiet"); err != nil {
		return "", fmt.Errorf("git init: %w", err)
	}
	if _, err := git("remote", "add", "origin", url); err != nil {
		return "", fmt.Errorf("git remote add: %w", err)
	}
	fetch := []string{"fetch", "--quiet", "--depth=1", "origin"}
	switch {
	case ref == "":
		fetch = append(fetch, "HEAD")
	case commitRE.MatchString(ref):
		// A commit may not be advertised: fetch everything, then find it.
		fetch = []string{"fetch", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}
	default:
		fetch = append(fetch, ref)
	}
	if out, err := git(fetch...); err != nil {
		if ref != "" && strings.Contains(out, "couldn't find remote ref") {
			return "", fmt.Errorf("the repository %s has no branch or tag %q", url, ref)
		}
		return "", fmt.Errorf("cannot fetch %s (is it a public git repository, reachable from the build service?): %s", url, lastLine(out))
	}
	target := "FETCH_HEAD"
	if commitRE.MatchString(ref) {
		target = ref
	}
	if out, err := git("-c", "advice.detachedHead=false", "checkout", "--quiet", target); err != nil {
		return "", fmt.Errorf("the repository %s has no commit, branch or tag %q: %s", url, ref, lastLine(out))
	}
	commit, err := git("rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("git rev-parse: %w", err)
	}
	return commit, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
