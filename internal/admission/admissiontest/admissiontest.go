// Package admissiontest runs the real `toolforged admission` binary against
// a test cluster, for the tests of every package whose pods must pass
// through it.
package admissiontest

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
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/promtext"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// Server is a running `toolforged admission`.
type Server struct {
	// Log is the server's log file, in the cluster's logs directory.
	Log string

	bin, addr, healthAddr, metricsAddr string
	cluster                            *testcluster.Cluster
	probe                              *testcluster.Tool
	probeKube                          kubernetes.Interface
	cmd                                *exec.Cmd
}

// Start runs the server and returns once the API server calls it, as probe
// (a provisioned tool) sees it: a dry-run pod of probe's comes back with
// probe's uid, and an Ingress for a host not probe's is refused by the
// policy the server installed.
func Start(ctx context.Context, c *testcluster.Cluster, probe *testcluster.Tool) (*Server, error) {
	bin, err := testcluster.BuildBinary("toolforged")
	if err != nil {
		return nil, err
	}
	kube, err := probe.Client()
	if err != nil {
		return nil, err
	}
	s := &Server{Log: filepath.Join(c.Dir, "logs", "toolforged-admission.log"), bin: bin, cluster: c, probe: probe, probeKube: kube}
	for _, addr := range []*string{&s.addr, &s.healthAddr, &s.metricsAddr} {
		port, err := testcluster.FreePort()
		if err != nil {
			return nil, err
		}
		*addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	return s, s.Start(ctx)
}

// Start (re)starts a stopped server on its addresses.
func (s *Server) Start(ctx context.Context) error {
	logFile, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	s.cmd = exec.Command(s.bin, "admission", "--kubeconfig", s.cluster.Kubeconfig,
		"--admission-addr", s.addr, "--health-addr", s.healthAddr, "--metrics-addr", s.metricsAddr)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// It must not outlive the test binary, which may have no hook to stop it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start toolforged admission: %w", err)
	}
	return s.waitServing(ctx)
}

// Stop stops the server with SIGTERM, as an operator would.
func (s *Server) Stop() error {
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

// WebhookRequests is how many requests the webhook at path (e.g.
// /mutate-pods) has answered since the server started, from its metrics.
func (s *Server) WebhookRequests(path string) (float64, error) {
	resp, err := http.Get("http://" + s.metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	total, _, err := promtext.Sum(resp.Body, "controller_runtime_webhook_requests_total", map[string]string{"webhook": path})
	return total, err
}

func (s *Server) waitServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	probePod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "admission-probe"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest"}}},
	}
	probeIngress := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "admission-probe"},
		Spec:       networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "probe.invalid"}}},
	}
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	var last error
	for {
		resp, err := http.Get("http://" + s.healthAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				pod, err := s.probeKube.CoreV1().Pods(s.probe.Namespace).Create(ctx, probePod, dryRun)
				_, ingErr := s.probeKube.NetworkingV1().Ingresses(s.probe.Namespace).Create(ctx, probeIngress, dryRun)
				mutated := err == nil && pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.RunAsUser != nil && *pod.Spec.SecurityContext.RunAsUser == s.probe.UID
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
			log, _ := os.ReadFile(s.Log)
			return fmt.Errorf("toolforged admission not serving: %v\n%s", last, log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
