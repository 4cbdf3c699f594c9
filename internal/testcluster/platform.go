package testcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Platform is `toolforged all` (accounts, admission, API, notifier) running
// against the cluster for the tools ProvisionTools made, as `make run`
// runs it: with the cluster-admin kubeconfig, on free loopback ports.
type Platform struct {
	// Log is its log file, in the cluster's logs directory
	// (toolforged.log, toolforged-2.log for a second one, …).
	Log string
	// Its addresses (host:port).
	APIAddr, AdmissionAddr, MetricsAddr, HealthAddr, StatusAddr string
	cmd                                                         *exec.Cmd
	exited                                                      chan struct{} // closed once the process is reaped
	// release gives the collectors' ingest address back to the cluster
	// (nil when this platform listens on an address of its own).
	release func()
}

// StartPlatform runs `toolforged all` with the platform's domain and
// extra flags, and returns once the API serves and has published itself
// and the domain, and the admission webhooks are ready. Call
// ProvisionTools first: the platform keeps the same tools.
func (c *Cluster) StartPlatform(ctx context.Context, domain string, extra ...string) (*Platform, error) {
	bin, err := BuildBinary("toolforged")
	if err != nil {
		return nil, err
	}
	addrs := make([]string, 5)
	for i := range addrs {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		addrs[i] = "127.0.0.1:" + strconv.Itoa(port)
	}
	c.mu.Lock()
	c.platforms++
	name := "toolforged.log"
	if c.platforms > 1 {
		name = fmt.Sprintf("toolforged-%d.log", c.platforms)
	}
	c.mu.Unlock()
	p := &Platform{Log: filepath.Join(c.Dir, "logs", name), APIAddr: addrs[0], AdmissionAddr: addrs[1], MetricsAddr: addrs[2], HealthAddr: addrs[3], StatusAddr: addrs[4]}
	logFile, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args := append([]string{"all", "--kubeconfig", c.Kubeconfig,
		"--accounts-file", filepath.Join(c.Dir, "accounts.yaml"),
		"--home-root", filepath.Join(c.Dir, "home"), "--admin-home-root", filepath.Join(c.Dir, "admins"),
		"--shared-data", c.SharedData(),
		"--domain", domain,
		"--api-addr", addrs[0], "--admission-addr", addrs[1], "--metrics-addr", addrs[2], "--health-addr", addrs[3], "--status-addr", addrs[4],
	}, extra...)
	// Real nodes have a log store and collectors: the platform keeps logs.
	if store, err := c.LogsStoreURL(); err == nil && c.LogsIngestAddr != "" {
		ingest, err := c.ingestAddr(p)
		if err != nil {
			return nil, err
		}
		args = append(args, "--logs-store-url", store, "--logs-ingest-addr", ingest)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// The platform must not outlive the test or benchmark that started it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		if p.release != nil {
			p.release()
		}
		return nil, fmt.Errorf("start toolforged all: %w", err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(ctx, c, domain, addrs[0], addrs[3]); err != nil {
		_ = p.Stop()
		log, _ := os.ReadFile(p.Log)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return p, nil
}

func (p *Platform) waitReady(ctx context.Context, c *Cluster, domain, apiAddr, healthAddr string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a health probe of a server on loopback
	ok := func(url string) bool {
		resp, err := hc.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for {
		cm, err := c.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(ctx, tenancy.APIConfigMap, metav1.GetOptions{})
		if err == nil && cm.Data[tenancy.APIConfigDomain] == domain && ok("https://"+apiAddr+"/jobs/v1/healthz") && ok("http://"+healthAddr+"/readyz") {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("toolforged all exited")
		case <-ctx.Done():
			return fmt.Errorf("toolforged all did not become ready")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Kill ends the platform at once (SIGKILL), as a crash or a lost node
// would: it releases nothing.
func (p *Platform) Kill() error {
	if p.exited == nil {
		return nil
	}
	err := p.cmd.Process.Kill()
	<-p.exited
	return err
}

// Stop ends the platform (SIGTERM; SIGKILL if it is still there after
// 15 s) and returns once it is gone.
func (p *Platform) Stop() error {
	if p.exited == nil {
		return nil
	}
	if p.release != nil {
		defer p.release()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(15 * time.Second):
	}
	err := p.cmd.Process.Kill()
	<-p.exited
	return err
}

// ingestAddr is where p's logs ingestion listens: the address the nodes'
// collectors send to, unless another running platform listens there
// already (two replicas, as production's, each have an address; the
// collectors' Service reaches one), then a free one of its own.
func (c *Cluster) ingestAddr(p *Platform) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ingestTaken {
		c.ingestTaken = true
		p.release = func() {
			c.mu.Lock()
			c.ingestTaken = false
			c.mu.Unlock()
		}
		return c.LogsIngestAddr, nil
	}
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}
