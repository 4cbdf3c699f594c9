package admincli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/admission/admissiontest"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// The tests run the real toolforge-admin as admin alice, with the
// credentials the real accounts controller gave her, against a devcluster
// with two real nodes (pods really run, drain moves them, a node really
// restarts), the accounts controller running (it reconciles what the
// admin declares) and the admission server (tools' pods go through it).
var (
	cluster                             *testcluster.Cluster
	adminBin, toolforged, devclusterBin string
)

func TestMain(m *testing.M) {
	var err error
	for name, p := range map[string]*string{"toolforge-admin": &adminBin, "toolforged": &toolforged, "devcluster": &devclusterBin} {
		if *p, err = testcluster.BuildBinary(name); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	testcluster.Main(m, testcluster.Options{RealNodes: 2, AuditLog: true}, &cluster)
}

type fixture struct {
	alpha, beta         *testcluster.Tool
	alphaKube, betaKube kubernetes.Interface
	adminHome           string
	accountsArgs        []string
}

var (
	fixtureOnce sync.Once
	shared      *fixture
	fixtureErr  error
)

func setup(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() { shared, fixtureErr = newFixture() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return shared
}

func tool(homes, name string, uid int64) *testcluster.Tool {
	home := filepath.Join(homes, name)
	return &testcluster.Tool{Name: name, UID: uid, Namespace: "tool-" + name, Home: home,
		Kubeconfig: filepath.Join(home, ".kube", "config"),
		CertFile:   filepath.Join(home, ".toolskube", "client.crt"), KeyFile: filepath.Join(home, ".toolskube", "client.key")}
}

func newFixture() (*fixture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	homes, admins := filepath.Join(cluster.Dir, "home"), filepath.Join(cluster.Dir, "admins")
	accounts := filepath.Join(cluster.Dir, "accounts.yaml")
	src := "tools:\n  - {name: alpha, uid: 50001}\n  - {name: beta, uid: 50002}\nadmins:\n  - {name: alice, uid: 40001}\n"
	if err := os.WriteFile(accounts, []byte(src), 0o644); err != nil {
		return nil, err
	}
	f := &fixture{alpha: tool(homes, "alpha", 50001), beta: tool(homes, "beta", 50002), adminHome: filepath.Join(admins, "alice")}
	f.accountsArgs = []string{"accounts", "--kubeconfig", cluster.Kubeconfig, "--accounts-file", accounts,
		"--home-root", homes, "--admin-home-root", admins, "--health-addr", "0", "--metrics-addr", "0"}
	// A first pass, then the controller for good: what admins declare is
	// reconciled by the running controller, as in production.
	if out, err := exec.CommandContext(ctx, toolforged, append(f.accountsArgs, "--once")...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("toolforged accounts --once: %w\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(cluster.Dir, "logs", "toolforged-accounts.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(toolforged, append(f.accountsArgs, "--interval", "10m")...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if f.alphaKube, err = f.alpha.Client(); err != nil {
		return nil, err
	}
	if f.betaKube, err = f.beta.Client(); err != nil {
		return nil, err
	}
	if _, err := admissiontest.Start(ctx, cluster, f.alpha); err != nil {
		return nil, err
	}
	return f, nil
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// admin runs toolforge-admin as alice, off a terminal.
func (f *fixture) admin(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, adminBin, args...)
	cmd.Env = append(os.Environ(), "HOME="+f.adminHome, "KUBECONFIG="+filepath.Join(f.adminHome, ".kube", "config"),
		"PATH="+filepath.Dir(devclusterBin)+":"+os.Getenv("PATH"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("toolforge-admin %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func mustSucceed(t *testing.T, r result, what string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: %s", what, r)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// adminWrites are the audit log's writes by alice since mark that keep
// selects: every write of toolforge-admin is hers, by impersonation.
func adminWrites(t *testing.T, mark testcluster.AuditMark, keep func(testcluster.AuditEvent) bool) []testcluster.AuditEvent {
	t.Helper()
	evs, err := cluster.AuditEventsSince(context.Background(), mark, func(e testcluster.AuditEvent) bool {
		return e.User.Username == "alice" && keep(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func auditMark(t *testing.T) testcluster.AuditMark {
	t.Helper()
	m, err := cluster.AuditMark(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}
