// Package deploye2e_test deploys the whole platform into a devcluster
// with a real node, through toolforge-admin deploy and the chart, and acts
// as an admin and as a tool against it: the platform's pods provision
// tools, a tool's job runs and its web service answers through the
// ingress, an upgrade keeps the web service answering (measured), a broken
// pin is rolled back, a revert of a pin rolls back, and a hand edit shows
// as drift that apply repairs.
package deploye2e_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/deploy"
	"github.com/toolforge-go/toolforge/internal/platformimage"
	"github.com/toolforge-go/toolforge/internal/promtext"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var (
	cluster                    *testcluster.Cluster
	adminBin, toolforgeBin     string
	webserviceBin, repoRoot    string
	registry, ingressURL, node string
	// registryAdmin is the registry's admin credentials file: pushes need
	// a token (anyone pulls).
	registryAdmin string
)

func TestMain(m *testing.M) {
	var err error
	for name, p := range map[string]*string{"toolforge-admin": &adminBin, "toolforge": &toolforgeBin, "webservice": &webserviceBin} {
		if *p, err = testcluster.BuildBinary(name); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if repoRoot, err = testcluster.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testcluster.Main(m, testcluster.Options{RealNodes: 1}, &cluster)
}

// state is what devcluster says about itself.
func readState(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cluster.Dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Registry            string `json:"registry"`
		RegistryCredentials string `json:"registryCredentials"`
		IngressURL          string `json:"ingressURL"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	registry, ingressURL = st.Registry, st.IngressURL
	registryAdmin = filepath.Join(st.RegistryCredentials, "admin")
	nodes, err := cluster.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %v, %v", nodes, err)
	}
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			node = a.Address
		}
	}
}

// built is what make images printed.
type built struct{ image, chart, tag string }

// images runs make images' program for a version, pushing to the
// cluster's registry, and returns what it printed.
func images(t *testing.T, version string) built {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("go", "run", "./hack/images", "--registry", registry, "--registry-credentials", registryAdmin, "--version", version, "--out", t.TempDir())
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("images --version %s: %v\n%s", version, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "@sha256:") || !strings.HasPrefix(lines[1], "oci://") || !strings.Contains(lines[1], "@sha256:") {
		t.Fatalf("images printed %q, want the image and the chart, each ref@sha256:…", stdout.String())
	}
	ref := strings.SplitN(lines[0], "@", 2)[0]
	b := built{image: lines[0], chart: lines[1], tag: ref[strings.LastIndexByte(ref, ':')+1:]}
	t.Logf("images %s built and pushed in %s: %s, %s", version, time.Since(start).Round(100*time.Millisecond), b.image, b.chart)
	return b
}

// controlRepo is a deployment control repository in git, with one
// cluster, dev, and one component, toolforge.
type controlRepo struct {
	dir, home string
}

func (r *controlRepo) git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir, "-c", "user.name=Test", "-c", "user.email=test@example.org"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// pin writes the component's file with a chart version and image tag and
// commits it, as a release commit does; it returns the commit.
func (r *controlRepo) pin(t *testing.T, chartVersion, imageTag, message string) string {
	t.Helper()
	file := fmt.Sprintf(`# The platform on the test's devcluster.
chart: oci://%s/charts/toolforge
chartVersion: %s
image:
  repository: registry.devcluster.localhost/toolforge
  tag: %s
timeout: 3m
values:
  flags: {log-format: text, domain: toolforge.localhost}
  # devcluster has no volumes for the log store's claim.
  logs: {enabled: false}
  components:
    logs-events: {enabled: false}
    accounts:
      accountsFile: |
        tools:
          - {name: alpha, uid: 52001}
      flags:
        home-root: %s
        admin-home-root: %s
        shared-data: []
        api-server-url: %s
        interval: 30s
    admission:
      settings:
        domains: [toolforge.localhost]
    api:
      service: {type: NodePort, nodePort: %d}
      flags:
        api-public-url: https://%s
`, registry, chartVersion, imageTag, r.home, r.home, cluster.APIURL, apiNodePort, apiAddr())
	path := filepath.Join(r.dir, "clusters", "dev", "toolforge.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git(t, "add", "-A")
	r.git(t, "commit", "-qm", message)
	return r.git(t, "rev-parse", "HEAD")
}

// admin runs toolforge-admin deploy as the cluster's admin.
func (r *controlRepo) admin(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, adminBin, append([]string{"--kubeconfig", cluster.Kubeconfig, "deploy", "--dir", r.dir}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("toolforge-admin %v: %v", args, err)
	}
	t.Logf("toolforge-admin deploy %s: exit %d\n%s%s", strings.Join(args, " "), code, e.String(), o.String())
	return o.String(), e.String(), code
}

// runAsTool runs a program as the tool alpha, in its home.
func runAsTool(t *testing.T, home string, bin string, args ...string) string {
	t.Helper()
	out, err := tryAsTool(home, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tryAsTool(home string, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = home
	cmd.Env = []string{"HOME=" + home, "USER=alpha", "PATH=" + os.Getenv("PATH"), "TOOLFORGE_DOMAIN=toolforge.localhost"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v as alpha: %w\n%s", filepath.Base(bin), args, err, out)
	}
	return string(out), nil
}

func TestThePlatformDeployedIntoTheCluster(t *testing.T) {
	readState(t)
	home := filepath.Join(cluster.Dir, "home")
	repo := &controlRepo{dir: t.TempDir(), home: home}
	repo.git(t, "init", "-q")

	// make images: the same commit gives the same digests; the image
	// runs as a user that is not root.
	first := images(t, "0.0.1")
	again := images(t, "0.0.1")
	if first != again {
		t.Fatalf("two builds of one commit differ:\n %v\n %v", first, again)
	}
	ref, err := name.ParseReference(strings.SplitN(first.image, "@", 2)[0], name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d:%d", platformimage.UID, platformimage.GID); cfg.Config.User != want {
		t.Fatalf("the image runs as %q, want %s", cfg.Config.User, want)
	}
	upgrade := images(t, "0.0.2")

	// Each stage needs the ones before it: the first failure ends the
	// story instead of cascading into the stages after it.
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	var pinB string
	step("apply installs the platform, whose pods provision tools", func(t *testing.T) {
		repo.pin(t, first.tag, first.tag, "toolforge: deploy "+first.tag)
		if _, _, code := repo.admin(t, "apply", "dev", "--yes"); code != 0 {
			t.Fatalf("apply exited %d", code)
		}
		pods, err := cluster.Client.CoreV1().Pods(tenancy.PlatformNamespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
				running++
			}
		}
		if running != 8 {
			t.Fatalf("%d platform pods running, want 8 (4 components, 2 replicas each)", running)
		}
		kubeconfig := filepath.Join(home, "alpha", ".kube", "config")
		testcluster.Eventually(t, 2*time.Minute, func() error {
			_, err := os.Stat(kubeconfig)
			return err
		})
		// Ready pods are not yet a reachable NodePort: kube-proxy
		// rejects connections to the API's service until it has
		// programmed the new endpoints, which CI once caught the
		// first job run doing.
		testcluster.Eventually(t, time.Minute, func() error {
			_, err := tryAsTool(filepath.Join(home, "alpha"), toolforgeBin, "jobs", "list")
			return err
		})
		noToolforgedOutsideTheCluster(t)
	})

	step("a tool's job runs and its web service answers through the ingress", func(t *testing.T) {
		alpha := filepath.Join(home, "alpha")
		runAsTool(t, alpha, toolforgeBin, "jobs", "run", "hello", "--command", "echo hello from $HOME > $HOME/hello.txt", "--image", "bookworm", "--wait")
		if out, err := os.ReadFile(filepath.Join(alpha, "hello.txt")); err != nil || string(out) != "hello from /data/project/alpha\n" {
			t.Fatalf("the job's file: %q, %v", out, err)
		}
		if err := os.MkdirAll(filepath.Join(alpha, "public_html"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(alpha, "public_html", "index.html"), []byte("hello from alpha\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		runAsTool(t, alpha, webserviceBin, "php8.2", "start")
		testcluster.Eventually(t, 3*time.Minute, func() error { return answers(webURL()) })
	})

	step("an upgrade keeps the web service answering throughout", func(t *testing.T) {
		pinB = repo.pin(t, upgrade.tag, upgrade.tag, "toolforge: deploy "+upgrade.tag)
		probe := startProbe(100*time.Millisecond, func() error { return answers(webURL()) })
		api := startProbe(100*time.Millisecond, apiAnswers)
		start := time.Now()
		_, _, code := repo.admin(t, "apply", "dev", "--yes")
		took := time.Since(start)
		ok, failed := probe.stop()
		apiOK, apiFailed := api.stop()
		t.Logf("upgrade %s -> %s took %s; web service: %d requests, %d failed (%.2f%% available); API: %d requests, %d failed", first.tag, upgrade.tag, took.Round(100*time.Millisecond), ok+failed, failed, 100*float64(ok)/float64(ok+failed), apiOK+apiFailed, apiFailed)
		if code != 0 {
			t.Fatalf("apply exited %d", code)
		}
		if failed > 0 || ok < 10 {
			t.Fatalf("the web service failed %d of %d requests during the upgrade", failed, ok+failed)
		}
		// The chart's preStop delay: without it, 6 of 79 were refused.
		if apiFailed > 0 || apiOK < 10 {
			t.Fatalf("the API failed %d of %d requests during the upgrade", apiFailed, apiOK+apiFailed)
		}
		assertStatus(t, repo, 0, upgrade.tag)
		// The new admission server admits the tool's new pods.
		alpha := filepath.Join(home, "alpha")
		runAsTool(t, alpha, toolforgeBin, "jobs", "run", "after-upgrade", "--command", "true", "--image", "bookworm", "--wait")
	})

	step("a broken pin fails, is rolled back, and the platform keeps working", func(t *testing.T) {
		repo.pin(t, upgrade.tag, "0.0.3-deadbee", "toolforge: deploy an image that does not exist")
		probe := startProbe(200*time.Millisecond, func() error { return answers(webURL()) })
		stdout, stderr, code := repo.admin(t, "apply", "dev", "--yes", "--timeout", "45s")
		ok, failed := probe.stop()
		if code != 1 || !strings.Contains(stdout, "rolled-back") || !strings.Contains(stderr, "rolling back to revision") {
			t.Fatalf("apply of a broken pin: exit %d, want 1 and a rollback said", code)
		}
		if failed > 0 {
			t.Fatalf("the web service failed %d of %d requests during the failed upgrade", failed, ok+failed)
		}
		// What runs is the last good pin; the repository says otherwise.
		out, _, code := repo.admin(t, "status", "dev", "-o", "json")
		var st []deploy.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil || code != 1 || st[0].Deployed == nil || st[0].Deployed.Image != upgrade.tag || st[0].State != "deployed" {
			t.Fatalf("status after the rollback: exit %d, %+v (%v)", code, st, err)
		}
		alpha := filepath.Join(home, "alpha")
		runAsTool(t, alpha, toolforgeBin, "jobs", "run", "after-rollback", "--command", "true", "--image", "bookworm", "--wait")
		// The broken commit reverted: in sync again, nothing to do.
		repo.git(t, "revert", "--no-edit", "HEAD")
		if out, _, code := repo.admin(t, "apply", "dev", "--yes"); code != 0 || !strings.Contains(out, "unchanged") {
			t.Fatalf("apply after the revert: exit %d, %s", code, out)
		}
	})

	step("a rollback is a revert of the pin and an apply", func(t *testing.T) {
		repo.git(t, "revert", "--no-edit", pinB)
		if out, _, code := repo.admin(t, "apply", "dev", "--yes"); code != 0 || !strings.Contains(out, "upgraded") {
			t.Fatalf("apply of the reverted pin: exit %d, %s", code, out)
		}
		assertStatus(t, repo, 0, first.tag)
		if err := answers(webURL()); err != nil {
			t.Fatal(err)
		}
	})

	step("a hand edit shows as drift, with its metric, and apply repairs it", func(t *testing.T) {
		if _, err := testcluster.Kubectl(context.Background(), cluster.Kubeconfig, "patch", "validatingwebhookconfiguration", "toolforge-admission", "--type=json",
			"-p", `[{"op":"replace","path":"/webhooks/1/failurePolicy","value":"Ignore"}]`); err != nil {
			t.Fatal(err)
		}
		metrics := filepath.Join(t.TempDir(), "toolforge_deploy.prom")
		out, _, code := repo.admin(t, "status", "dev", "--metrics-file", metrics)
		if code != 1 || !strings.Contains(out, "ValidatingWebhookConfiguration toolforge-admission (changed)") || !strings.Contains(out, "+  failurePolicy: Fail") {
			t.Fatalf("status after a hand edit: exit %d, want 1 naming the webhook configuration and its diff", code)
		}
		assertMetric(t, metrics, deploy.MetricInSync, 0)
		assertMetric(t, metrics, deploy.MetricDrifted, 1)
		if _, _, code := repo.admin(t, "apply", "dev", "--yes"); code != 0 {
			t.Fatalf("apply exited %d", code)
		}
		if _, _, code := repo.admin(t, "status", "dev", "--metrics-file", metrics); code != 0 {
			t.Fatalf("status after apply: exit %d, want 0", code)
		}
		assertMetric(t, metrics, deploy.MetricInSync, 1)
		assertMetric(t, metrics, deploy.MetricDrifted, 0)
	})
}

func webURL() string {
	_, port, _ := strings.Cut(strings.TrimPrefix(ingressURL, "http://"), ":")
	return "http://alpha.toolforge.localhost:" + port + "/"
}

// client reaches every <name>.localhost at the ingress: Go's resolver,
// unlike curl's and browsers', does not resolve .localhost to loopback.
var client = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	},
	DisableKeepAlives: true,
}}

func answers(url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || body.String() != "hello from alpha\n" {
		return fmt.Errorf("GET %s: %d %q", url, resp.StatusCode, body.String())
	}
	return nil
}

// apiNodePort is where the pin publishes the API on the node.
const apiNodePort = 30443

func apiAddr() string { return net.JoinHostPort(node, strconv.Itoa(apiNodePort)) }

// apiClient checks that the API answers, not whom: the probe's question is
// availability, and the tools' own calls check the certificate.
var apiClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
	DisableKeepAlives: true,
}}

// apiAnswers asks the API's public healthz, through its NodePort as a
// tool's CLI reaches it.
func apiAnswers() error {
	url := "https://" + apiAddr() + "/jobs/v1/healthz"
	resp, err := apiClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// probe requests a URL at an interval until stopped, counting answers.
type probe struct {
	ok, failed atomic.Int64
	done       chan struct{}
	wg         sync.WaitGroup
}

func startProbe(every time.Duration, check func() error) *probe {
	p := &probe{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if check() == nil {
				p.ok.Add(1)
			} else {
				p.failed.Add(1)
			}
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *probe) stop() (ok, failed int64) {
	close(p.done)
	p.wg.Wait()
	return p.ok.Load(), p.failed.Load()
}

func assertStatus(t *testing.T, repo *controlRepo, wantCode int, image string) {
	t.Helper()
	out, _, code := repo.admin(t, "status", "dev", "-o", "json")
	var st []deploy.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if code != wantCode || len(st) != 1 || st[0].Deployed == nil || st[0].Deployed.Image != image || (wantCode == 0) != st[0].InSync {
		t.Fatalf("status: exit %d, %+v; want exit %d at image %s", code, st, wantCode, image)
	}
}

func assertMetric(t *testing.T, path, metric string, want float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, found, err := promtext.Sum(f, metric, map[string]string{"cluster": "dev", "component": "toolforge"})
	if err != nil || !found || got != want {
		t.Fatalf("%s = %v (found %v, %v), want %v", metric, got, found, err, want)
	}
}

// noToolforgedOutsideTheCluster: every toolforged process serving this
// cluster runs in it (in the node's pods, below the cluster's supervisor);
// none was started beside it.
func noToolforgedOutsideTheCluster(t *testing.T) {
	t.Helper()
	inCluster, err := cluster.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	mine := map[int]bool{}
	for _, pid := range inCluster {
		mine[pid] = true
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	inside := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if filepath.Base(args[0]) != "toolforged" {
			continue
		}
		switch {
		case mine[pid]:
			inside++
		case strings.Contains(string(cmdline), cluster.Dir):
			t.Errorf("toolforged runs outside the cluster, for it: pid %d %q", pid, args)
		}
	}
	if inside != 8 {
		t.Errorf("%d toolforged processes in the cluster's pods, want 8", inside)
	}
}
