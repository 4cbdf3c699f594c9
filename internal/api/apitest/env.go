package apitest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// Env is what the end-to-end tests of a package built on the API share:
// tools provisioned by the real accounts controller, the API server
// running as its ServiceAccount, and the `toolforge` CLI.
type Env struct {
	Tools  map[string]*testcluster.Tool
	Server *Server
	CLI    string
}

// Shared is a test package's Env, made on first use and kept for every
// test of the package (the cluster's TestMain tears it all down).
type Shared struct {
	// Args go to the API server (toolforged api).
	Args []string

	once sync.Once
	env  *Env
	err  error
}

// Get makes the Env once, with the named tools, and fails t if that
// failed (for every test that asks).
func (s *Shared) Get(t testing.TB, c *testcluster.Cluster, tools ...string) *Env {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		env := &Env{}
		if env.CLI, s.err = testcluster.BuildBinary("toolforge"); s.err != nil {
			return
		}
		if env.Tools, s.err = c.ProvisionTools(ctx, tools...); s.err != nil {
			return
		}
		if env.Server, s.err = Start(ctx, c, s.Args...); s.err != nil {
			return
		}
		s.env = env
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.env
}

// Toolforge runs the CLI as tool (see testcluster.Tool.Run).
func (e *Env) Toolforge(t testing.TB, tool, stdin string, env []string, args ...string) testcluster.Result {
	t.Helper()
	return e.Tools[tool].Run(t, stdin, env, e.CLI, args...)
}
