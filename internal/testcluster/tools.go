package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Tool is a tool provisioned by the real accounts controller.
type Tool struct {
	Name       string
	UID        int64
	Namespace  string
	Home       string
	Kubeconfig string // <home>/.kube/config
	CertFile   string // <home>/.toolskube/client.crt
	KeyFile    string
}

// RestConfig is the tool's own API credentials.
func (t *Tool) RestConfig() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", t.Kubeconfig)
}

// Client is a clientset acting as the tool.
func (t *Tool) Client() (kubernetes.Interface, error) {
	cfg, err := t.RestConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Env is the environment of a shell logged in as the tool: its HOME, so
// kubectl and the toolforge CLI find its kubeconfig and certificate.
func (t *Tool) Env() []string {
	env := []string{"HOME=" + t.Home, "USER=" + t.Name}
	for _, kv := range os.Environ() {
		if !bytes.HasPrefix([]byte(kv), []byte("HOME=")) && !bytes.HasPrefix([]byte(kv), []byte("KUBECONFIG=")) && !bytes.HasPrefix([]byte(kv), []byte("USER=")) {
			env = append(env, kv)
		}
	}
	return env
}

// Result is a finished run of a program as a tool.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Run runs bin as a shell logged in as the tool would: in its home, with
// its Env plus env, stdin as input (not a terminal). A non-zero exit is
// the result's Code; a program that cannot run, or runs for more than
// three minutes, fails t.
func (t *Tool) Run(tb testing.TB, stdin string, env []string, bin string, args ...string) Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(t.Env(), env...)
	cmd.Dir = t.Home
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && ctx.Err() == nil:
		r.Code = exit.ExitCode()
	case err != nil:
		tb.Fatalf("%s %s as %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), t.Name, err, r)
	}
	return r
}

// ProvisionTools makes the named tools exist, with `toolforged accounts
// --once` against this cluster: namespaces, quotas, credentials and
// kubeconfigs under Dir/home. Tools provisioned earlier stay (the accounts
// file lists every tool asked for so far). UIDs are assigned from 50001.
func (c *Cluster) ProvisionTools(ctx context.Context, names ...string) (map[string]*Tool, error) {
	return c.ProvisionToolsWith(ctx, Accounts{}, names...)
}

// Accounts changes how ProvisionToolsWith runs the accounts controller:
// two clusters side by side share one HomeRoot, each with its own
// --context-name (and the new one --gentle) in Args.
type Accounts struct {
	// HomeRoot holds the tools' homes (default Dir/home).
	HomeRoot string
	// Admins are provisioned too, with homes under AdminHomeRoot (default
	// Dir/admins), uids from 40001.
	Admins        []string
	AdminHomeRoot string
	// Args are more flags of toolforged accounts.
	Args []string
}

// ProvisionToolsWith is ProvisionTools with the accounts controller run as
// a says. The same names in the same order get the same uids on every
// cluster, as one account source gives them.
func (c *Cluster) ProvisionToolsWith(ctx context.Context, a Accounts, names ...string) (map[string]*Tool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tools == nil {
		c.tools = map[string]*Tool{}
	}
	homeRoot := a.HomeRoot
	if homeRoot == "" {
		homeRoot = filepath.Join(c.Dir, "home")
	}
	adminRoot := a.AdminHomeRoot
	if adminRoot == "" {
		adminRoot = filepath.Join(c.Dir, "admins")
	}
	certDir := ".toolskube"
	for i, arg := range a.Args {
		if arg == "--context-name" && i+1 < len(a.Args) && a.Args[i+1] != "toolforge" {
			certDir += "-" + a.Args[i+1]
		}
	}
	for _, n := range names {
		if _, ok := c.tools[n]; !ok {
			home := filepath.Join(homeRoot, n)
			c.tools[n] = &Tool{
				Name: n, UID: int64(50001 + len(c.tools)), Namespace: "tool-" + n, Home: home,
				Kubeconfig: filepath.Join(home, ".kube", "config"),
				CertFile:   filepath.Join(home, certDir, "client.crt"),
				KeyFile:    filepath.Join(home, certDir, "client.key"),
			}
		}
	}
	var all []string
	for n := range c.tools {
		all = append(all, n)
	}
	sort.Slice(all, func(i, j int) bool { return c.tools[all[i]].UID < c.tools[all[j]].UID })
	var file bytes.Buffer
	file.WriteString("tools:\n")
	for _, n := range all {
		fmt.Fprintf(&file, "  - {name: %s, uid: %d}\n", n, c.tools[n].UID)
	}
	if len(a.Admins) > 0 {
		file.WriteString("admins:\n")
		for i, n := range a.Admins {
			fmt.Fprintf(&file, "  - {name: %s, uid: %d}\n", n, 40001+i)
		}
	}
	accounts := filepath.Join(c.Dir, "accounts.yaml")
	if err := os.WriteFile(accounts, file.Bytes(), 0o644); err != nil {
		return nil, err
	}
	bin, err := BuildBinary("toolforged")
	if err != nil {
		return nil, err
	}
	args := append([]string{"accounts", "--once",
		"--kubeconfig", c.Kubeconfig, "--accounts-file", accounts, "--home-root", homeRoot, "--admin-home-root", adminRoot,
		"--metrics-addr", "0", "--health-addr", "0"}, a.Args...)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("toolforged accounts --once: %w\n%s", err, out)
	}
	got := map[string]*Tool{}
	for _, n := range names {
		got[n] = c.tools[n]
	}
	return got, nil
}
