// Package egress is the way out of the machine for the build service's
// pods: pods' traffic is not routed beyond the host, and builds need the
// package sources (Debian's archive, the npm registry, the Go module
// proxy). It is an HTTP proxy (plain requests and CONNECT tunnels) on
// the nodes' gateway that asks for credentials, which only the build
// service has (it passes them to its build pods in image-build, which
// tools cannot read), that serves only clients the caller allows (the
// build namespace's pods: a build's own code could print the credentials,
// and a tool's pod holding them still gets nothing), and that reaches
// only the allowed hosts.
package egress

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"
)

// User is the proxy's one user.
const User = "builds"

// DefaultHosts are the package sources builds reach.
var DefaultHosts = []string{"deb.debian.org", "security.debian.org", "registry.npmjs.org", "proxy.golang.org", "sum.golang.org"}

// Server is a running proxy.
type Server struct {
	srv  *http.Server
	addr string
	wg   sync.WaitGroup
}

// Password reads the proxy's password from file, making it the first
// time (mode 0600).
func Password(file string) (string, error) {
	if data, err := os.ReadFile(file); err == nil && len(strings.TrimSpace(string(data))) >= 16 {
		return strings.TrimSpace(string(data)), nil
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", err
	}
	return pw, os.WriteFile(file, []byte(pw+"\n"), 0o600)
}

// URL is the proxy's URL with its credentials, as build pods use it.
func URL(addr, password string) string {
	return (&url.URL{Scheme: "http", User: url.UserPassword(User, password), Host: addr}).String()
}

// Start serves the proxy on addr to the clients allow accepts (by IP
// address; nil allows every client with the credentials).
func Start(addr, password string, hosts []string, allow func(ip string) bool, log *slog.Logger) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("egress proxy: listen on %s: %w", addr, err)
	}
	p := goproxy.NewProxyHttpServer()
	p.Logger = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(User+":"+password))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Proxy-Authorization")
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("Proxy-Authenticate", `Basic realm="devcluster egress for builds"`)
			http.Error(w, "the egress proxy is the build service's: credentials required", http.StatusProxyAuthRequired)
			log.Info("egress refused: no credentials", "from", r.RemoteAddr, "host", r.Host)
			return
		}
		if ip, _, _ := net.SplitHostPort(r.RemoteAddr); allow != nil && !allow(ip) {
			http.Error(w, "the egress proxy serves the build service's pods only", http.StatusForbidden)
			log.Info("egress refused: not a build pod", "from", r.RemoteAddr, "host", r.Host)
			return
		}
		host := r.URL.Hostname()
		if host == "" {
			host, _, _ = net.SplitHostPort(r.Host)
		}
		if !slices.Contains(hosts, host) {
			http.Error(w, fmt.Sprintf("the egress proxy reaches only %s", strings.Join(hosts, ", ")), http.StatusForbidden)
			log.Info("egress refused: host not allowed", "from", r.RemoteAddr, "host", host)
			return
		}
		r.Header.Del("Proxy-Authorization")
		p.ServeHTTP(w, r)
	})
	s := &Server{addr: l.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}}
	s.wg.Go(func() { _ = s.srv.Serve(l) })
	return s, nil
}

// Addr is where it listens.
func (s *Server) Addr() string { return s.addr }

// Close stops it.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
