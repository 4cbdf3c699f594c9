package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/toolforge-go/toolforge/internal/api"
	"github.com/toolforge-go/toolforge/internal/api/apitest"
	"github.com/toolforge-go/toolforge/internal/promtext"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{}, &cluster) }

// fixture is the package's shared tools and API server.
type fixture struct{ *apitest.Env }

var shared apitest.Shared

func setup(t *testing.T) fixture {
	t.Helper()
	return fixture{shared.Get(t, cluster, "alpha", "beta", "gamma")}
}

// get requests path with the tool's certificate (none for "").
func (f fixture) get(t *testing.T, tool, method, path string) (int, string) {
	t.Helper()
	var cert, key string
	if tool != "" {
		cert, key = f.Tools[tool].CertFile, f.Tools[tool].KeyFile
	}
	hc, err := apitest.Client(context.Background(), cluster, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, f.Server.URL+path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestARealToolCertificateOpensOnlyItsOwnPaths(t *testing.T) {
	f := setup(t)
	cases := []struct {
		name, tool, method, path string
		want                     int
	}{
		{"alpha lists its jobs", "alpha", "GET", "/jobs/v1/tool/alpha/jobs", 200},
		{"alpha lists its envvars", "alpha", "GET", "/envvars/v1/tool/alpha/envvars/", 200},
		{"alpha on beta's jobs is 403", "alpha", "GET", "/jobs/v1/tool/beta/jobs", 403},
		{"alpha deleting beta's jobs is 403", "alpha", "DELETE", "/jobs/v1/tool/beta/jobs", 403},
		{"alpha reading beta's envvars is 403", "alpha", "GET", "/envvars/v1/tool/beta/envvars", 403},
		{"alpha on a tool that does not exist is 403", "alpha", "GET", "/jobs/v1/tool/nobody/jobs", 403},
		{"alpha on a malformed tool is 403", "alpha", "GET", "/jobs/v1/tool/..%2Fbeta/jobs", 403},
		{"no certificate on alpha's path is 401", "", "GET", "/jobs/v1/tool/alpha/jobs", 401},
		{"jobs healthz without a certificate", "", "GET", api.HealthzPath("jobs"), 200},
		{"envvars healthz without a certificate", "", "GET", api.HealthzPath("envvars"), 200},
		{"metrics without a certificate", "", "GET", api.MetricsPath("jobs"), 200},
		{"openapi.json without a certificate", "", "GET", api.OpenAPIPath("jobs"), 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.get(t, tc.tool, tc.method, tc.path)
			if code != tc.want {
				t.Fatalf("%s %s as %q = %d, want %d: %s", tc.method, tc.path, tc.tool, code, tc.want, body)
			}
		})
	}
	_, metrics := f.get(t, "", "GET", api.MetricsPath("jobs"))
	if !strings.Contains(metrics, `toolforge_api_requests_total{code="403",method="GET",route="/jobs/v1/tool/{tool}/jobs"}`) {
		t.Errorf("metrics do not count the refused requests:\n%s", grep(metrics, "toolforge_api"))
	}
}

func TestAToolWhoseAccessWasRemovedIsRefused(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	// What disabling a tool does to its access: the accounts controller
	// removes its role binding. gamma has not called the API before.
	if err := cluster.Client.RbacV1().RoleBindings("tool-gamma").Delete(ctx, "gamma-tool-binding", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	code, body := f.get(t, "gamma", "GET", "/jobs/v1/tool/gamma/jobs")
	if code != 403 || !strings.Contains(body, "disabled") {
		t.Fatalf("gamma without its role binding = %d %s", code, body)
	}
}

func TestToolsFindTheAPIInThePublishedConfigMapAndReadNothingElseThere(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	kube, err := f.Tools["alpha"].Client()
	if err != nil {
		t.Fatal(err)
	}
	cm, err := kube.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(ctx, tenancy.APIConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a tool cannot read the API's address: %v", err)
	}
	if cm.Data[api.ConfigMapURLKey] != f.Server.URL || !strings.Contains(cm.Data[api.ConfigMapCAKey], "BEGIN CERTIFICATE") {
		t.Fatalf("published %v, server at %s", cm.Data, f.Server.URL)
	}
	if _, err := kube.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("a tool reads other platform ConfigMaps: %v", err)
	}
	if _, err := kube.CoreV1().ConfigMaps(tenancy.PlatformNamespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("a tool lists platform ConfigMaps: %v", err)
	}
}

// The API server runs (in every end-to-end test) as a ServiceAccount bound
// only to its documented roles. Those roles must not let it (or whoever
// steals its token) read a tool's other Secrets or change its limits.
func TestTheAPIIdentityCannotReadOtherSecretsOrChangeLimits(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", f.Server.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(cfg)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-password", Namespace: "tool-alpha"}, StringData: map[string]string{"p": "x"}}
	if _, err := cluster.Client.CoreV1().Secrets("tool-alpha").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{}
	_, checks["get another secret"] = sa.CoreV1().Secrets("tool-alpha").Get(ctx, "db-password", metav1.GetOptions{})
	_, checks["list secrets"] = sa.CoreV1().Secrets("tool-alpha").List(ctx, metav1.ListOptions{})
	checks["delete a secret"] = sa.CoreV1().Secrets("tool-alpha").Delete(ctx, "db-password", metav1.DeleteOptions{})
	quota, err := cluster.Client.CoreV1().ResourceQuotas("tool-alpha").Get(ctx, "tool-alpha", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, checks["update the quota"] = sa.CoreV1().ResourceQuotas("tool-alpha").Update(ctx, quota, metav1.UpdateOptions{})
	_, checks["list role bindings"] = sa.RbacV1().RoleBindings("tool-alpha").List(ctx, metav1.ListOptions{})
	_, checks["list nodes"] = sa.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	for what, err := range checks {
		if !apierrors.IsForbidden(err) {
			t.Errorf("the API's identity may %s: %v", what, err)
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The API server's identity writes in tool namespaces only: its write role
// is bound per tool namespace (by the accounts controller, with the tool),
// so a confused deputy could reach neither kube-system, nor the platform's
// namespace, nor any other. Asked of the real API server with the API's
// own credentials, as a bug in the API would.
func TestTheAPIsIdentityCannotWriteOutsideToolNamespaces(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", f.Server.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "not-a-tool"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	meta := metav1.ObjectMeta{Name: "deputy"}
	writes := map[string]func(ns string) error{
		"create a Deployment": func(ns string) error {
			_, err := kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}},
			}}, dry)
			return err
		},
		"create a CronJob": func(ns string) error {
			_, err := kube.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "@daily",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}},
			}}, dry)
			return err
		},
		"create a Secret": func(ns string) error {
			_, err := kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: meta}, dry)
			return err
		},
		"create a Service": func(ns string) error {
			_, err := kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, dry)
			return err
		},
		"delete the envvars Secret": func(ns string) error {
			return kube.CoreV1().Secrets(ns).Delete(ctx, tenancy.EnvvarsSecret, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		},
	}
	for _, ns := range []string{"kube-system", "default", tenancy.PlatformNamespace, "not-a-tool"} {
		for name, write := range writes {
			t.Run(name+" in "+ns, func(t *testing.T) {
				if err := write(ns); !apierrors.IsForbidden(err) {
					t.Fatalf("the API's identity may %s in %s: %v", name, ns, err)
				}
			})
		}
	}
	t.Run("a tool namespace is where it writes", func(t *testing.T) {
		for name, write := range writes {
			if name == "delete the envvars Secret" {
				continue // no verb but get and update on it
			}
			if err := write("tool-alpha"); err != nil {
				t.Errorf("the API's identity may not %s in tool-alpha: %v", name, err)
			}
		}
	})
	t.Run("it cannot grant itself more", func(t *testing.T) {
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{apitest.Subject()}}
		if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, dry); !apierrors.IsForbidden(err) {
			t.Fatalf("the API's identity may bind cluster-admin: %v", err)
		}
	})
}

// The public metrics are the API's own; the process's (Go runtime,
// client-go, controller-runtime: what an operator reads, and what tells
// an outsider about the process) only on the metrics port.
func TestThePublicMetricsAreTheAPIsOwnAndTheProcessesOnlyOnTheMetricsPort(t *testing.T) {
	f := setup(t)
	if code, body := f.get(t, "alpha", "GET", "/jobs/v1/tool/alpha/jobs"); code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	families := func(t *testing.T, body string) map[string]bool {
		t.Helper()
		fams, err := promtext.Families(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%v:\n%s", err, body)
		}
		out := map[string]bool{}
		for name := range fams {
			out[name] = true
		}
		return out
	}
	for _, svc := range []string{"jobs", "envvars"} {
		code, body := f.get(t, "", "GET", api.MetricsPath(svc))
		if code != 200 {
			t.Fatalf("%s metrics: %d", svc, code)
		}
		for name := range families(t, body) {
			if !strings.HasPrefix(name, "toolforge_api_") {
				t.Errorf("%s serves %s publicly", api.MetricsPath(svc), name)
			}
		}
		if !strings.Contains(body, `toolforge_api_requests_total{code="200",method="GET",route="/jobs/v1/tool/{tool}/jobs"}`) {
			t.Errorf("%s lacks the API's request count:\n%s", api.MetricsPath(svc), body)
		}
	}
	resp, err := http.Get(f.Server.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	all := families(t, string(body))
	for _, want := range []string{"go_goroutines", "rest_client_requests_total", "toolforge_api_requests_total"} {
		if !all[want] {
			t.Errorf("the metrics port lacks %s", want)
		}
	}
}
