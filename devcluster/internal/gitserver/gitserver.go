// Package gitserver serves the bare git repositories under a directory
// over git's smart HTTP protocol, read-only, with Debian's git itself
// (git http-backend as a CGI program): DIR/NAME.git answers at
// <base>/NAME.git, for `git clone` on the host and in pods alike.
package gitserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Server is a running git server.
type Server struct {
	srv  *http.Server
	addr string
	wg   sync.WaitGroup
}

// backend is git's own CGI program.
func backend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git is not installed (Debian package git): %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("git http-backend: %w", err)
	}
	return p, nil
}

// Start serves the repositories under dir on addr.
func Start(dir, addr string, log *slog.Logger) (*Server, error) {
	prog, err := backend()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("git server: listen on %s: %w", addr, err)
	}
	h := &cgi.Handler{
		Path: prog,
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"},
		// Errors of the CGI program go to the cluster's log.
		Logger: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s := &Server{addr: l.Addr().String(), srv: &http.Server{Handler: readOnly(h, log), ReadHeaderTimeout: 30 * time.Second}}
	s.wg.Go(func() { _ = s.srv.Serve(l) })
	return s, nil
}

// readOnly refuses pushes before git sees them (http-backend already
// refuses anonymous pushes; this says so plainly), and anything that is
// not a repository path.
func readOnly(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack" {
			http.Error(w, "this git server is read-only: push to the repository's directory on the host instead", http.StatusForbidden)
			return
		}
		if strings.Contains(r.URL.Path, "..") || !strings.Contains(r.URL.Path, ".git/") {
			http.Error(w, "no such repository: repositories are at <base>/NAME.git", http.StatusNotFound)
			return
		}
		log.Debug("git request", "method", r.Method, "path", r.URL.Path)
		next.ServeHTTP(w, r)
	})
}

// Addr is the address it listens on.
func (s *Server) Addr() string { return s.addr }

// Close stops serving.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
