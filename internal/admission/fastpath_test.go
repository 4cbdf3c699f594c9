package admission

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// completePod is what the webhook would make of compliantPod for tool:
// a pod that takes the fast path.
func completePod(tool *testcluster.Tool, name string) *corev1.Pod {
	uid := tool.UID
	home := tenancy.HomeMountPath(tool.Name)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsUser: ptr.To(uid), RunAsGroup: ptr.To(uid), FSGroup: ptr.To(uid), RunAsNonRoot: ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Volumes: []corev1.Volume{
				{Name: "tool-home", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-home"}}},
				{Name: "tool-dumps", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-dumps", ReadOnly: true}}},
			},
			Containers: []corev1.Container{completeContainer("main", home)},
		},
	}
}

func completeContainer(name, home string) corev1.Container {
	return corev1.Container{
		Name: name, Image: allowedImage, Command: []string{"sleep", "infinity"},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		EnvFrom: []corev1.EnvFromSource{envvarsRef()},
		Env:     []corev1.EnvVar{{Name: EnvHome, Value: home}, {Name: EnvToolDataDir, Value: home}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "tool-home", MountPath: home},
			{Name: "tool-dumps", MountPath: "/public/dumps", ReadOnly: true},
		},
	}
}

func podCalls(t *testing.T, f *fixture) float64 {
	t.Helper()
	n, err := f.server.WebhookRequests(MutatePodsPath)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A complete pod of the tool's is admitted as it is, without a call to the
// webhook; a plain one is still completed by it.
func TestACompletePodIsAdmittedWithoutAWebhookCall(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	before := podCalls(t, f)
	sent := completePod(f.alpha, "complete")
	got, err := f.alphaKube.CoreV1().Pods(ns).Create(ctx, sent, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.alphaKube.CoreV1().Pods(ns).Delete(ctx, sent.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	if after := podCalls(t, f); after != before {
		t.Errorf("the pods webhook answered %v requests for a complete pod, want none", after-before)
	}
	if !reflect.DeepEqual(got.Spec.SecurityContext, sent.Spec.SecurityContext) || !reflect.DeepEqual(got.Spec.Containers[0].Env, sent.Spec.Containers[0].Env) ||
		!reflect.DeepEqual(got.Spec.Containers[0].EnvFrom, sent.Spec.Containers[0].EnvFrom) {
		t.Errorf("the complete pod was changed: security context %+v, env %+v, envFrom %+v", got.Spec.SecurityContext, got.Spec.Containers[0].Env, got.Spec.Containers[0].EnvFrom)
	}

	before = podCalls(t, f)
	plain, err := dryRunPod(ctx, f.alphaKube, ns, compliantPod("plain"))
	if err != nil {
		t.Fatal(err)
	}
	if after := podCalls(t, f); after != before+1 {
		t.Errorf("the pods webhook answered %v requests for a plain pod, want 1", after-before)
	}
	if ptr.Deref(plain.Spec.SecurityContext.RunAsUser, -1) != f.alpha.UID || !hasEnvvarsRef(plain.Spec.Containers[0].EnvFrom) {
		t.Errorf("the plain pod was not completed: %+v", plain.Spec)
	}
}

// With the webhook server stopped, the fast path is what admits a pod:
// a complete pod is admitted, and removing or changing any one thing that
// makes it complete and valid sends it to the (stopped) webhook.
func TestOnlyACompleteAndValidPodTakesTheFastPath(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	// What the webhook makes of plain pods takes the fast path too, so a
	// controller re-creating a completed pod costs no call.
	withInit := compliantPod("with-init")
	withInit.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: allowedImage, Command: []string{"true"}}}
	var outputs []*corev1.Pod
	for _, p := range []*corev1.Pod{compliantPod("plain"), withInit} {
		out, err := dryRunPod(ctx, f.alphaKube, ns, p)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, resubmittable(out))
	}
	stopServer(t, f)

	admitted := map[string]*corev1.Pod{
		"a complete pod":                        completePod(f.alpha, "complete"),
		"what the webhook made of a plain pod":  outputs[0],
		"what the webhook made of an init pod":  outputs[1],
		"a complete pod with an init container": withInitContainer(completePod(f.alpha, "init"), f.alpha),
		"a complete pod without storage":        withoutStorage(completePod(f.alpha, "none")),
		"a complete pod with an image volume":   fullPod(f.alpha, "image-volume"),
	}
	for name, pod := range admitted {
		t.Run(name, func(t *testing.T) {
			if _, err := dryRunPod(ctx, f.alphaKube, ns, pod); err != nil {
				t.Fatalf("refused with the webhook server stopped: %v", err)
			}
		})
	}

	beta := f.beta.UID
	main := func(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }
	for _, tc := range []struct {
		name   string
		change func(p *corev1.Pod)
	}{
		{"without runAsUser", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = nil }},
		{"without runAsGroup", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsGroup = nil }},
		{"without fsGroup", func(p *corev1.Pod) { p.Spec.SecurityContext.FSGroup = nil }},
		{"without runAsNonRoot", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = nil }},
		{"without a seccomp profile", func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile = nil }},
		{"running as another tool's uid", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr.To(beta) }},
		{"running as root", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0) }},
		{"with another tool's group", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsGroup = ptr.To(beta) }},
		{"with another tool's fsGroup", func(p *corev1.Pod) { p.Spec.SecurityContext.FSGroup = ptr.To(beta) }},
		{"with a supplemental root group", func(p *corev1.Pod) { p.Spec.SecurityContext.SupplementalGroups = []int64{0} }},
		{"with a container running as another tool's uid", func(p *corev1.Pod) { main(p).SecurityContext.RunAsUser = ptr.To(beta) }},
		{"with a container in another tool's group", func(p *corev1.Pod) { main(p).SecurityContext.RunAsGroup = ptr.To(beta) }},
		{"with a container without a security context", func(p *corev1.Pod) { main(p).SecurityContext = nil }},
		{"with a container allowing escalation", func(p *corev1.Pod) { main(p).SecurityContext.AllowPrivilegeEscalation = ptr.To(true) }},
		{"with a container keeping its capabilities", func(p *corev1.Pod) { main(p).SecurityContext.Capabilities = nil }},
		{"with a container adding NET_BIND_SERVICE", func(p *corev1.Pod) {
			main(p).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
		}},
		{"with an incomplete init container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: allowedImage, Command: []string{"true"}}}
		}},
		{"with an image from Docker Hub", func(p *corev1.Pod) { main(p).Image = "docker.io/library/python:3.11" }},
		{"with an image that names no registry", func(p *corev1.Pod) { main(p).Image = "python:3.11" }},
		{"with an image from a look-alike registry", func(p *corev1.Pod) { main(p).Image = "docker-registry.tools.wmflabs.org.evil.com/python:3.11" }},
		{"with an image from another port of the registry", func(p *corev1.Pod) { main(p).Image = "docker-registry.tools.wmflabs.org:5000/python:3.11" }},
		{"with an image whose path starts with the registry", func(p *corev1.Pod) { main(p).Image = "evil.com/docker-registry.tools.wmflabs.org/python:3.11" }},
		{"without the envvars", func(p *corev1.Pod) { main(p).EnvFrom = nil }},
		{"without the home volume", func(p *corev1.Pod) { p.Spec.Volumes = p.Spec.Volumes[1:] }},
		{"with the home volume from another claim", func(p *corev1.Pod) { p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = "mine" }},
		{"without the home mounted", func(p *corev1.Pod) { main(p).VolumeMounts = main(p).VolumeMounts[1:] }},
		{"with the home mounted elsewhere", func(p *corev1.Pod) { main(p).VolumeMounts[0].MountPath = "/data/project/beta" }},
		{"without the shared data volume", func(p *corev1.Pod) { p.Spec.Volumes = p.Spec.Volumes[:1] }},
		{"with the shared data mounted read-write", func(p *corev1.Pod) { main(p).VolumeMounts[1].ReadOnly = false }},
		{"with a second volume of the shared data, read-write", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "mine", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-dumps"}}})
			main(p).VolumeMounts = append(main(p).VolumeMounts, corev1.VolumeMount{Name: "mine", MountPath: "/mnt/dumps"})
		}},
		{"with a second read-only volume of the shared data", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "mine", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-dumps", ReadOnly: true}}})
		}},
		{"with the shared data mounted again, read-write", func(p *corev1.Pod) {
			main(p).VolumeMounts = append(main(p).VolumeMounts, corev1.VolumeMount{Name: "tool-dumps", MountPath: "/mnt/dumps"})
		}},
		{"without storage but with the shared data read-write", func(p *corev1.Pod) {
			withoutStorage(p)
			p.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "tool-dumps"}}}}
			main(p).VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: "/mnt/dumps"}}
		}},
		{"without HOME", func(p *corev1.Pod) { main(p).Env = main(p).Env[1:] }},
		{"with HOME elsewhere", func(p *corev1.Pod) { main(p).Env[0].Value = "/tmp" }},
		{"without TOOL_DATA_DIR", func(p *corev1.Pod) { main(p).Env = main(p).Env[:1] }},
		{"with an unknown mount-storage label", func(p *corev1.Pod) { p.Labels = map[string]string{tenancy.MountStorageLabel: "some"} }},
		{"running as another ServiceAccount of the namespace", func(p *corev1.Pod) { p.Spec.ServiceAccountName = otherServiceAccount }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := completePod(f.alpha, "incomplete")
			tc.change(pod)
			_, err := dryRunPod(ctx, f.alphaKube, ns, pod)
			wantDenied(t, err, fmt.Sprintf(`failed calling webhook "%s"`, podsWebhook))
		})
	}
	// Every image a pod can be created with, from the API types: an image
	// from another registry in any of them takes the webhook.
	for field, registry := range fastPathImageFields(t) {
		t.Run("with an image from Docker Hub in "+field, func(t *testing.T) {
			pod := fullPod(f.alpha, "image")
			setField(t, reflect.ValueOf(&pod.Spec).Elem(), field, "docker.io/evil/payload:1")
			_, err := dryRunPod(ctx, f.alphaKube, ns, pod)
			if !registry { // a volume type Pod Security refuses whole
				if err == nil {
					t.Fatal("admitted")
				}
				return
			}
			wantDenied(t, err, fmt.Sprintf(`failed calling webhook "%s"`, podsWebhook))
		})
	}
	t.Run("with an ephemeral container", func(t *testing.T) {
		pod := completePod(f.alpha, "ephemeral")
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: allowedImage}}}
		_, err := dryRunPod(ctx, f.alphaKube, ns, pod)
		wantDenied(t, err, fmt.Sprintf(`failed calling webhook "%s"`, podsWebhook))
	})
	t.Run("alpha's complete pod in beta's namespace", func(t *testing.T) {
		_, err := dryRunPod(ctx, f.betaKube, f.beta.Namespace, completePod(f.alpha, "elsewhere"))
		wantDenied(t, err, fmt.Sprintf(`failed calling webhook "%s"`, podsWebhook))
	})
}

// A pod written to look complete but running as someone else, or from
// another registry, does not take the fast path: the webhook reviews it
// and refuses it with its messages.
func TestACompletePodThatEscapesIsReviewedAndRefused(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	beta := f.beta.UID
	for _, tc := range []struct {
		name   string
		change func(p *corev1.Pod)
		want   string
	}{
		{"another tool's uid", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr.To(beta) },
			fmt.Sprintf("identity: spec.securityContext.runAsUser: uid %d is not allowed", beta)},
		{"root", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0) },
			"identity: spec.securityContext.runAsUser: uid 0 (root) is not allowed"},
		{"the root group", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsGroup = ptr.To[int64](0) },
			"identity: spec.securityContext.runAsGroup: gid 0 (root) is not allowed"},
		{"another tool's uid in a container", func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext.RunAsUser = ptr.To(beta) },
			fmt.Sprintf("identity: spec.containers[0].securityContext.runAsUser: uid %d is not allowed", beta)},
		{"an image from Docker Hub", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "docker.io/nginx" },
			`registry: spec.containers[0].image: image "docker.io/nginx" of container "main" is not from an allowed registry`},
		{"an image from a look-alike registry", func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "docker-registry.tools.wmflabs.org.evil.com/toolforge-python311-sssd-base:latest"
		}, "registry: spec.containers[0].image"},
		{"an image whose path starts with the registry", func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "evil.com/docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"
		}, "registry: spec.containers[0].image"},
		{"another ServiceAccount of the namespace", func(p *corev1.Pod) { p.Spec.ServiceAccountName = otherServiceAccount },
			`serviceaccount: spec.serviceAccountName: ServiceAccount "deployer" is not allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := completePod(f.alpha, "escape")
			tc.change(pod)
			_, err := dryRunPod(ctx, f.alphaKube, f.alpha.Namespace, pod)
			wantDenied(t, err, fmt.Sprintf(`admission webhook "%s" denied the request`, podsWebhook), tc.want)
		})
	}
	// The same with the real kubectl and the tool's own kubeconfig.
	manifest := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(manifest, []byte(`
apiVersion: v1
kind: Pod
metadata: {name: as-beta}
spec:
  securityContext: {runAsUser: `+fmt.Sprint(beta)+`, runAsGroup: `+fmt.Sprint(beta)+`, fsGroup: `+fmt.Sprint(beta)+`, runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: main
    image: `+allowedImage+`
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
    envFrom: [{secretRef: {name: toolforge-envvars, optional: true}}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := kubectlAs(ctx, f.alpha, "create", "-f", manifest, "--dry-run=server")
	wantDenied(t, err, fmt.Sprintf("uid %d is not allowed", beta))
}

// A tool provisioned after admission started gets the fast path as soon
// as its namespace exists: the installer adds its uid to the match
// condition.
func TestANewToolsCompletePodsTakeTheFastPath(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	tools, err := cluster.ProvisionTools(ctx, "gamma")
	if err != nil {
		t.Fatal(err)
	}
	gamma := tools["gamma"]
	kube, err := gamma.Client()
	if err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 20*time.Second, func() error {
		before := podCalls(t, f)
		if _, err := dryRunPod(ctx, kube, gamma.Namespace, completePod(gamma, "complete")); err != nil {
			return err
		}
		if after := podCalls(t, f); after != before {
			return fmt.Errorf("gamma's complete pod still calls the webhook")
		}
		return nil
	})
}

func stopServer(t *testing.T, f *fixture) {
	t.Helper()
	if err := f.server.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.server.Start(context.Background()); err != nil {
			t.Fatalf("restart toolforged admission: %v", err)
		}
	})
}

// resubmittable is a pod read back from the API as a new pod to create:
// without what the API server adds (its identity, the service account
// token volume, which it adds again).
func resubmittable(p *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name + "-again", Labels: p.Labels}, Spec: *p.Spec.DeepCopy()}
	token := func(name string) bool { return strings.HasPrefix(name, "kube-api-access-") }
	out.Spec.Volumes = slices.DeleteFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return token(v.Name) })
	for _, list := range [][]corev1.Container{out.Spec.InitContainers, out.Spec.Containers} {
		for i := range list {
			list[i].VolumeMounts = slices.DeleteFunc(list[i].VolumeMounts, func(m corev1.VolumeMount) bool { return token(m.Name) })
		}
	}
	return out
}

func withInitContainer(p *corev1.Pod, tool *testcluster.Tool) *corev1.Pod {
	p.Spec.InitContainers = []corev1.Container{completeContainer("setup", tenancy.HomeMountPath(tool.Name))}
	return p
}

func withoutStorage(p *corev1.Pod) *corev1.Pod {
	p.Labels = map[string]string{tenancy.MountStorageLabel: MountNone}
	p.Spec.Volumes = nil
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].VolumeMounts = nil
		p.Spec.Containers[i].Env = nil
	}
	return p
}

// The fast path follows the settings: with Docker Hub allowed, a complete
// pod whose image names no registry takes it (the runtime pulls it from
// docker.io) while other registries still go to the webhook; and it
// stops when the setting is removed.
func TestTheFastPathFollowsTheRegistrySettings(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	fast := func(image string) (bool, error) {
		pod := completePod(f.alpha, "image")
		pod.Spec.Containers[0].Image = image
		before := podCalls(t, f)
		_, err := dryRunPod(ctx, f.alphaKube, ns, pod)
		return podCalls(t, f) == before, err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: tenancy.AdmissionConfigMap, Namespace: tenancy.PlatformNamespace},
		Data:       map[string]string{SettingsKey: "registries: [docker-registry.tools.wmflabs.org, docker.io]\n"},
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
	testcluster.Eventually(t, 15*time.Second, func() error {
		if ok, err := fast("python:3.11"); !ok || err != nil {
			return fmt.Errorf("a Docker Hub image does not take the fast path yet (%v)", err)
		}
		return nil
	})
	for _, tc := range []struct {
		image string
		fast  bool
	}{
		{"library/python:3.11", true},
		{"docker.io/library/python:3.11", true},
		{allowedImage, true},
		{"quay.io/wikimedia/python:3.11", false},
		{"localhost/python:3.11", false},
		{"docker.io.evil.com/python:3.11", false},
	} {
		ok, err := fast(tc.image)
		if ok != tc.fast {
			t.Errorf("image %q: fast path %v, want %v", tc.image, ok, tc.fast)
		}
		if tc.fast && err != nil {
			t.Errorf("image %q refused: %v", tc.image, err)
		}
		if !tc.fast {
			wantDenied(t, err, "registry: ")
		}
	}

	if err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	removed = true
	testcluster.Eventually(t, 15*time.Second, func() error {
		ok, err := fast("python:3.11")
		if ok || err == nil {
			return fmt.Errorf("a Docker Hub image is still admitted after the setting was removed (fast path %v)", ok)
		}
		return nil
	})
}
