// Package testcluster gives integration tests a real Kubernetes control plane:
// one devcluster per test package, started from TestMain.
//
//	var cluster *testcluster.Cluster
//
//	func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{}, &cluster) }
package testcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options choose the cluster a test package gets.
type Options struct {
	// Nodes is the number of simulated (kwok) nodes (default 1 when there
	// are no real nodes).
	Nodes int
	// RealNodes is the number of real nodes (kubelet, containerd): pods
	// on them really run. They need root.
	RealNodes int
	// AuditLog records every API write in Dir/logs/audit.log.
	AuditLog bool
}

// Cluster is a running devcluster.
type Cluster struct {
	Dir        string
	Kubeconfig string
	CACert     string
	APIURL     string
	// LogsIngestAddr is where the nodes' log collectors send lines (real
	// nodes only): the platform's logs ingestion listens there.
	LogsIngestAddr string
	Config         *rest.Config
	Client         kubernetes.Interface
	bin            string

	mu          sync.Mutex
	tools       map[string]*Tool
	platforms   int
	ingestTaken bool // a running platform listens on LogsIngestAddr
}

// Main starts a cluster, stores it in *c, runs the package's tests and
// stops the cluster. The cluster directory (with every component's logs)
// is kept when a test failed.
func Main(m *testing.M, o Options, c **Cluster) {
	cluster, err := Start(context.Background(), o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		os.Exit(1)
	}
	*c = cluster
	code := m.Run()
	if err := cluster.stop(code == 0); err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Start builds (or finds) the devcluster binary and starts a cluster in a
// new temporary directory on a free loopback port.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Nodes == 0 && o.RealNodes == 0 {
		o.Nodes = 1
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "devcluster-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	// A free port can be taken by another test package between picking and
	// binding it; try again with another.
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		args := []string{"start", "--dir", dir, "--nodes", strconv.Itoa(o.RealNodes), "--kwok-nodes", strconv.Itoa(o.Nodes), "--port", strconv.Itoa(port)}
		ingestAddr := ""
		if o.RealNodes > 0 {
			ingress, err := FreePort()
			if err != nil {
				return nil, err
			}
			args = append(args, "--ingress-port", strconv.Itoa(ingress))
			// The collectors send to the platform's ingestion, which
			// StartPlatform starts there (until then they keep the lines).
			ingest, err := FreePort()
			if err != nil {
				return nil, err
			}
			ingestAddr = "127.0.0.1:" + strconv.Itoa(ingest)
			args = append(args, "--logs-ingest", "http://"+ingestAddr+"/insert/jsonline")
		}
		if o.AuditLog {
			args = append(args, "--audit-log")
		}
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err == nil {
			c, err := connect(bin, dir)
			if c != nil {
				c.LogsIngestAddr = ingestAddr
			}
			return c, err
		}
		lastErr = fmt.Errorf("devcluster %s: %w\n%s", strings.Join(args, " "), err, out)
		if !bytes.Contains(out, []byte("already in use")) {
			break
		}
	}
	return nil, lastErr
}

func connect(bin, dir string) (*Cluster, error) {
	c := &Cluster{
		Dir:        dir,
		Kubeconfig: filepath.Join(dir, "kubeconfig"),
		CACert:     filepath.Join(dir, "ca.crt"),
		bin:        bin,
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	c.Config, c.APIURL = cfg, cfg.Host
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop stops the cluster and removes its directory.
func (c *Cluster) Stop() error { return c.stop(true) }

// StopAfter stops the cluster and removes its directory, unless the tests
// failed: then it is kept with its logs (as Main does).
func (c *Cluster) StopAfter(failed bool) error { return c.stop(!failed) }

func (c *Cluster) stop(remove bool) error {
	out, err := exec.Command(c.bin, "stop", "--dir", c.Dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("devcluster stop: %w\n%s", err, out)
	}
	if !remove {
		fmt.Fprintf(os.Stderr, "testcluster: kept %s (logs in %s/logs)\n", c.Dir, c.Dir)
		return nil
	}
	return os.RemoveAll(c.Dir)
}

// Kubectl runs the real kubectl with the given kubeconfig and returns its
// stdout, and an error carrying stderr when it fails.
func Kubectl(ctx context.Context, kubeconfig string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Binary returns the devcluster binary: $DEVCLUSTER if set, else
// bin/devcluster of this repository, (re)built by make when stale.
func Binary() (string, error) {
	if bin := os.Getenv("DEVCLUSTER"); bin != "" {
		return bin, nil
	}
	return BuildBinary("devcluster")
}

// BuildBinary makes bin/<name> of this repository with make (which owns the
// build flags) and returns its path. Builds by concurrently running test
// packages are serialised with a file lock.
func BuildBinary(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(root, "bin", ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "make", "-s", "-C", root, "bin/"+name).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build %s (make bin/%s): %w\n%s", name, name, err, out)
	}
	return filepath.Join(root, "bin", name), nil
}

// RepoRoot finds the repository root (the directory holding go.mod and
// devcluster/) from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "devcluster", "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod beside devcluster/) above the working directory; set DEVCLUSTER to a devcluster binary")
		}
		dir = parent
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// IngressURL is where the cluster's ingress controller answers HTTP on
// loopback (http://127.0.0.1:<port>), as devcluster recorded it in its state
// file; clusters without real nodes have none.
func (c *Cluster) IngressURL() (string, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, "state.json"))
	if err != nil {
		return "", err
	}
	var st struct {
		IngressURL string `json:"ingressURL"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return "", fmt.Errorf("parse state.json: %w", err)
	}
	if st.IngressURL == "" {
		return "", errors.New("the cluster has no ingress (no real nodes)")
	}
	return st.IngressURL, nil
}

// LogsStoreURL is the cluster's log store (VictoriaLogs on loopback), as
// devcluster recorded it; clusters without real nodes have none.
func (c *Cluster) LogsStoreURL() (string, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, "state.json"))
	if err != nil {
		return "", err
	}
	var st struct {
		LogsStore string `json:"logsStore"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return "", fmt.Errorf("parse state.json: %w", err)
	}
	if st.LogsStore == "" {
		return "", errors.New("the cluster has no log store (no real nodes)")
	}
	return st.LogsStore, nil
}

// PIDs lists the cluster's processes (the supervisor, which also runs etcd
// and kwok, and every other component), as recorded by devcluster in its
// state file.
func (c *Cluster) PIDs() ([]int, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var st struct {
		SupervisorPID int `json:"supervisorPID"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("parse state.json: %w", err)
	}
	return descendants(st.SupervisorPID)
}

// descendants lists pid and every process below it: the whole cluster,
// real nodes' processes (entered through nsenter, or reparented to their
// node's sandbox) and containers included.
func descendants(root int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name, which may itself hold spaces.
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}
