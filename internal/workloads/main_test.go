package workloads_test

import (
	"bytes"
	"context"
	"crypto/tls"
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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{RealNodes: 1}, &cluster) }

// domain is the platform's domain here: *.localhost resolves to loopback
// (curl, browsers), so <tool>.<domain> reaches the ingress with no hosts
// file.
const domain = "toolforge.localhost"

// Each test has tools of its own, so that their jobs and web services do
// not meet.
var toolNames = []string{
	"runner", "filer", "waiter", "logger", "cron", "healer", "server", "hog", "vars",
	"web-php", "web-python", "web-node", "web-perl", "sheller", "mailer", "victim", "intruder",
}

// platform is the package's shared platform: tools provisioned by the real
// accounts controller, `toolforged all` (accounts, admission, API,
// notifier) with an SMTP server of the test's, and the CLI.
type platform struct {
	Tools   map[string]*testcluster.Tool
	CLI     string
	Ingress string // http://127.0.0.1:<port>
	Mail    *mailbox
	Log     string
}

var (
	sharedOnce sync.Once
	shared     *platform
	sharedErr  error
)

func setup(t *testing.T) *platform {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func start() (*platform, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p := &platform{Log: filepath.Join(cluster.Dir, "logs", "toolforged.log")}
	var err error
	if p.CLI, err = testcluster.BuildBinary("toolforge"); err != nil {
		return nil, err
	}
	bin, err := testcluster.BuildBinary("toolforged")
	if err != nil {
		return nil, err
	}
	if p.Tools, err = cluster.ProvisionTools(ctx, toolNames...); err != nil {
		return nil, err
	}
	if p.Ingress, err = cluster.IngressURL(); err != nil {
		return nil, err
	}
	if p.Mail, err = startMailbox(); err != nil {
		return nil, err
	}
	addrs := make([]string, 4)
	for i := range addrs {
		port, err := testcluster.FreePort()
		if err != nil {
			return nil, err
		}
		addrs[i] = "127.0.0.1:" + strconv.Itoa(port)
	}
	logFile, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "all", "--kubeconfig", cluster.Kubeconfig,
		"--accounts-file", filepath.Join(cluster.Dir, "accounts.yaml"),
		"--home-root", filepath.Join(cluster.Dir, "home"), "--admin-home-root", filepath.Join(cluster.Dir, "admins"),
		"--shared-data", cluster.SharedData(),
		"--domain", domain,
		"--smtp-server", p.Mail.Addr, "--mail-interval", "2s", "--mail-to", "tools.{tool}@toolforge.test",
		"--api-addr", addrs[0], "--admission-addr", addrs[1], "--metrics-addr", addrs[2], "--health-addr", addrs[3],
		"--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The platform must not outlive the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start toolforged all: %w", err)
	}
	if err := waitReady(ctx, cmd, addrs[0], addrs[3]); err != nil {
		log, _ := os.ReadFile(p.Log)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return p, nil
}

// waitReady waits until the API serves, the webhooks are installed and
// ready, and the API has published where it is and the platform's domain.
func waitReady(ctx context.Context, cmd *exec.Cmd, apiAddr, healthAddr string) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	ok := func(url string) bool {
		resp, err := hc.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for {
		cm, err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(ctx, tenancy.APIConfigMap, metav1.GetOptions{})
		if err == nil && cm.Data[tenancy.APIConfigDomain] == domain && ok("https://"+apiAddr+"/jobs/v1/healthz") && ok("http://"+healthAddr+"/readyz") {
			return nil
		}
		if cmd.ProcessState != nil {
			return fmt.Errorf("toolforged all exited")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("toolforged all did not become ready")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// toolforge runs the CLI as tool; args[0] may be "webservice" (the
// multi-call name).
func (p *platform) toolforge(t *testing.T, tool string, args ...string) testcluster.Result {
	t.Helper()
	return p.Tools[tool].Run(t, "", nil, p.CLI, args...)
}

// ok runs the CLI and fails the test unless it exits 0.
func (p *platform) ok(t *testing.T, tool string, args ...string) testcluster.Result {
	t.Helper()
	r := p.toolforge(t, tool, args...)
	if r.Code != 0 {
		t.Fatalf("toolforge %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// curl fetches url through the ingress with the real curl, which resolves
// *.localhost to loopback as a browser does; it returns the HTTP status
// and body.
func curl(t *testing.T, url string) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return 0, "", fmt.Errorf("curl %s: %w: %s", url, err, strings.TrimSpace(errb.String()))
	}
	s := out.String()
	i := strings.LastIndexByte(s, '\n')
	code, _ := strconv.Atoi(s[i+1:])
	return code, s[:i], nil
}

// toolURL is the tool's address through the ingress.
func (p *platform) toolURL(tool, path string) string {
	port := p.Ingress[strings.LastIndexByte(p.Ingress, ':')+1:]
	return "http://" + tool + "." + domain + ":" + port + path
}

// until polls cond until it holds or timeout passes.
func until(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	testcluster.Eventually(t, timeout, cond)
}

// imageTimeout allows for the first pull of a catalogue image, which the
// cluster's registry builds when the machine's cache lacks it (about a
// minute each on a fresh machine).
const imageTimeout = 5 * time.Minute
