// Package registry is the cluster's OCI registry: distribution's registry as
// a library, with filesystem storage and plain HTTP, and distribution's
// token authentication: every request needs a token from the token service
// (package token), which it serves itself at /token on the same addresses.
// Anyone gets pull tokens; push and delete need credentials. When asked for
// a catalogue image (or the pause image) it does not hold yet, it builds it
// with the images package and pushes it to itself, as admin, before
// answering, so a node's containerd pulls the catalogue without any image
// being prepared.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/auth"
	_ "github.com/distribution/distribution/v3/registry/auth/token" // the token access controller
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // the storage driver
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/singleflight"

	"github.com/toolforge-go/toolforge/devcluster/internal/images"
	"github.com/toolforge-go/toolforge/devcluster/internal/pki"
	"github.com/toolforge-go/toolforge/devcluster/internal/registry/token"
)

// Config says where the registry keeps its data and listens.
type Config struct {
	// Dir holds the registry's storage (the caller's DIR/registry).
	Dir string
	// Addrs are host:port addresses to listen on (port 0 picks one).
	Addrs []string
	// TokenCert and TokenKey are the token signer's self-signed
	// certificate (the only one the registry trusts) and its key.
	TokenCert, TokenKey string
	// CredentialsDir holds the identities' credentials files (made when
	// missing).
	CredentialsDir string
	// Builder builds missing catalogue images; nil serves only what was
	// pushed.
	Builder *images.Builder
	// Log receives the registry's log lines (nil: discarded).
	Log io.Writer
}

// Server is a running registry.
type Server struct {
	app       *handlers.App
	access    auth.AccessController
	tokens    *token.Service
	admin     string // the admin identity's password
	servers   []*http.Server
	addrs     []string
	self      string // a loopback-reachable address to push to
	token     string // marks its own pushes
	builder   *images.Builder
	log       *slog.Logger
	logOut    io.Writer
	ctx       context.Context // builds outlive the request that started them
	cancel    context.CancelFunc
	builds    singleflight.Group
	wg        sync.WaitGroup
	closeOnce sync.Once
	stopAfter func() bool
}

// Start listens on every address and serves until Close (or ctx's end).
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" || len(cfg.Addrs) == 0 || cfg.TokenCert == "" || cfg.TokenKey == "" || cfg.CredentialsDir == "" {
		return nil, errors.New("start registry: a directory, at least one address, the token signer and a credentials directory are required")
	}
	out := cfg.Log
	if out == nil {
		out = io.Discard
	}
	// distribution logs through logrus's standard logger (process-wide);
	// its per-request lines are noise here.
	logrus.SetOutput(out)
	logrus.SetLevel(logrus.WarnLevel)

	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{builder: cfg.Builder, log: slog.New(slog.NewTextHandler(out, nil)).With("component", "registry"), logOut: out, ctx: sctx, cancel: cancel}
	creds, err := token.EnsureCredentials(cfg.CredentialsDir)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("registry credentials: %w", err)
	}
	key, err := pki.LoadKey(cfg.TokenKey)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	if s.tokens, err = token.NewService(key, creds, s.log); err != nil {
		cancel()
		return nil, err
	}
	s.admin = creds[token.Admin]
	authOpts := accessOptions(cfg.TokenCert)
	if s.access, err = auth.GetAccessController("token", authOpts); err != nil {
		cancel()
		return nil, fmt.Errorf("registry token authentication: %w", err)
	}
	app, err := newApp(sctx, cfg.Dir, authOpts)
	if err != nil {
		cancel()
		return nil, err
	}
	s.app = app
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		cancel()
		return nil, err
	}
	s.token = hex.EncodeToString(token)
	for _, addr := range cfg.Addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("start registry: listen on %s: %w", addr, err)
		}
		srv := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
		s.servers = append(s.servers, srv)
		s.addrs = append(s.addrs, l.Addr().String())
		s.wg.Go(func() { _ = srv.Serve(l) })
	}
	s.self = loopback(s.addrs[0])
	s.stopAfter = context.AfterFunc(ctx, func() { s.Close() })
	s.log.Info("registry listening", "addrs", s.addrs, "dir", cfg.Dir)
	return s, nil
}

// accessOptions configure distribution's token access controller: tokens
// of our issuer, for our service, signed by the key of certFile. The realm
// is the token service's path at whichever address the client used
// (autoredirect; the scheme comes from X-Forwarded-Proto, which ServeHTTP
// sets): pods and nodes reach it on the gateway, the host on loopback.
func accessOptions(certFile string) map[string]any {
	return map[string]any{
		"realm":             "http://127.0.0.1" + token.Path,
		"autoredirect":      true,
		"autoredirectpath":  token.Path,
		"issuer":            token.Issuer,
		"service":           token.ServiceName,
		"rootcertbundle":    certFile,
		"signingalgorithms": []any{"ES256"},
	}
}

func newApp(ctx context.Context, dir string, authOpts map[string]any) (app *handlers.App, err error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	config := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": filepath.Clean(dir)},
			"delete":     configuration.Parameters{"enabled": true},
			// Nothing uploads for days; no purger goroutine.
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	config.HTTP.Secret = hex.EncodeToString(secret[:8])
	config.Auth = configuration.Auth{"token": configuration.Parameters(authOpts)}
	// As distribution's own default (a configuration built in code has
	// none, and then lists nothing): the build service lists the
	// catalog for a tool's repositories.
	config.Catalog.MaxEntries = 1000
	// NewApp panics on a bad configuration or an unusable directory.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("start registry in %s: %v", dir, r)
		}
	}()
	return handlers.NewApp(ctx, config), nil
}

// loopback turns a listening address into one this process can dial.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Addrs are the addresses the registry listens on (ports resolved).
func (s *Server) Addrs() []string { return append([]string(nil), s.addrs...) }

// Close stops listening, cancels builds in progress and waits for the
// servers to stop.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stopAfter != nil {
			s.stopAfter()
		}
		s.cancel()
		for _, srv := range s.servers {
			_ = srv.Close()
		}
		s.wg.Wait()
		if s.app != nil {
			_ = s.app.Shutdown()
		}
	})
	return nil
}
