package envvars_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/admission/admissiontest"
	"github.com/toolforge-go/toolforge/internal/api"
	"github.com/toolforge-go/toolforge/internal/api/apitest"
	"github.com/toolforge-go/toolforge/internal/envvars"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{}, &cluster) }

// fixture is the package's shared tools, API server and CLI.
type fixture struct{ *apitest.Env }

var shared apitest.Shared

func setup(t *testing.T) fixture {
	t.Helper()
	return fixture{shared.Get(t, cluster, "alpha", "beta", "crowd")}
}

type result = testcluster.Result

// toolforge runs the real CLI as tool, with stdin (not a terminal).
func (f fixture) toolforge(t *testing.T, tool, stdin string, args ...string) result {
	t.Helper()
	return f.Toolforge(t, tool, stdin, nil, args...)
}

func (f fixture) ok(t *testing.T, tool string, args ...string) result {
	t.Helper()
	r := f.toolforge(t, tool, "", args...)
	if r.Code != 0 {
		t.Fatalf("toolforge %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// stored is the tool's envvars Secret as the cluster holds it.
func stored(t *testing.T, tool string) *corev1.Secret {
	t.Helper()
	s, err := cluster.Client.CoreV1().Secrets(tenancy.Namespace(tool)).Get(context.Background(), tenancy.EnvvarsSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateListShowDeleteAndQuota(t *testing.T) {
	f := setup(t)
	if r := f.ok(t, "alpha", "envvars", "create", "API_TOKEN", "s3cr3t-value"); !strings.Contains(r.Stderr, "envvar API_TOKEN created") {
		t.Fatalf("create: %s", r)
	}
	f.ok(t, "alpha", "envvars", "create", "DEBUG", "1")
	if r := f.ok(t, "alpha", "envvars", "create", "DEBUG", "2"); !strings.Contains(r.Stderr, "updated") {
		t.Fatalf("replacing a value: %s", r)
	}
	if got := stored(t, "alpha").Data; string(got["API_TOKEN"]) != "s3cr3t-value" || string(got["DEBUG"]) != "2" || len(got) != 2 {
		t.Fatalf("Secret holds %v", got)
	}

	list := f.ok(t, "alpha", "envvars", "list").Stdout
	if strings.Contains(list, "s3cr3t") || !strings.Contains(list, "API_TOKEN") || !strings.Contains(list, "********") {
		t.Fatalf("list must name the variables and hide their values:\n%s", list)
	}
	if shown := f.ok(t, "alpha", "envvars", "list", "--show-values").Stdout; !strings.Contains(shown, "s3cr3t-value") {
		t.Fatalf("list --show-values:\n%s", shown)
	}
	// The original's output: show prints name and value, -o json the
	// envvar for scripts; quota what is used and still available; delete
	// what it deleted.
	if show := f.ok(t, "alpha", "envvars", "show", "API_TOKEN").Stdout; show != "name       value\nAPI_TOKEN  s3cr3t-value\n" {
		t.Fatalf("show = %q", show)
	}
	if show := f.ok(t, "alpha", "envvars", "show", "API_TOKEN", "-o", "json").Stdout; show != "{\n  \"name\": \"API_TOKEN\",\n  \"value\": \"s3cr3t-value\"\n}\n" {
		t.Fatalf("show -o json = %q", show)
	}
	quota := f.ok(t, "alpha", "envvars", "quota").Stdout
	if !strings.HasPrefix(quota, "quota                     used  available\nenvvars                   2     98\n") {
		t.Fatalf("quota:\n%s", quota)
	}

	if del := f.ok(t, "alpha", "envvars", "delete", "--yes-im-sure", "DEBUG").Stdout; del != "name   value\nDEBUG  2\n" {
		t.Fatalf("delete printed %q", del)
	}
	if _, still := stored(t, "alpha").Data["DEBUG"]; still {
		t.Fatal("DEBUG still stored after delete")
	}
	if r := f.toolforge(t, "alpha", "", "envvars", "show", "DEBUG"); r.Code != 1 || !strings.Contains(r.Stderr, "envvar DEBUG does not exist") {
		t.Fatalf("show of a deleted envvar: %s", r)
	}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	f := setup(t)
	f.ok(t, "alpha", "envvars", "create", "KEEP_ME", "kept")
	before := stored(t, "alpha").ResourceVersion
	cases := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"an invalid name", "", []string{"envvars", "create", "my-var", "x"}, `invalid envvar name "my-var"`},
		{"a name starting with a digit", "", []string{"envvars", "create", "1VAR", "x"}, "invalid envvar name"},
		{"a name the platform sets", "", []string{"envvars", "create", "HOME", "/tmp"}, "reserved"},
		{"a value over 1 MiB", strings.Repeat("x", envvars.MaxValue+1), []string{"envvars", "create", "BIG"}, "at most 1048576 (1 MiB)"},
		{"delete without confirmation off a terminal", "", []string{"envvars", "delete", "KEEP_ME"}, "--yes-im-sure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.toolforge(t, "alpha", tc.stdin, tc.args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("want exit 2 and %q: %s", tc.want, r)
			}
		})
	}
	if after := stored(t, "alpha").ResourceVersion; after != before {
		t.Fatal("refused input changed the Secret")
	}
	// The API checks too, for clients other than the CLI.
	alpha := f.Tools["alpha"]
	hc, err := apitest.Client(context.Background(), cluster, alpha.CertFile, alpha.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]string{
		mustJSON(envvars.CreateRequest{Name: "BIG", Value: strings.Repeat("y", envvars.MaxValue+1)}): "1 MiB",
		mustJSON(envvars.CreateRequest{Name: "lower", Value: "x"}):                                   "invalid envvar name",
		mustJSON(envvars.CreateRequest{Name: "TOOL_DATA_DIR", Value: "x"}):                           "reserved",
	} {
		resp, err := hc.Post(f.Server.URL+"/envvars/v1/tool/alpha/envvars", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body) // the status says what failed; the body is for its message
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(out.String(), want) {
			t.Errorf("POST = %d %s, want 400 with %q", resp.StatusCode, out.String(), want)
		}
	}
	if after := stored(t, "alpha").ResourceVersion; after != before {
		t.Fatal("refused API requests changed the Secret")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAnotherToolCannotReadTheEnvvarsThroughTheAPIOrKubectl(t *testing.T) {
	f := setup(t)
	f.ok(t, "alpha", "envvars", "create", "ALPHA_SECRET", "only-for-alpha")
	beta := f.Tools["beta"]
	hc, err := apitest.Client(context.Background(), cluster, beta.CertFile, beta.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/envvars/v1/tool/alpha/envvars?show_values=true", "/envvars/v1/tool/alpha/envvars/ALPHA_SECRET", "/envvars/v1/tool/alpha/quota"} {
		resp, err := hc.Get(f.Server.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body) // the status says what failed; the body is for its message
		resp.Body.Close()
		if resp.StatusCode != 403 || strings.Contains(body.String(), "only-for-alpha") {
			t.Errorf("beta GET %s = %d %s", path, resp.StatusCode, body.String())
		}
	}
	_, err = testcluster.Kubectl(context.Background(), beta.Kubeconfig, "get", "secret", tenancy.EnvvarsSecret, "-n", "tool-alpha", "-o", "yaml")
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("beta's kubectl reads alpha's envvars: %v", err)
	}
}

// Two API servers (replicas) take 20 concurrent creates for one tool:
// every variable must survive the races on the one Secret.
func TestConcurrentCreatesOnTwoReplicasKeepEveryVariable(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	// The replicas share a serving CA (the Secret both keep it in) and
	// publish nowhere the other tests look (their own platform namespace).
	const platform = "envvars-replicas"
	if err := apitest.GrantPlatformRole(ctx, cluster, platform); err != nil {
		t.Fatal(err)
	}
	var replicas []*apitest.Server
	for i := 0; i < 2; i++ {
		s, err := apitest.Start(ctx, cluster, "--platform-namespace", platform)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Stop(); err != nil {
				t.Errorf("stop replica: %v", err)
			}
		})
		replicas = append(replicas, s)
	}
	secret, err := cluster.Client.CoreV1().Secrets(platform).Get(ctx, api.TLSSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca := secret.Data["ca-bundle.crt"]
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	crowd := f.Tools["crowd"]
	pair, err := tls.LoadX509KeyPair(crowd.CertFile, crowd.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := mustJSON(envvars.CreateRequest{Name: "VAR_" + strconv.Itoa(i), Value: strconv.Itoa(i)})
			resp, err := hc.Post(replicas[i%2].URL+"/envvars/v1/tool/crowd/envvars", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			var out bytes.Buffer
			_, _ = out.ReadFrom(resp.Body) // the status says what failed; the body is for its message
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("VAR_%d: %d %s", i, resp.StatusCode, out.String())
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data := stored(t, "crowd").Data
	for i := 0; i < n; i++ {
		if string(data["VAR_"+strconv.Itoa(i)]) != strconv.Itoa(i) {
			t.Errorf("VAR_%d lost: %v", i, data)
		}
	}
}

func TestValuesNeverReachTheAPIServersLog(t *testing.T) {
	f := setup(t)
	const marker = "marker-value-7f3e9c"
	f.ok(t, "alpha", "envvars", "create", "LOGGED_MAYBE", marker)
	f.ok(t, "alpha", "envvars", "list", "--show-values")
	f.ok(t, "alpha", "envvars", "show", "LOGGED_MAYBE")
	f.toolforge(t, "alpha", "", "envvars", "create", "bad-name", marker)
	log, err := os.ReadFile(f.Server.Log)
	if err != nil {
		t.Fatal(err)
	}
	// The server logs at its most verbose level (apitest): the reads above
	// are logged only there, so the log holding them shows the check looked
	// at everything the server can log.
	debugShow := slices.ContainsFunc(strings.Split(string(log), "\n"), func(line string) bool {
		return strings.Contains(line, "level=DEBUG") && strings.Contains(line, "route=/envvars/v1/tool/{tool}/envvars/{name}")
	})
	if !debugShow {
		t.Fatalf("the API server's log has no debug line for the show request: is it at the most verbose level?\n%s", log)
	}
	if bytes.Contains(log, []byte(marker)) {
		t.Fatal("an envvar value is in the API server's log")
	}
}

// A pod of the tool takes every variable of its Secret, by one reference
// the admission webhook adds; the variable is in that Secret.
func TestANewPodOfTheToolHasTheVariable(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	server, err := admissiontest.Start(ctx, cluster, f.Tools["beta"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := server.Stop(); err != nil {
			t.Errorf("stop toolforged admission: %v", err)
		}
	})
	f.ok(t, "beta", "envvars", "create", "GREETING", "hello")
	kube, err := f.Tools["beta"].Client()
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest", Command: []string{"env"},
		}}},
	}
	got, err := kube.CoreV1().Pods("tool-beta").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got.Spec.Containers[0].EnvFrom, func(e corev1.EnvFromSource) bool {
		return e.SecretRef != nil && e.SecretRef.Name == tenancy.EnvvarsSecret
	}) {
		t.Fatalf("a new pod of beta does not take its envvars: envFrom %+v", got.Spec.Containers[0].EnvFrom)
	}
	secret, err := kube.CoreV1().Secrets("tool-beta").Get(ctx, tenancy.EnvvarsSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := string(secret.Data["GREETING"]); v != "hello" {
		t.Errorf("GREETING in Secret %s = %q, want hello", tenancy.EnvvarsSecret, v)
	}
}
