package status_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/toolforge-go/toolforge/internal/status"
	"github.com/toolforge-go/toolforge/internal/status/statustest"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

func fetch(t *testing.T, url, accept string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func decodeStrict(t *testing.T, body string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
}

var hrefRE = regexp.MustCompile(`href="(/[^"]*)"`)

func TestNoSecretOrEnvValueAppearsInAnyResponse(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	// The planted values are really in the cluster, where an admin reads
	// them: the search below looks for something that exists.
	sec, err := cluster.Client.CoreV1().Secrets("tool-alpha").Get(ctx, "planted", metav1.GetOptions{})
	if err != nil || string(sec.Data["token"]) != plantedSecret {
		t.Fatalf("planted secret: %v", err)
	}
	pods, err := cluster.Client.CoreV1().Pods("tool-alpha").List(ctx, metav1.ListOptions{})
	if err != nil || !strings.Contains(podsJSON(t, pods), plantedEnv) {
		t.Fatalf("no pod of alpha carries the planted env value: %v", err)
	}

	// Every page the site links to, from the overview on, in both formats,
	// and the plain endpoints.
	seen := map[string]bool{}
	queue := []string{"/", "/tools/alpha/", "/metrics", "/robots.txt", "/healthz", "/static/style.css", "/nosuch/"}
	for _, p := range e.tools {
		queue = append(queue, "/tools/"+p.Name+"/")
	}
	responses := 0
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		for _, accept := range []string{"text/html", "application/json"} {
			resp, body := fetch(t, e.server.URL+path, accept)
			responses++
			if resp.StatusCode >= 500 {
				t.Errorf("GET %s (%s): %d", path, accept, resp.StatusCode)
			}
			for _, v := range []string{plantedSecret, plantedEnv, plantedEnvvars, plantedAnnotation} {
				if strings.Contains(body, v) {
					t.Errorf("GET %s (%s) shows planted value %q", path, accept, v)
				}
			}
			if accept != "text/html" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				continue
			}
			for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
				link := html.UnescapeString(m[1])
				// Each node's and pod's page once is enough; the JSON
				// link is the same page in the other format.
				if !strings.Contains(link, "format=json") && !strings.HasPrefix(link, "/static/") {
					queue = append(queue, link)
				}
			}
		}
	}
	kinds := map[string]bool{}
	for p := range seen {
		switch {
		case strings.Contains(p, "/pods/"):
			kinds["pod"] = true
		case strings.HasPrefix(p, "/nodes/") && p != "/nodes/":
			kinds["node"] = true
		case p == "/images/":
			kinds["images"] = true
		}
	}
	if len(kinds) != 3 {
		t.Errorf("the crawl missed pod, node or images pages: %v", seen)
	}
	t.Logf("searched %d responses of %d pages", responses, len(seen))
}

func podsJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// asStatus is a client acting as the status page's ServiceAccount
// (impersonated by the cluster admin).
func asStatus(t *testing.T) kubernetes.Interface {
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: status.User(tenancy.PlatformNamespace)}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTheStatusRoleReadsWhatThePagesShowAndNoSecret(t *testing.T) {
	setup(t)
	c := asStatus(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := metav1.ListOptions{Limit: 1}
	catalogue := metav1.ListOptions{FieldSelector: "metadata.name=" + tenancy.ImagesConfigMap}
	allowed := []struct {
		name string
		call func() error
	}{
		{"list pods everywhere", func() error { _, err := c.CoreV1().Pods("").List(ctx, all); return err }},
		{"list nodes", func() error { _, err := c.CoreV1().Nodes().List(ctx, all); return err }},
		{"list namespaces", func() error { _, err := c.CoreV1().Namespaces().List(ctx, all); return err }},
		{"list quotas", func() error { _, err := c.CoreV1().ResourceQuotas("").List(ctx, all); return err }},
		{"list deployments", func() error { _, err := c.AppsV1().Deployments("").List(ctx, all); return err }},
		{"list jobs", func() error { _, err := c.BatchV1().Jobs("").List(ctx, all); return err }},
		{"list cron jobs", func() error { _, err := c.BatchV1().CronJobs("").List(ctx, all); return err }},
		{"list ingresses", func() error { _, err := c.NetworkingV1().Ingresses("").List(ctx, all); return err }},
		{"list the image catalogue by name", func() error {
			_, err := c.CoreV1().ConfigMaps(tenancy.PlatformNamespace).List(ctx, catalogue)
			return err
		}},
	}
	for _, tc := range allowed {
		t.Run("may "+tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Error(err)
			}
		})
	}
	denied := []struct {
		name string
		call func() error
	}{
		{"get a tool's secret", func() error {
			_, err := c.CoreV1().Secrets("tool-alpha").Get(ctx, "planted", metav1.GetOptions{})
			return err
		}},
		{"list secrets anywhere", func() error { _, err := c.CoreV1().Secrets("").List(ctx, all); return err }},
		{"list a tool's secrets", func() error { _, err := c.CoreV1().Secrets("tool-alpha").List(ctx, all); return err }},
		{"list config maps", func() error { _, err := c.CoreV1().ConfigMaps("").List(ctx, all); return err }},
		{"list the platform's other config maps", func() error { _, err := c.CoreV1().ConfigMaps(tenancy.PlatformNamespace).List(ctx, all); return err }},
		{"read a pod's log", func() error {
			return c.CoreV1().Pods("kube-system").GetLogs("x", &corev1.PodLogOptions{}).Do(ctx).Error()
		}},
		{"create a pod", func() error {
			_, err := c.CoreV1().Pods("tool-alpha").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}},
		{"delete a deployment", func() error { return c.AppsV1().Deployments("tool-alpha").Delete(ctx, "alpha", metav1.DeleteOptions{}) }},
	}
	for _, tc := range denied {
		t.Run("may not "+tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil || !strings.Contains(err.Error(), "forbidden") {
				t.Errorf("err = %v, want forbidden", err)
			}
		})
	}
}

func TestWithAdminCredentialsItInstallsItsRoleAndReadsAsItsServiceAccount(t *testing.T) {
	setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// As in `toolforged all` on the admin kubeconfig.
	srv, err := statustest.Start(ctx, cluster, cluster.Kubeconfig, "toolforged-status-admin")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	log, err := os.ReadFile(srv.Log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "status page reads as its ServiceAccount") || !strings.Contains(string(log), status.User(tenancy.PlatformNamespace)) {
		t.Errorf("the server does not read as its ServiceAccount:\n%s", log)
	}
	a, err := getTool(srv.URL, "alpha")
	if err != nil || a.WebService == nil {
		t.Errorf("alpha through the impersonating server: %v %+v", err, a)
	}
}
