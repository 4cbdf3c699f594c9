package admission

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// A pod written with no thought for security is admitted, and comes out
// with the tool's identity, its storage and its environment.
func TestACompliantPodComesOutWithTheToolsIdentityStorageAndEnvvars(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	if _, err := kubectlAs(ctx, f.alpha, "create", "secret", "generic", tenancy.EnvvarsSecret, "--from-literal=API_TOKEN=s3cret", "--from-literal=LANG=C.UTF-8"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = kubectlAs(ctx, f.alpha, "delete", "secret", tenancy.EnvvarsSecret) })

	manifest := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(manifest, []byte(`
apiVersion: v1
kind: Pod
metadata:
  name: plain
spec:
  initContainers:
  - name: setup
    image: `+allowedImage+`
    command: ["true"]
  containers:
  - name: main
    image: `+allowedImage+`
    command: ["sleep", "infinity"]
    env:
    - {name: LANG, value: en_GB.UTF-8}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectlAs(ctx, f.alpha, "create", "-f", manifest); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = kubectlAs(ctx, f.alpha, "delete", "pod", "plain", "--grace-period=0") })

	pod, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "plain", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uid := f.alpha.UID
	sc := pod.Spec.SecurityContext
	if sc == nil || ptr.Deref(sc.RunAsUser, -1) != uid || ptr.Deref(sc.RunAsGroup, -1) != uid || ptr.Deref(sc.FSGroup, -1) != uid ||
		!ptr.Deref(sc.RunAsNonRoot, false) || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context = %+v, want uid/gid/fsGroup %d, non-root, seccomp RuntimeDefault", sc, uid)
	}
	home := "/data/project/alpha"
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		csc := c.SecurityContext
		if csc == nil || ptr.Deref(csc.AllowPrivilegeEscalation, true) || csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: security context = %+v, want no escalation and every capability dropped", c.Name, csc)
		}
		mounts := map[string]corev1.VolumeMount{}
		for _, m := range c.VolumeMounts {
			mounts[m.MountPath] = m
		}
		if m, ok := mounts[home]; !ok || m.ReadOnly {
			t.Errorf("%s: home not mounted read-write at %s: %+v", c.Name, home, c.VolumeMounts)
		}
		if m, ok := mounts["/public/dumps"]; !ok || !m.ReadOnly {
			t.Errorf("%s: dumps not mounted read-only at /public/dumps: %+v", c.Name, c.VolumeMounts)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		if env["HOME"].Value != home || env["TOOL_DATA_DIR"].Value != home {
			t.Errorf("%s: HOME=%q TOOL_DATA_DIR=%q, want %s", c.Name, env["HOME"].Value, env["TOOL_DATA_DIR"].Value, home)
		}
		// Every variable of the Secret, API_TOKEN and LANG, as the
		// container starts.
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != tenancy.EnvvarsSecret || !ptr.Deref(c.EnvFrom[0].SecretRef.Optional, false) {
			t.Errorf("%s: envFrom = %+v, want the optional Secret %s", c.Name, c.EnvFrom, tenancy.EnvvarsSecret)
		}
	}
	// Kubernetes gives env precedence over envFrom: the container's own
	// LANG wins over the envvar.
	if lang := pod.Spec.Containers[0].Env[0]; lang.Name != "LANG" || lang.Value != "en_GB.UTF-8" || slices.ContainsFunc(pod.Spec.Containers[0].Env[1:], func(e corev1.EnvVar) bool { return e.Name == "LANG" }) {
		t.Errorf("the container's own LANG must stay as it is: env = %+v", pod.Spec.Containers[0].Env)
	}
	claims := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.PersistentVolumeClaim.ClaimName] = true
		}
	}
	if !claims["tool-home"] || !claims["tool-dumps"] {
		t.Errorf("volumes = %+v, want the claims tool-home and tool-dumps", pod.Spec.Volumes)
	}
}

func TestMountStorageNoneMountsNothingInTheCluster(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	pod := compliantPod("no-storage")
	pod.Labels = map[string]string{tenancy.MountStorageLabel: MountNone}
	got, err := dryRunPod(ctx, f.alphaKube, f.alpha.Namespace, pod)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range got.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("volume %q mounts claim %s despite mount-storage=none", v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	for _, e := range got.Spec.Containers[0].Env {
		if e.Name == "HOME" || e.Name == "TOOL_DATA_DIR" {
			t.Errorf("%s set despite mount-storage=none", e.Name)
		}
	}
	if ptr.Deref(got.Spec.SecurityContext.RunAsUser, -1) != f.alpha.UID {
		t.Errorf("identity not applied with mount-storage=none: %+v", got.Spec.SecurityContext)
	}
}
