package admission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{}, &cluster) }

// fixture is what the integration tests share: two tools provisioned by
// the real accounts controller, and the real `toolforged admission`
// binary serving the cluster.
type fixture struct {
	alpha, beta         *testcluster.Tool
	alphaKube, betaKube kubernetes.Interface
	server              *server
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

func newFixture() (*fixture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tools, err := cluster.ProvisionTools(ctx, "alpha", "beta")
	if err != nil {
		return nil, err
	}
	f := &fixture{alpha: tools["alpha"], beta: tools["beta"]}
	if f.alphaKube, err = f.alpha.Client(); err != nil {
		return nil, err
	}
	if f.betaKube, err = f.beta.Client(); err != nil {
		return nil, err
	}
	bin, err := testcluster.BuildBinary("toolforged")
	if err != nil {
		return nil, err
	}
	f.server = &server{bin: bin, log: filepath.Join(cluster.Dir, "logs", "toolforged-admission.log"), alpha: f.alpha, alphaKube: f.alphaKube}
	if err := f.server.start(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// server runs `toolforged admission` against the test cluster.
type server struct {
	bin, log   string
	addr       string
	healthAddr string
	cmd        *exec.Cmd
	alpha      *testcluster.Tool
	alphaKube  kubernetes.Interface
}

func (s *server) start(ctx context.Context) error {
	if s.addr == "" {
		ports := make([]int, 3)
		for i := range ports {
			p, err := testcluster.FreePort()
			if err != nil {
				return err
			}
			ports[i] = p
		}
		s.addr = "127.0.0.1:" + strconv.Itoa(ports[0])
		s.healthAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	}
	logFile, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	s.cmd = exec.Command(s.bin, "admission", "--kubeconfig", cluster.Kubeconfig,
		"--admission-addr", s.addr, "--health-addr", s.healthAddr, "--metrics-addr", "0")
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// The server must not outlive the test binary.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start toolforged admission: %w", err)
	}
	return s.waitServing(ctx)
}

// waitServing returns once the server is ready and the API server calls
// it (a dry-run pod of alpha comes back with alpha's uid), and applies the
// policies it installed (an Ingress for a host not alpha's is refused).
func (s *server) waitServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for {
		resp, err := http.Get("http://" + s.healthAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				pod, err := dryRunPod(ctx, s.alphaKube, s.alpha.Namespace, compliantPod("probe"))
				_, ingErr := s.alphaKube.NetworkingV1().Ingresses(s.alpha.Namespace).Create(ctx, ingress("probe.invalid"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				mutated := err == nil && pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.RunAsUser != nil && *pod.Spec.SecurityContext.RunAsUser == s.alpha.UID
				if mutated && ingErr != nil && strings.Contains(ingErr.Error(), "ingress: ") {
					return nil
				}
				last = fmt.Errorf("probe pod not mutated (%v) or probe Ingress not refused (%v)", err, ingErr)
			} else {
				last = fmt.Errorf("readyz: %s", resp.Status)
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(s.log)
			return fmt.Errorf("toolforged admission not serving: %v\n%s", last, log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		return errors.New("toolforged admission did not stop on SIGTERM within 30s")
	}
}

const allowedImage = "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"

// compliantPod is what a tool would write: nothing about security.
func compliantPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "main", Image: allowedImage, Command: []string{"sleep", "infinity"}}},
		},
	}
}

func dryRunPod(ctx context.Context, kube kubernetes.Interface, ns string, pod *corev1.Pod) (*corev1.Pod, error) {
	return kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// wantDenied fails unless err refuses the request with a message that
// contains every one of want (the rule, the field, what is allowed).
func wantDenied(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted; want a denial containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("denial %q\ndoes not contain %q", err, w)
		}
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kubectlAs runs the real kubectl with tool's own kubeconfig.
func kubectlAs(ctx context.Context, tool *testcluster.Tool, args ...string) (string, error) {
	return testcluster.Kubectl(ctx, tool.Kubeconfig, args...)
}
