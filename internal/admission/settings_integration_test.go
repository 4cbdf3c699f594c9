package admission

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// An admin's exception in the ConfigMap toolforge-admission applies to
// its tool only, while the server runs, and ends when it is removed.
func TestPerToolExceptionsFromTheConfigMap(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	quayPod := compliantPod("quay")
	quayPod.Spec.Containers[0].Image = "quay.io/wikimedia/image:1"
	alphaMayUseQuay := func() error {
		_, err := dryRunPod(ctx, f.alphaKube, f.alpha.Namespace, quayPod)
		return err
	}
	alphaMayServeExampleOrg := func() error {
		_, err := f.alphaKube.NetworkingV1().Ingresses(f.alpha.Namespace).Create(ctx, ingress("alpha.example.org"), dry)
		return err
	}
	wantDenied(t, alphaMayUseQuay(), "registry: ")
	wantDenied(t, alphaMayServeExampleOrg(), "ingress: ")

	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: tenancy.AdmissionConfigMap, Namespace: tenancy.PlatformNamespace},
		Data: map[string]string{SettingsKey: `
exceptions:
  alpha:
    registries: [quay.io]
    ingressHosts: [alpha.example.org]
`},
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			_ = cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Delete(ctx, cm.Name, metav1.DeleteOptions{})
		}
	})
	testcluster.Eventually(t, 15*time.Second, alphaMayUseQuay)
	testcluster.Eventually(t, 15*time.Second, alphaMayServeExampleOrg)

	_, err := dryRunPod(ctx, f.betaKube, f.beta.Namespace, quayPod)
	wantDenied(t, err, "registry: ", "quay.io/wikimedia/image:1")
	_, err = f.betaKube.NetworkingV1().Ingresses(f.beta.Namespace).Create(ctx, ingress("alpha.example.org"), dry)
	wantDenied(t, err, `ingress: host "alpha.example.org"`)

	if err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	removed = true
	testcluster.Eventually(t, 15*time.Second, func() error {
		if alphaMayUseQuay() == nil || alphaMayServeExampleOrg() == nil {
			return fmt.Errorf("exception still applies after the ConfigMap was deleted")
		}
		return nil
	})
}

// A ConfigMap that does not parse changes nothing: the rules stay as they
// were instead of falling open or closed.
func TestABrokenConfigMapKeepsTheRules(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: tenancy.AdmissionConfigMap, Namespace: tenancy.PlatformNamespace},
		Data:       map[string]string{SettingsKey: "registries: [docker.io]\nregistires: typo\n"},
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Delete(ctx, cm.Name, metav1.DeleteOptions{})
	})
	testcluster.Eventually(t, 15*time.Second, func() error {
		log, err := os.ReadFile(f.server.Log)
		if err != nil {
			return err
		}
		if !strings.Contains(string(log), `msg="admission settings not applied; the previous ones stay"`) || !strings.Contains(string(log), "registires") {
			return fmt.Errorf("the server has not reported the broken ConfigMap")
		}
		return nil
	})
	pod := compliantPod("hub")
	pod.Spec.Containers[0].Image = "docker.io/nginx"
	_, err := dryRunPod(ctx, f.alphaKube, f.alpha.Namespace, pod)
	wantDenied(t, err, "registry: ")
	if _, err := dryRunPod(ctx, f.alphaKube, f.alpha.Namespace, compliantPod("ok")); err != nil {
		t.Fatalf("a compliant pod is refused with a broken ConfigMap: %v", err)
	}
}
