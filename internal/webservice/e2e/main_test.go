// Package e2e tests `toolforge webservice` end to end: the real binaries
// (bin/toolforge and its bin/webservice name), run as provisioned tools with
// their own certificates, against a devcluster guarded by the platform's
// real admission (`toolforged admission`); assertions are on what the
// cluster then holds.
package e2e

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/admission/admissiontest"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var cluster *testcluster.Cluster

// The audit log is where tests see that a command wrote nothing, and
// that the quota controller has recounted.
func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{AuditLog: true}, &cluster) }

// toolNames are every tool the tests use, provisioned together with one
// accounts run; each test has its own, so tests run in parallel.
var toolNames = []string{
	"ws-life", "ws-limits", "ws-reuse", "ws-template", "ws-type", "ws-owner", "ws-intruder",
	"ws-wait", "ws-quota", "ws-domain", "ws-logs", "ws-shell", "ws-shellfail", "ws-admitted", "ws-catalogue", "ws-extra",
}

var setup struct {
	once               sync.Once
	tools              map[string]*testcluster.Tool
	toolforge, webserv string
	err                error
}

// env provisions the tools, starts the platform's admission and builds the
// binaries, once.
func env(t *testing.T) (tools map[string]*testcluster.Tool, toolforge, webservice string) {
	t.Helper()
	setup.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if setup.tools, setup.err = cluster.ProvisionTools(ctx, toolNames...); setup.err != nil {
			return
		}
		if _, setup.err = admissiontest.Start(ctx, cluster, setup.tools["ws-admitted"]); setup.err != nil {
			return
		}
		if setup.toolforge, setup.err = testcluster.BuildBinary("toolforge"); setup.err != nil {
			return
		}
		setup.webserv, setup.err = testcluster.BuildBinary("webservice")
	})
	if setup.err != nil {
		t.Fatal(setup.err)
	}
	return setup.tools, setup.toolforge, setup.webserv
}

// result is what a command printed and how it exited.
type result = testcluster.Result

// run runs a binary as the tool (HOME = the tool's home).
func run(t *testing.T, tool *testcluster.Tool, bin string, args ...string) result {
	t.Helper()
	r := tool.Run(t, "", nil, bin, args...)
	t.Logf("%s %s → exit %d\nstdout: %s\nstderr: %s", tool.Name, strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	return r
}

// mustRun runs a command that must succeed and print want on stdout.
func mustRun(t *testing.T, tool *testcluster.Tool, want string, bin string, args ...string) result {
	t.Helper()
	r := run(t, tool, bin, args...)
	if r.Code != 0 {
		t.Fatalf("%v: exit %d: %s", args, r.Code, r.Stderr)
	}
	if r.Stdout != want {
		t.Fatalf("%v: stdout %q, want %q", args, r.Stdout, want)
	}
	return r
}

// webObjects are the tool's web service objects in the cluster, read as
// the cluster admin; absent ones are nil.
type webObjects struct {
	dep *appsv1.Deployment
	svc *corev1.Service
	ing *networkingv1.Ingress
}

func objects(t *testing.T, tool *testcluster.Tool) webObjects {
	t.Helper()
	ctx := context.Background()
	var o webObjects
	var err error
	check := func(err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	o.dep, err = cluster.Client.AppsV1().Deployments(tool.Namespace).Get(ctx, tool.Name, metav1.GetOptions{})
	check(err)
	if err != nil {
		o.dep = nil
	}
	o.svc, err = cluster.Client.CoreV1().Services(tool.Namespace).Get(ctx, tool.Name, metav1.GetOptions{})
	check(err)
	if err != nil {
		o.svc = nil
	}
	o.ing, err = cluster.Client.NetworkingV1().Ingresses(tool.Namespace).Get(ctx, tool.Name, metav1.GetOptions{})
	check(err)
	if err != nil {
		o.ing = nil
	}
	return o
}

func assertNoWebObjects(t *testing.T, tool *testcluster.Tool) {
	t.Helper()
	o := objects(t, tool)
	if o.dep != nil || o.svc != nil || o.ing != nil {
		t.Fatalf("web service objects left in %s: deployment %v, service %v, ingress %v", tool.Namespace, o.dep != nil, o.svc != nil, o.ing != nil)
	}
}

// webPods are the tool's web service pods, as the cluster admin sees them.
func webPods(t *testing.T, tool *testcluster.Tool) []corev1.Pod {
	t.Helper()
	list, err := cluster.Client.CoreV1().Pods(tool.Namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=web,app.kubernetes.io/name=" + tool.Name,
	})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
