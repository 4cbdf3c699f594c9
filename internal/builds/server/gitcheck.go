package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/toolforge-go/toolforge/internal/route"
)

// gitCheckTimeout bounds the look at a repository before a build starts.
const gitCheckTimeout = 15 * time.Second

// checkRepository asks the repository at url for its refs, as `git
// ls-remote` does over smart HTTP (protocol v0's advertisement), so that
// an unreachable URL, something that is not a git repository, or an
// unknown branch or tag is refused before any build is made. A commit
// name (hex) is not advertised: the build itself finds it.
func checkRepository(ctx context.Context, client *http.Client, url, ref string) error {
	_, err := resolveRef(ctx, client, url, ref)
	return err
}

// ResolveRef is the commit ref (a branch or tag; "" the default branch)
// names now in the repository at url; a commit name is itself. A
// components deployment builds that commit, so that a build of it is
// found again and reused.
func (s *Service) ResolveRef(ctx context.Context, url, ref string) (string, error) {
	return resolveRef(ctx, s.gitClient(), url, ref)
}

func resolveRef(ctx context.Context, client *http.Client, url, ref string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, gitCheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/info/refs?service=git-upload-pack", nil)
	if err != nil {
		return "", route.BadRequest("source URL %q: %v", url, err)
	}
	req.Header.Set("User-Agent", "git/2-toolforge-builds")
	resp, err := client.Do(req)
	if err != nil {
		return "", route.BadRequest("cannot reach the git repository at %s: %v", url, shortNetError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", route.BadRequest("there is no git repository at %s (404 Not Found)", url)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return "", route.BadRequest("the git repository at %s is not public (%s): the build service clones without credentials", url, resp.Status)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
		return "", route.BadRequest("%s does not answer as a git repository over HTTP (%s, %s)", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	refs, err := advertisedRefs(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return "", route.BadRequest("the git repository at %s answered unreadably: %v", url, err)
	}
	if commitName(ref) {
		return ref, nil
	}
	if ref == "" {
		ref = "HEAD"
	}
	// An annotated tag's commit is advertised as <tag>^{}.
	for _, full := range []string{ref, "refs/heads/" + ref, "refs/tags/" + ref + "^{}", "refs/tags/" + ref} {
		if oid, ok := refs[full]; ok {
			return oid, nil
		}
	}
	return "", route.BadRequest("the git repository at %s has no branch or tag %q", url, ref)
}

func commitName(ref string) bool {
	if len(ref) < 7 || len(ref) > 40 {
		return false
	}
	for _, r := range ref {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// advertisedRefs reads pkt-lines of a git-upload-pack advertisement:
// "# service=git-upload-pack", a flush, then "<oid> <ref>[\0caps]" lines.
func advertisedRefs(r io.Reader) (map[string]string, error) {
	br := bufio.NewReader(r)
	refs := map[string]string{}
	for {
		var size [4]byte
		if _, err := io.ReadFull(br, size[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return refs, nil
			}
			return nil, err
		}
		n, err := strconv.ParseUint(string(size[:]), 16, 16)
		if err != nil {
			return nil, fmt.Errorf("bad pkt-line length %q", size)
		}
		if n == 0 {
			continue // a flush
		}
		if n < 4 {
			return nil, fmt.Errorf("bad pkt-line length %d", n)
		}
		line := make([]byte, n-4)
		if _, err := io.ReadFull(br, line); err != nil {
			return nil, err
		}
		s := strings.TrimSuffix(string(line), "\n")
		if strings.HasPrefix(s, "#") {
			continue
		}
		s, _, _ = strings.Cut(s, "\x00")
		if oid, name, ok := strings.Cut(s, " "); ok {
			refs[name] = oid
		}
	}
}

func shortNetError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "dial") {
		return msg[i+2:]
	}
	return msg
}
