package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/components"
	"github.com/toolforge-go/toolforge/internal/envvars"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/route"
)

// fakeAPI is a stand-in for the jobs and envvars API, enough to run the
// real commands (Main, as a tool with a certificate in its HOME) and see
// what they print and ask for. What the real API does is tested end to end
// in internal/jobs and internal/envvars.
type fakeAPI struct {
	mu      sync.Mutex
	jobs    map[string]jobs.Job
	done    map[string]bool // jobs that completed
	envvars map[string]string
	// calls are the requests, "METHOD path", in order.
	calls []string
	// The logs API: its answer's status (0: 200 with storedLines), and
	// what the kubelet has (the jobs API's logs).
	logsStatus  int
	storedLines []logs.Line
	kubelet     string
	// The components API: the file, the token, the deployments.
	compConfig  *components.Config
	token       string
	deployments []components.Deployment
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{jobs: map[string]jobs.Job{}, done: map[string]bool{}, envvars: map[string]string{}}
	const base = "/jobs/v1/tool/demo"
	const ev = "/envvars/v1/tool/demo"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"/jobs", func(w http.ResponseWriter, r *http.Request) {
		var list []jobs.Info
		for _, name := range f.jobNames() {
			list = append(list, jobs.Info{Job: f.jobs[name], StatusShort: "Running"})
		}
		reply(w, http.StatusOK, jobs.JobList{Jobs: list, Messages: route.NewMessages()})
	})
	mux.HandleFunc("POST "+base+"/jobs", func(w http.ResponseWriter, r *http.Request) {
		var j jobs.Job
		if err := json.NewDecoder(r.Body).Decode(&j); err != nil {
			replyError(w, http.StatusBadRequest, err.Error())
			return
		}
		// A one-off job the fake runs at once.
		f.jobs[j.Name], f.done[j.Name] = j, true
		reply(w, http.StatusCreated, jobs.JobResponse{Job: jobs.Info{Job: j}, Messages: route.NewMessages()})
	})
	mux.HandleFunc("PATCH "+base+"/jobs", func(w http.ResponseWriter, r *http.Request) {
		var j jobs.Job
		if err := json.NewDecoder(r.Body).Decode(&j); err != nil {
			replyError(w, http.StatusBadRequest, err.Error())
			return
		}
		result := jobs.Created
		if cur, ok := f.jobs[j.Name]; ok {
			result = jobs.Unchanged
			if !cur.Equal(&j) {
				result = jobs.Updated
			}
		}
		f.jobs[j.Name] = j
		m := route.NewMessages()
		m.Infof("Job '%s' %s", j.Name, result)
		reply(w, http.StatusOK, jobs.ApplyResponse{Job: jobs.Info{Job: j}, Result: result, Messages: m})
	})
	mux.HandleFunc("DELETE "+base+"/jobs", func(w http.ResponseWriter, r *http.Request) {
		n := len(f.jobs)
		f.jobs = map[string]jobs.Job{}
		m := route.NewMessages()
		m.Infof("%d job(s) deleted", n)
		reply(w, http.StatusOK, jobs.FlushResponse{Deleted: n, Messages: m})
	})
	mux.HandleFunc("DELETE "+base+"/jobs/{name}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.jobs[r.PathValue("name")]; !ok {
			replyError(w, http.StatusNotFound, "Job '"+r.PathValue("name")+"' does not exist")
			return
		}
		delete(f.jobs, r.PathValue("name"))
		reply(w, http.StatusOK, route.Envelope{Messages: route.NewMessages()})
	})
	mux.HandleFunc("GET "+base+"/jobs/{name}", func(w http.ResponseWriter, r *http.Request) {
		j, ok := f.jobs[r.PathValue("name")]
		if !ok {
			replyError(w, http.StatusNotFound, "Job '"+r.PathValue("name")+"' does not exist")
			return
		}
		status := "Running"
		if f.done[j.Name] {
			status = jobs.StatusCompleted
		}
		reply(w, http.StatusOK, jobs.JobResponse{Job: jobs.Info{Job: j, StatusShort: status}, Messages: route.NewMessages()})
	})
	mux.HandleFunc("GET "+base+"/images", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, jobs.ImageList{Images: []jobs.ImageInfo{
			{Shortname: "python3.11", Image: "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest", State: "stable", Aliases: []string{"tf-python311"}},
			{Shortname: "python3.9", Image: "docker-registry.tools.wmflabs.org/toolforge-python39-sssd-web:latest", State: "deprecated", Aliases: []string{"tf-python39"}},
		}, Messages: route.NewMessages()})
	})
	mux.HandleFunc("GET "+base+"/quotas", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, jobs.QuotaResponse{Quota: jobs.Quota{Categories: []jobs.QuotaCategory{
			{Name: "Per-job limits", Items: []jobs.QuotaItem{{Name: "CPU", Limit: "1"}}},
		}}, Messages: route.NewMessages()})
	})
	mux.HandleFunc("GET "+ev+"/envvars", func(w http.ResponseWriter, r *http.Request) {
		var list []envvars.Envvar
		for _, name := range f.envvarNames() {
			e := envvars.Envvar{Name: name}
			if r.URL.Query().Get("show_values") == "true" {
				e.Value = f.envvars[name]
			}
			list = append(list, e)
		}
		reply(w, http.StatusOK, envvars.ListResponse{Envvars: list, Messages: route.NewMessages()})
	})
	mux.HandleFunc("GET "+ev+"/envvars/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := f.envvars[r.PathValue("name")]
		if !ok {
			replyError(w, http.StatusNotFound, "envvar "+r.PathValue("name")+" does not exist")
			return
		}
		reply(w, http.StatusOK, envvars.EnvvarResponse{Envvar: envvars.Envvar{Name: r.PathValue("name"), Value: v}, Messages: route.NewMessages()})
	})
	mux.HandleFunc("DELETE "+ev+"/envvars/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := f.envvars[r.PathValue("name")]
		if !ok {
			replyError(w, http.StatusNotFound, "envvar "+r.PathValue("name")+" does not exist")
			return
		}
		delete(f.envvars, r.PathValue("name"))
		m := route.NewMessages()
		m.Infof("envvar %s deleted", r.PathValue("name"))
		reply(w, http.StatusOK, envvars.EnvvarResponse{Envvar: envvars.Envvar{Name: r.PathValue("name"), Value: v}, Messages: m})
	})
	mux.HandleFunc("GET "+ev+"/quota", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, envvars.QuotaResponse{Quota: envvars.Quota{Count: len(f.envvars), MaxCount: envvars.MaxCount, Bytes: 15, MaxBytes: envvars.MaxTotal, MaxValue: envvars.MaxValue}, Messages: route.NewMessages()})
	})
	mux.HandleFunc("GET /logs/v1/tool/demo/job/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		if f.logsStatus != 0 {
			replyError(w, f.logsStatus, fmt.Sprintf("the logs API answers %d", f.logsStatus))
			return
		}
		w.Header().Set("Content-Type", logs.ContentType)
		for _, l := range f.storedLines {
			_ = json.NewEncoder(w).Encode(l)
		}
	})
	mux.HandleFunc("GET "+base+"/jobs/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		if f.kubelet == "" {
			replyError(w, http.StatusNotFound, "Job '"+r.PathValue("name")+"' does not have any logs available")
			return
		}
		_, _ = w.Write([]byte(f.kubelet))
	})
	// The Kubernetes API, as far as the CLI reads it with the tool's
	// kubeconfig: there is no image catalogue ConfigMap.
	mux.HandleFunc("GET /api/v1/namespaces/toolforge-system/configmaps/toolforge-images", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
	})
	f.componentsRoutes(mux)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	home := t.TempDir()
	writeToolCredentials(t, home, "demo")
	ca := filepath.Join(home, "api-ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: toolforge, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: tf-demo, user: {client-certificate: %q, client-key: %q}}]
contexts: [{name: toolforge, context: {cluster: toolforge, user: tf-demo, namespace: tool-demo}}]
current-context: toolforge
`, srv.URL, ca, filepath.Join(home, ".toolskube", "client.crt"), filepath.Join(home, ".toolskube", "client.key"))
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".kube", "config"), []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv(EnvAPIURL, srv.URL)
	t.Setenv(EnvAPICAFile, ca)
	return f
}

func (f *fakeAPI) jobNames() []string {
	var out []string
	for n := range f.jobs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (f *fakeAPI) envvarNames() []string {
	var out []string
	for n := range f.envvars {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// writes are the requests that change something.
func (f *fakeAPI) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "GET ") {
			out = append(out, c)
		}
	}
	return out
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func replyError(w http.ResponseWriter, code int, msg string) {
	m := route.NewMessages()
	m.Error = []string{msg}
	reply(w, code, route.Envelope{Messages: m})
}

// writeToolCredentials puts a client certificate for tool into home, where
// CurrentTool looks (the fake API does not check it).
func writeToolCredentials(t *testing.T, home, tool string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: tool, Organization: []string{"toolforge"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, ".toolskube")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// run is one command line's outcome.
type run struct {
	stdout, stderr string
	code           int
}

// toolforge runs the command line (without the program name) as the tool,
// not on a terminal unless tty, with stdin as input.
func toolforge(t *testing.T, tty bool, stdin string, args ...string) run {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(append([]string{"toolforge"}, args...), &IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, TTY: tty})
	return run{stdout: out.String(), stderr: errOut.String(), code: code}
}
