// Package e2e checks the devcluster contract from the outside: the real
// binary, started as a user would, driven with kubectl and client-go.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The cluster shared by the tests of this package.
var (
	bin    string // the devcluster binary under test
	shared struct {
		dir, kubeconfig string
		client          kubernetes.Interface
		ingressPort     int
	}
)

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e setup: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if out, err := exec.Command(bin, "stop", "--dir", shared.dir).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "stop shared cluster: %v\n%s", err, out)
		code = 1
	}
	if code == 0 {
		os.RemoveAll(shared.dir)
	} else {
		fmt.Fprintf(os.Stderr, "kept %s for its logs\n", shared.dir)
	}
	os.Exit(code)
}

func setup() error {
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	// make owns the build flags (the Kubernetes version stamp).
	if out, err := exec.Command("make", "-s", "-C", root, "bin/devcluster").CombinedOutput(); err != nil {
		return fmt.Errorf("make bin/devcluster: %w\n%s", err, out)
	}
	bin = filepath.Join(root, "bin", "devcluster")
	if shared.dir, err = os.MkdirTemp("", "devcluster-e2e-"); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	if shared.ingressPort, err = freePort(); err != nil {
		return err
	}
	res := run("start", "--dir", shared.dir, "--nodes", "1", "--kwok-nodes", "2", "--port", strconv.Itoa(port), "--ingress-port", strconv.Itoa(shared.ingressPort))
	if res.code != 0 {
		return fmt.Errorf("start: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	shared.kubeconfig = filepath.Join(shared.dir, "kubeconfig")
	shared.client, err = clientFor(shared.kubeconfig)
	return err
}

func clientFor(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the devcluster binary.
func run(args ...string) result { return runCmd(exec.Command(bin, args...)) }

func runCmd(cmd *exec.Cmd) result {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		code = -1
		stderr.WriteString(err.Error())
	}
	return result{stdout.String(), stderr.String(), code}
}

// kubectl runs the real kubectl as the holder of kubeconfig.
func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	res := runCmd(exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...))
	if res.code != 0 {
		return res.stdout, fmt.Errorf("kubectl %s: exit %d: %s", strings.Join(args, " "), res.code, strings.TrimSpace(res.stderr))
	}
	return res.stdout, nil
}

// mustKubectl is kubectl for steps that must work.
func mustKubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, err := kubectl(t, kubeconfig, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// apply feeds a manifest to kubectl apply.
func apply(t *testing.T, kubeconfig, manifest string) (string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", "--kubeconfig", kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	res := runCmd(cmd)
	if res.code != 0 {
		return res.stdout, fmt.Errorf("kubectl apply: exit %d: %s", res.code, strings.TrimSpace(res.stderr))
	}
	return res.stdout, nil
}

// eventually polls cond until it holds, failing the test after timeout with
// the last reason cond gave.
func eventually(t *testing.T, timeout time.Duration, cond func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := cond(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reached after %s: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// processesOf lists the live processes whose command line mentions dir.
func processesOf(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
				continue // a zombie is not running
			}
		}
		found = append(found, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	}
	return found
}

// assertNothingRunning fails if any process of the cluster in dir is alive.
func assertNothingRunning(t *testing.T, dir string) {
	t.Helper()
	if procs := processesOf(dir); len(procs) > 0 {
		t.Fatalf("processes of %s still running:\n%s", dir, strings.Join(procs, "\n"))
	}
}

// runAsNobody runs the devcluster binary as an unprivileged user.
func runAsNobody(args ...string) result {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return runCmd(cmd)
}
