// Package statustest runs the real `toolforged status` against a test
// cluster, for end-to-end tests and benchmarks.
package statustest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/status"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// Server is a running `toolforged status`.
type Server struct {
	URL    string
	Log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// ServiceAccountKubeconfig installs the status page's RBAC (as an admin
// would) and returns a kubeconfig of its ServiceAccount: the server then
// reads with exactly the documented roles.
func ServiceAccountKubeconfig(ctx context.Context, c *testcluster.Cluster) (string, error) {
	ns := tenancy.PlatformNamespace
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	if err := status.InstallRBAC(ctx, c.Client, ns); err != nil {
		return "", err
	}
	return c.ServiceAccountKubeconfig(ctx, ns, status.RoleName)
}

// Start runs `toolforged status --kubeconfig kubeconfig` on a free port
// and returns once its caches have filled (/healthz answers 200). Extra
// arguments go to toolforged.
func Start(ctx context.Context, c *testcluster.Cluster, kubeconfig, name string, extra ...string) (*Server, error) {
	bin, err := testcluster.BuildBinary("toolforged")
	if err != nil {
		return nil, err
	}
	port, err := testcluster.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), Log: filepath.Join(c.Dir, "logs", name+".log")}
	logFile, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args := append([]string{"status", "--kubeconfig", kubeconfig, "--status-addr", "127.0.0.1:" + strconv.Itoa(port),
		"--metrics-addr", "0", "--health-addr", "0"}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// The server must not outlive the test binary.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start toolforged status: %w", err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	if err := s.waitHealthy(ctx); err != nil {
		s.Stop()
		log, _ := os.ReadFile(s.Log)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return s, nil
}

func (s *Server) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := hc.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("toolforged status exited")
		case <-ctx.Done():
			return fmt.Errorf("toolforged status did not become healthy: %v", err)
		case <-tick.C:
		}
	}
}

// Stop ends the server (SIGTERM, SIGKILL after 15 s) and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
