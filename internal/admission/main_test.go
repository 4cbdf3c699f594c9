package admission

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/admission/admissiontest"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var cluster *testcluster.Cluster

// otherServiceAccount exists in alpha's namespace, made by an admin.
const otherServiceAccount = "deployer"

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{}, &cluster) }

// fixture is what the integration tests share: two tools provisioned by
// the real accounts controller, and the real `toolforged admission`
// binary serving the cluster.
type fixture struct {
	alpha, beta         *testcluster.Tool
	alphaKube, betaKube kubernetes.Interface
	server              *admissiontest.Server
}

var (
	fixtureOnce sync.Once
	shared      *fixture
	fixtureErr  error
)

func setup(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() { shared, fixtureErr = newFixture() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return shared
}

func newFixture() (*fixture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tools, err := cluster.ProvisionTools(ctx, "alpha", "beta")
	if err != nil {
		return nil, err
	}
	f := &fixture{alpha: tools["alpha"], beta: tools["beta"]}
	if f.alphaKube, err = f.alpha.Client(); err != nil {
		return nil, err
	}
	if f.betaKube, err = f.beta.Client(); err != nil {
		return nil, err
	}
	// A ServiceAccount an admin made in alpha's namespace for something
	// else: alpha's pods may not run as it (rule serviceaccount).
	if _, err := cluster.Client.CoreV1().ServiceAccounts(f.alpha.Namespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: otherServiceAccount}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if f.server, err = admissiontest.Start(ctx, cluster, f.alpha); err != nil {
		return nil, err
	}
	return f, nil
}

const allowedImage = "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"

func compliantPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "main", Image: allowedImage, Command: []string{"sleep", "infinity"}}},
		},
	}
}

func dryRunPod(ctx context.Context, kube kubernetes.Interface, ns string, pod *corev1.Pod) (*corev1.Pod, error) {
	return kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// wantDenied fails unless err refuses the request with a message that
// contains every one of want (the rule, the field, what is allowed).
func wantDenied(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted; want a denial containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("denial %q\ndoes not contain %q", err, w)
		}
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// kubectlAs runs the real kubectl with tool's own kubeconfig.
func kubectlAs(ctx context.Context, tool *testcluster.Tool, args ...string) (string, error) {
	return testcluster.Kubectl(ctx, tool.Kubeconfig, args...)
}
