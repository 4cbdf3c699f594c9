package workloads_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/testcluster"

	"github.com/toolforge-go/toolforge/internal/mailbox"
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
	"web-php", "web-python", "web-node", "web-perl", "web-orig", "metered", "sheller", "mailer", "victim", "intruder",
	"logkeeper", "logcron", "logbuild", "logstream", "flooder", "quiet",
}

// platform is the package's shared platform: tools provisioned by the real
// accounts controller, `toolforged all` (accounts, admission, API,
// notifier) with an SMTP server of the test's, and the CLI.
type platform struct {
	Tools   map[string]*testcluster.Tool
	CLI     string
	Ingress string // http://127.0.0.1:<port>
	Mail    *mailbox.Server
	// Status is the status page, http://127.0.0.1:<port>.
	Status string
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
	p := &platform{}
	var err error
	if p.CLI, err = testcluster.BuildBinary("toolforge"); err != nil {
		return nil, err
	}
	if p.Tools, err = cluster.ProvisionTools(ctx, toolNames...); err != nil {
		return nil, err
	}
	if p.Ingress, err = cluster.IngressURL(); err != nil {
		return nil, err
	}
	if p.Mail, err = mailbox.Start("127.0.0.1:0", ""); err != nil {
		return nil, err
	}
	// Batches every 2 s, so a test's mail arrives soon. Web services are
	// reached at the ingress's port, as make run publishes them.
	port := p.Ingress[strings.LastIndexByte(p.Ingress, ':')+1:]
	statusPort, err := testcluster.FreePort()
	if err != nil {
		return nil, err
	}
	p.Status = "http://127.0.0.1:" + strconv.Itoa(statusPort)
	_, err = cluster.StartPlatform(ctx, domain, "--web-url", "http://{host}:"+port+"/", "--status-addr", strings.TrimPrefix(p.Status, "http://"),
		"--smtp-server", p.Mail.Addr, "--mail-interval", "2s", "--mail-to", "tools.{tool}@toolforge.test", "--log-level", "debug")
	return p, err
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
