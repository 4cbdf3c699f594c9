package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStatusShowsPidsAndTheAPIURL(t *testing.T) {
	res := run("status", "--dir", shared.dir)
	if res.code != 0 {
		t.Fatalf("status: exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"ready", "https://127.0.0.1:", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "etcd", "supervisor"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, res.stdout)
		}
	}
}

func TestStartingARunningClusterSaysSoAndSucceeds(t *testing.T) {
	res := run("start", "--dir", shared.dir, "--nodes", "1", "--kwok-nodes", "2")
	if res.code != 0 || !strings.Contains(res.stderr, "already running") {
		t.Fatalf("second start: exit %d, stderr %q; want exit 0 and 'already running'", res.code, res.stderr)
	}
}

// A second cluster with its own real node runs beside the shared one: both
// run pods at once. The second keeps its data across stop/start, and a
// stopped cluster leaves nothing on the host: no process, mount, network
// device, route, iptables chain, network namespace or cgroup.
func TestTwoClustersSideBySideAndStopLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ingressPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	before := snapshotHost(t)
	startArgs := []string{"start", "--dir", dir, "--nodes", "1", "--kwok-nodes", "1", "--port", strconv.Itoa(port), "--ingress-port", strconv.Itoa(ingressPort)}
	res := run(startArgs...)
	if res.code != 0 {
		t.Fatalf("start second cluster: exit %d\n%s", res.code, res.stderr)
	}
	defer run("stop", "--dir", dir)
	second := filepath.Join(dir, "kubeconfig")
	mustKubectl(t, second, "create", "namespace", "only-in-second")
	if nodes := strings.Fields(mustKubectl(t, second, "get", "nodes", "-o", "name")); len(nodes) != 2 {
		t.Fatalf("second cluster nodes: %v, want 2", nodes)
	}
	if _, err := shared.client.CoreV1().Namespaces().Get(context.Background(), "only-in-second", metav1.GetOptions{}); err == nil {
		t.Fatal("the shared cluster sees a namespace created in the second one")
	}
	// A pod runs in each cluster at the same time.
	pod := func(kubeconfig string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: both, namespace: default}
spec:
  nodeSelector: {type: real}
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: %s, command: [sh, -c, "hostname; sleep 3600"]}]
`, pythonImage)
	}
	for _, kc := range []string{second, shared.kubeconfig} {
		if _, err := apply(t, kc, pod(kc)); err != nil {
			t.Fatal(err)
		}
	}
	for _, kc := range []string{second, shared.kubeconfig} {
		eventually(t, imageTimeout, func(ctx context.Context) error {
			out, err := kubectl(t, kc, "get", "pod", "both", "-o", "jsonpath={.status.phase}")
			if err != nil || out != "Running" {
				return fmt.Errorf("pod in %s: %q %v", kc, out, err)
			}
			return nil
		})
	}
	defer kubectl(t, shared.kubeconfig, "delete", "pod", "both", "--wait=false")
	if len(processesOf(dir)) == 0 {
		t.Fatal("no process of the second cluster found while it runs")
	}
	slot := networkSlot(t, dir)
	if !linkExists(fmt.Sprintf("devcl%d", slot)) {
		t.Fatalf("the second cluster's bridge devcl%d does not exist while it runs", slot)
	}

	if res := run("stop", "--dir", dir); res.code != 0 {
		t.Fatalf("stop: exit %d: %s", res.code, res.stderr)
	}
	assertNothingRunning(t, dir)
	assertHostClean(t, before, dir, slot)
	if res := run("status", "--dir", dir); res.code != 1 || !strings.Contains(res.stdout, "not running") {
		t.Fatalf("status after stop: exit %d, %q", res.code, res.stdout)
	}
	// The shared cluster is untouched, and its pod still runs.
	mustKubectl(t, shared.kubeconfig, "get", "--raw", "/readyz")
	if out := mustKubectl(t, shared.kubeconfig, "get", "pod", "both", "-o", "jsonpath={.status.phase}"); out != "Running" {
		t.Fatalf("the shared cluster's pod is %s after the second cluster stopped", out)
	}

	// Restarted, the cluster has its data back and runs pods again.
	if res := run(startArgs...); res.code != 0 {
		t.Fatalf("restart: exit %d\n%s", res.code, res.stderr)
	}
	mustKubectl(t, second, "get", "namespace", "only-in-second")
	eventually(t, 2*time.Minute, func(ctx context.Context) error {
		out, err := kubectl(t, second, "get", "pod", "both", "-o", "jsonpath={.status.phase}")
		if err != nil || out != "Running" {
			return fmt.Errorf("pod after restart: %q %v", out, err)
		}
		return nil
	})
	if res := run("stop", "--dir", dir); res.code != 0 {
		t.Fatalf("stop: exit %d: %s", res.code, res.stderr)
	}
	assertNothingRunning(t, dir)
	assertHostClean(t, before, dir, slot)
	if res := run("stop", "--dir", dir); res.code != 0 {
		t.Fatalf("stopping a stopped cluster: exit %d: %s", res.code, res.stderr)
	}
}

func TestBadInputGivesOneClearLineAndLeavesNothingRunning(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)

	base := t.TempDir()
	aFile := filepath.Join(base, "a-file")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory the (unprivileged) user cannot write to.
	readOnly := filepath.Join(base, "read-only")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := os.Geteuid() == 0 // root writes anywhere: try as nobody
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	free := strconv.Itoa(port)

	cases := []struct {
		name     string
		args     []string
		nobody   bool
		wantCode int
		want     string
	}{
		{"a port already taken", []string{"--dir", filepath.Join(base, "p"), "--port", takenPort}, false, 1, "port " + takenPort + " on 127.0.0.1 is already in use"},
		{"a dir below a regular file", []string{"--dir", filepath.Join(aFile, "sub"), "--port", free}, false, 1, "not a directory"},
		{"a dir the user may not write", []string{"--dir", filepath.Join(readOnly, "sub"), "--port", free}, asNobody, 1, "permission denied"},
		{"zero nodes", []string{"--dir", filepath.Join(base, "z"), "--nodes", "0"}, false, 2, "a cluster needs at least one node"},
		{"negative nodes", []string{"--dir", filepath.Join(base, "n"), "--nodes", "-3"}, false, 2, "--nodes and --kwok-nodes cannot be negative (got -3 and 0)"},
		{"a taken ingress port", []string{"--dir", filepath.Join(base, "i"), "--port", free, "--ingress-port", takenPort}, false, 1, "ingress port " + takenPort + " on 127.0.0.1 is already in use; choose another with --ingress-port"},
		{"a port out of range", []string{"--dir", filepath.Join(base, "r"), "--port", "70000"}, false, 2, "--port must be between 1 and 65535"},
		{"no dir", []string{"--nodes", "1"}, false, 2, "--dir is required"},
		{"a log retention under a day", []string{"--dir", filepath.Join(base, "l"), "--logs-retention", "12h"}, false, 2, `--logs-retention "12h": the store keeps lines at least 1d`},
		{"a log retention without a unit", []string{"--dir", filepath.Join(base, "l"), "--logs-retention", "14"}, false, 2, "want N followed by h, d, w or y (e.g. 14d)"},
		{"a log ingestion that is no URL", []string{"--dir", filepath.Join(base, "l"), "--logs-ingest", "localhost:9429"}, false, 2, `--logs-ingest "localhost:9429": want an http(s) URL`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"start"}, tc.args...)
			var res result
			if tc.nobody {
				res = runAsNobody(args...)
			} else {
				res = run(args...)
			}
			lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
			if res.code != tc.wantCode || len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and one line 'error: …%s…'", res.code, res.stderr, tc.wantCode, tc.want)
			}
			assertNothingRunning(t, base)
		})
	}
	if _, err := os.Stat(filepath.Join(base, "p")); !os.IsNotExist(err) {
		t.Error("a start refused for a taken port created its directory")
	}
}

// A component that cannot start (here: the API server's certificate is
// garbage) fails the start with its reason, and nothing is left running.
func TestAFailingComponentStopsEverythingWithItsReason(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kube-apiserver.crt", "kube-apiserver.key"} {
		if err := os.WriteFile(filepath.Join(pkiDir, f), []byte("not a certificate"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	res := run("start", "--dir", dir, "--nodes", "0", "--kwok-nodes", "1", "--port", strconv.Itoa(port))
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	last := lines[len(lines)-1]
	if res.code != 1 || !strings.HasPrefix(last, "error: kube-apiserver") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and a last line 'error: kube-apiserver …'", res.code, res.stderr)
	}
	assertNothingRunning(t, dir)
	if res := run("status", "--dir", dir); res.code != 1 || !strings.Contains(res.stdout, "last run failed: kube-apiserver") {
		t.Fatalf("status after a failed start: exit %d, %q", res.code, res.stdout)
	}
}

// A machine that cannot run real nodes is refused before anything starts,
// with one line naming the cause and the fix. Each case changes the machine
// in a private mount namespace of its own, so the host is untouched.
func TestAMachineThatCannotRunRealNodesGetsOneClearLine(t *testing.T) {
	cases := []struct {
		name, prepare, want string
	}{
		{"runc is missing", `mount --bind /dev/null "$(command -v runc || echo /usr/sbin/runc)"`,
			"runc not found: real nodes need it (install the Debian package runc: apt-get install runc)"},
		{"the CNI plugins are missing", `mount -t tmpfs none /usr/lib/cni`,
			"CNI plugin bridge not found in /usr/lib/cni: install the Debian package containernetworking-plugins"},
		// On cgroup v1 the memory hierarchy goes; on a v2-only host, the
		// whole cgroup file system.
		{"kubelet's cgroups are missing", `if [ -d /sys/fs/cgroup/memory ]; then umount -l /sys/fs/cgroup/memory; else umount -l /sys/fs/cgroup; fi`,
			"kubelet cannot run here: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			port, err := freePort()
			if err != nil {
				t.Fatal(err)
			}
			ingress, err := freePort()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", tc.prepare+` && exec "$0" "$@"`,
				bin, "start", "--dir", dir, "--port", strconv.Itoa(port), "--ingress-port", strconv.Itoa(ingress))
			res := runCmd(cmd)
			lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
			if res.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "error: "+tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and one line 'error: %s…'", res.code, res.stderr, tc.want)
			}
			assertNothingRunning(t, dir)
			if _, err := os.Stat(filepath.Join(dir, "network.json")); err == nil {
				t.Error("a refused start set up a network")
			}
		})
	}
}
