package admission

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// systemPod is what admission would refuse in a tool namespace.
func systemPod(name string) *corev1.Pod {
	pod := compliantPod(name)
	pod.Spec.Containers[0].Image = "registry.k8s.io/pause:3.10"
	return pod
}

func createSystemPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	ctx := testContext(t)
	pod, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, systemPod(name), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a pod in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	return pod
}

func TestPodsOfTheSystemAndThePlatformAreNeverTouched(t *testing.T) {
	setup(t)
	for _, ns := range []string{"kube-system", tenancy.PlatformNamespace} {
		t.Run(ns, func(t *testing.T) {
			pod := createSystemPod(t, ns, "untouched")
			if pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.RunAsUser != nil {
				t.Errorf("pod in %s got runAsUser %d", ns, *pod.Spec.SecurityContext.RunAsUser)
			}
			if len(pod.Spec.Volumes) > 1 || pod.Spec.Containers[0].SecurityContext != nil {
				t.Errorf("pod in %s was mutated: volumes %+v, security context %+v", ns, pod.Spec.Volumes, pod.Spec.Containers[0].SecurityContext)
			}
		})
	}
}

// With the webhook server down, tool pods are refused (the webhooks fail
// closed) while kube-system keeps working, the built-in policies keep
// validating without it, and updates that need no review (a label, a
// finalizer, a scale) still go through.
func TestWithTheServerStoppedToolPodsAreRefusedAndTheSystemWorks(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	if _, err := f.alphaKube.CoreV1().Pods(ns).Create(ctx, compliantPod("running"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.alphaKube.CoreV1().Pods(ns).Delete(ctx, "running", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	if _, err := kubectlAs(ctx, f.alpha, "create", "deployment", "web", "--image="+allowedImage, "--replicas=0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = kubectlAs(ctx, f.alpha, "delete", "deployment", "web") })
	if err := f.server.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.server.Start(ctx); err != nil {
			t.Fatalf("restart toolforged admission: %v", err)
		}
	})

	_, err := dryRunPod(ctx, f.alphaKube, f.alpha.Namespace, compliantPod("while-down"))
	wantDenied(t, err, fmt.Sprintf(`failed calling webhook "%s"`, podsWebhook))
	_, err = kubectlAs(ctx, f.alpha, "create", "deployment", "while-down", "--image="+allowedImage, "--dry-run=server")
	wantDenied(t, err, fmt.Sprintf(`failed calling webhook "%s"`, workloadsWebhook))

	createSystemPod(t, "kube-system", "while-down")

	if _, err := kubectlAs(ctx, f.alpha, "label", "pod/running", "while-down=yes"); err != nil {
		t.Errorf("labelling a running pod depends on the webhook server: %v", err)
	}
	if _, err := kubectlAs(ctx, f.alpha, "annotate", "deployment/web", "while-down=yes"); err != nil {
		t.Errorf("annotating a Deployment depends on the webhook server: %v", err)
	}
	_, err = kubectlAs(ctx, f.alpha, "set", "image", "pod/running", "main="+allowedImage+"-new")
	wantDenied(t, err, fmt.Sprintf(`failed calling webhook "%s"`, podImagesWebhook))

	_, err = f.alphaKube.NetworkingV1().Ingresses(f.alpha.Namespace).Create(ctx, ingress("beta.toolforge.org"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	wantDenied(t, err, `ingress: host "beta.toolforge.org"`)
	if _, err := f.alphaKube.NetworkingV1().Ingresses(f.alpha.Namespace).Create(ctx, ingress("alpha.toolforge.org"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		if strings.Contains(err.Error(), "webhook") {
			t.Fatalf("an Ingress depends on the webhook server: %v", err)
		}
		t.Fatal(err)
	}
}

// A namespace that says it is a tool's but lacks the tool's uid gets no
// pods at all: admission cannot tell whose identity they would run as.
func TestANamespaceWithoutAToolUIDGetsNoPods(t *testing.T) {
	setup(t)
	ctx := testContext(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tool-unlabelled", Labels: map[string]string{tenancy.LabelTenancy: tenancy.TenancyTool}}}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}) })
	testcluster.Eventually(t, 10*time.Second, func() error {
		_, err := dryRunPod(ctx, cluster.Client, ns.Name, compliantPod("orphan"))
		if err == nil {
			return fmt.Errorf("a pod was admitted")
		}
		if !strings.Contains(err.Error(), `identity: namespace "tool-unlabelled" has no valid toolforge.org/tool and toolforge.org/uid labels`) {
			return err
		}
		return nil
	})
}
