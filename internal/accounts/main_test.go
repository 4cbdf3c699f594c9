package accounts_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/promtext"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// The tests drive the real toolforged binary against one devcluster whose
// API server audit-logs every write.
var (
	cluster    *testcluster.Cluster
	toolforged string
)

func TestMain(m *testing.M) {
	var err error
	if toolforged, err = testcluster.BuildBinary("toolforged"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := testcluster.BuildBinary("kubectl-sudo"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testcluster.Main(m, testcluster.Options{Nodes: 1, AuditLog: true}, &cluster)
}

// fixture is one test's account source and homes, on a cluster.
type fixture struct {
	t        *testing.T
	c        *testcluster.Cluster
	dir      string
	accounts string
	homes    string
	admins   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, c: cluster, dir: dir, accounts: filepath.Join(dir, "accounts.yaml"), homes: filepath.Join(dir, "homes"), admins: filepath.Join(dir, "admins")}
	return f
}

// newIsolatedFixture is a fixture on a devcluster of its own, for tests
// whose passes would otherwise act on the other tests' tools (a short
// removal grace deletes every tool pending removal).
func newIsolatedFixture(t *testing.T) *fixture {
	t.Helper()
	c, err := testcluster.Start(context.Background(), testcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	f := newFixture(t)
	f.c = c
	return f
}

// account is a line of the accounts file.
type account struct {
	name     string
	uid      int64
	disabled bool
	admin    bool
}

// write replaces the accounts file.
func (f *fixture) write(accounts ...account) {
	f.t.Helper()
	var b bytes.Buffer
	b.WriteString("tools:\n")
	for _, a := range accounts {
		if !a.admin {
			fmt.Fprintf(&b, "  - {name: %q, uid: %d, disabled: %v}\n", a.name, a.uid, a.disabled)
		}
	}
	b.WriteString("admins:\n")
	for _, a := range accounts {
		if a.admin {
			fmt.Fprintf(&b, "  - {name: %q, uid: %d}\n", a.name, a.uid)
		}
	}
	if err := os.WriteFile(f.accounts, b.Bytes(), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) args(extra ...string) []string {
	return append([]string{"accounts",
		"--kubeconfig", f.c.Kubeconfig,
		"--accounts-file", f.accounts,
		"--home-root", f.homes,
		"--admin-home-root", f.admins,
		"--health-addr", "0",
	}, extra...)
}

// once runs `toolforged accounts --once` and returns its log.
func (f *fixture) once(extra ...string) (string, error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, toolforged, f.args(append([]string{"--once", "--metrics-addr", "0"}, extra...)...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// mustOnce is once for runs that must succeed.
func (f *fixture) mustOnce(extra ...string) string {
	f.t.Helper()
	out, err := f.once(extra...)
	if err != nil {
		f.t.Fatalf("toolforged accounts --once: %v\n%s", err, out)
	}
	return out
}

func (f *fixture) home(tool string) string { return filepath.Join(f.homes, tool) }
func (f *fixture) kubeconfig(tool string) string {
	return filepath.Join(f.home(tool), ".kube", "config")
}

// daemon is `toolforged accounts` running in the background.
type daemon struct {
	cmd     *exec.Cmd
	metrics string
	log     *bytes.Buffer
}

// start runs the controller as a daemon; it is stopped when the test ends.
func (f *fixture) start(extra ...string) *daemon {
	f.t.Helper()
	port, err := testcluster.FreePort()
	if err != nil {
		f.t.Fatal(err)
	}
	d := &daemon{metrics: "127.0.0.1:" + strconv.Itoa(port), log: &bytes.Buffer{}}
	d.cmd = exec.Command(toolforged, f.args(append([]string{"--metrics-addr", d.metrics}, extra...)...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		_ = d.cmd.Wait()
		if f.t.Failed() {
			f.t.Logf("controller log:\n%s", d.log.String())
		}
	})
	return d
}

// metric reads one sample of the daemon's /metrics, summed over labels
// matching the given label filter ("" for all).
func (d *daemon) metric(name string, labels map[string]string) (float64, error) {
	resp, err := http.Get("http://" + d.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return sumMetric(resp.Body, name, labels)
}

func sumMetric(r io.Reader, name string, labels map[string]string) (float64, error) {
	sum, found, err := promtext.Sum(r, name, labels)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("metric %s%v not exported", name, labels)
	}
	return sum, nil
}

// kubectl runs the real kubectl with kubeconfig.
func kubectl(kubeconfig string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return testcluster.Kubectl(ctx, kubeconfig, args...)
}

// asTool runs kubectl as a tool would on the bastion: HOME is its home,
// no --kubeconfig, so kubectl finds ~/.kube/config itself.
func asTool(home string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Env = withEnv(os.Environ(), "HOME="+home, "KUBECONFIG=", "PATH="+binPath()+":"+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// binPath is the repository's bin/, where kubectl finds kubectl-sudo.
func binPath() string {
	root, err := testcluster.RepoRoot()
	if err != nil {
		panic(err)
	}
	return filepath.Join(root, "bin")
}

func withEnv(env []string, set ...string) []string {
	out := append([]string(nil), env...)
	for _, kv := range set {
		key := kv[:strings.IndexByte(kv, '=')+1]
		for i := 0; i < len(out); i++ {
			if strings.HasPrefix(out[i], key) {
				out = append(out[:i], out[i+1:]...)
				i--
			}
		}
		out = append(out, kv)
	}
	return out
}

// auditMark is a position in the API server's audit log.
type auditMark int64

func markAudit(t *testing.T) auditMark {
	t.Helper()
	st, err := os.Stat(filepath.Join(cluster.Dir, "logs", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	return auditMark(st.Size())
}

// writesSince lists the writes (verb resource/name) the accounts
// controller's identity (by user agent) made after mark.
func writesSince(t *testing.T, mark auditMark) []string {
	t.Helper()
	// Whatever completed before now must be in the log before it is read:
	// a zero-writes check over a log that lags would pass whatever happened.
	if err := cluster.AuditSync(ctx()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(cluster.Dir, "logs", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(int64(mark), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var writes []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Verb      string `json:"verb"`
			UserAgent string `json:"userAgent"`
			ObjectRef struct {
				Resource, Namespace, Name string
			} `json:"objectRef"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit log line: %v", err)
		}
		if strings.HasPrefix(ev.UserAgent, "toolforged-accounts/") {
			writes = append(writes, fmt.Sprintf("%s %s %s/%s", ev.Verb, ev.ObjectRef.Resource, ev.ObjectRef.Namespace, ev.ObjectRef.Name))
		}
	}
	return writes
}
