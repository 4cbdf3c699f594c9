// Package e2e tests a cluster migration end to end on two devclusters side
// by side: the old one (context "default", its accounts controller run
// with --context-name default) and the new one (context "toolforge", its
// controller gentle, with a stricter limit range), one home per tool
// shared by both, each cluster with its own jobs API. Tools run the real
// `toolforge` CLI and kubectl with their own credentials; the admin runs
// the real `toolforge-admin` with hers; assertions read both clusters as
// cluster-admin.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/toolforge-go/toolforge/internal/api/apitest"
	"github.com/toolforge-go/toolforge/internal/mailbox"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var old, neu *testcluster.Cluster

func TestMain(m *testing.M) {
	code := 1
	defer func() { os.Exit(code) }()
	ctx := context.Background()
	var err error
	if old, err = testcluster.Start(ctx, testcluster.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	if neu, err = testcluster.Start(ctx, testcluster.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = old.Stop()
		return
	}
	code = m.Run()
	if setup.dir != "" && code == 0 {
		_ = os.RemoveAll(setup.dir)
	}
	for _, c := range []*testcluster.Cluster{old, neu} {
		if err := c.StopAfter(code != 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
}

// The tools, provisioned in this order on both clusters (same uids).
var toolNames = []string{"ctx-check", "ws-move", "ws-big", "ws-refused", "jobs-move", "both", "f-web", "f-jobs", "f-idle", "f-left", "f-fail", "f-done", "ws-unreach"}

const admin = "alice"

// newLimits is the new cluster's stricter limit range (seed 002: a web
// service that no longer fits).
const newLimits = "defaults:\n  limitRange: {max: {memory: 1Gi}}\n"

var setup struct {
	once                 sync.Once
	err                  error
	dir, homes, admins   string
	tools                map[string]*testcluster.Tool
	toolforge, adminCLI  string
	oldServer, newServer *apitest.Server
	mail                 *mailbox.Server
}

// env provisions both clusters' accounts (the old controller first, as
// in seed 000), starts both APIs and builds the CLIs, once.
func env(t *testing.T) {
	t.Helper()
	setup.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		dir, err := os.MkdirTemp("", "migration-e2e-")
		if err != nil {
			setup.err = err
			return
		}
		setup.dir, setup.homes, setup.admins = dir, filepath.Join(dir, "homes"), filepath.Join(dir, "admins")
		// A tool with a kubeconfig of its own before either controller
		// came: its context, cluster and choice must survive both.
		setup.err = writePersonalKubeconfig(filepath.Join(setup.homes, "ctx-check", ".kube", "config"))
		if setup.err != nil {
			return
		}
		quotas := filepath.Join(dir, "new-quotas.yaml")
		if setup.err = os.WriteFile(quotas, []byte(newLimits), 0o644); setup.err != nil {
			return
		}
		accounts := func(args ...string) testcluster.Accounts {
			return testcluster.Accounts{HomeRoot: setup.homes, Admins: []string{admin}, AdminHomeRoot: setup.admins, Args: args}
		}
		if setup.tools, setup.err = old.ProvisionToolsWith(ctx, accounts("--context-name", "default"), toolNames...); setup.err != nil {
			return
		}
		if _, setup.err = neu.ProvisionToolsWith(ctx, accounts("--gentle", "--quotas-file", quotas), toolNames...); setup.err != nil {
			return
		}
		// Both platforms have a mail server, so jobs may ask for mail
		// (--emails), a setting a move must keep.
		if setup.mail, setup.err = mailbox.Start("127.0.0.1:0", ""); setup.err != nil {
			return
		}
		if setup.oldServer, setup.err = apitest.Start(ctx, old, "--smtp-server", setup.mail.Addr); setup.err != nil {
			return
		}
		if setup.newServer, setup.err = apitest.Start(ctx, neu, "--smtp-server", setup.mail.Addr); setup.err != nil {
			return
		}
		if setup.toolforge, setup.err = testcluster.BuildBinary("toolforge"); setup.err != nil {
			return
		}
		setup.adminCLI, setup.err = testcluster.BuildBinary("toolforge-admin")
	})
	if setup.err != nil {
		t.Fatal(setup.err)
	}
}

func writePersonalKubeconfig(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: personal, cluster: {server: "https://personal.example:6443"}}]
users: [{name: me, user: {token: personal-token}}]
contexts: [{name: personal, context: {cluster: personal, user: me}}]
current-context: personal
`
	return os.WriteFile(path, []byte(cfg), 0o600)
}

func tool(name string) *testcluster.Tool { return setup.tools[name] }

type result = testcluster.Result

// toolforge runs the CLI as the tool.
func toolforge(t *testing.T, name string, args ...string) result {
	t.Helper()
	r := tool(name).Run(t, "", nil, setup.toolforge, args...)
	t.Logf("%s: toolforge %s → %s", name, strings.Join(args, " "), r)
	return r
}

// ok runs the CLI as the tool and fails the test unless it exits 0.
func ok(t *testing.T, name string, args ...string) result {
	t.Helper()
	r := toolforge(t, name, args...)
	if r.Code != 0 {
		t.Fatalf("%s: toolforge %s: %s", name, strings.Join(args, " "), r)
	}
	return r
}

// kubectl runs kubectl as the tool (its HOME, its kubeconfig).
func kubectl(t *testing.T, name string, args ...string) result {
	t.Helper()
	return tool(name).Run(t, "", nil, "kubectl", args...)
}

// adminRun runs toolforge-admin as the admin, on her own kubeconfig.
func adminRun(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, setup.adminCLI, args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HOME="+filepath.Join(setup.admins, admin))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errOut.String()}
	if ee, isExit := err.(*exec.ExitError); isExit {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("toolforge-admin %s → %s", strings.Join(args, " "), r)
	return r
}

// currentContext is the tool's kubeconfig's current context.
func currentContext(t *testing.T, name string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(tool(name).Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.CurrentContext
}
