package admission

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

const evilImage = "docker.io/evil/payload:1"

// imageVolume is a volume of an OCI image (Kubernetes' ImageVolume).
func imageVolume(name, image string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: image}}}
}

// fullPod is a complete pod with every kind of image field a pod can be
// created with: containers, an init container, an image volume (first, so
// that volumes[0] is it). Ephemeral containers only come through their
// subresource.
func fullPod(tool *testcluster.Tool, name string) *corev1.Pod {
	p := withInitContainer(completePod(tool, name), tool)
	p.Spec.Volumes = append([]corev1.Volume{imageVolume("data", allowedImage)}, p.Spec.Volumes...)
	p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/srv/data"})
	return p
}

// fastPathImageFields are the PodSpec's image fields a created pod can
// carry, each with whether it is held to the registry rule (true), or sits
// in a volume type Pod Security refuses whole (rbd.image names a Ceph
// image, not an OCI one).
func fastPathImageFields(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range podImageFields() {
		if strings.HasPrefix(f, "ephemeralContainers[]") {
			continue // never on a created pod; any takes the webhook
		}
		typ, _, _ := strings.Cut(strings.TrimPrefix(f, "volumes[]."), ".")
		out[f] = !strings.HasPrefix(f, "volumes[]") || slices.Contains(allowedVolumeTypes, typ)
	}
	if len(out) < 4 {
		t.Fatalf("image fields %v", out)
	}
	return out
}

// The attack, as the tool with its own kubeconfig: an admitted
// pod's JSON, with an image volume from Docker Hub added and mounted,
// created under a new name. The pod looks mutated, so it would take the
// fast path: the image volume alone must send it to the webhook, which
// refuses it naming the field and the allowed registries.
func TestAnAdmittedPodWithAnImageVolumeFromAnotherRegistryIsRefused(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	if _, err := kubectlAs(ctx, f.alpha, "run", "admitted", "--image="+allowedImage, "--restart=Never", "--command", "--", "sleep", "infinity"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.alphaKube.CoreV1().Pods(ns).Delete(ctx, "admitted", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	out, err := kubectlAs(ctx, f.alpha, "get", "pod", "admitted", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var pod map[string]any
	if err := json.Unmarshal([]byte(out), &pod); err != nil {
		t.Fatal(err)
	}
	pod["metadata"] = map[string]any{"name": "stolen"}
	delete(pod, "status")
	spec := pod["spec"].(map[string]any)
	volumes := spec["volumes"].([]any)
	index := len(volumes)
	spec["volumes"] = append(volumes, map[string]any{"name": "p", "image": map[string]any{"reference": evilImage}})
	main := spec["containers"].([]any)[0].(map[string]any)
	main["volumeMounts"] = append(main["volumeMounts"].([]any), map[string]any{"name": "p", "mountPath": "/p"})
	manifest := filepath.Join(t.TempDir(), "stolen.json")
	data, _ := json.Marshal(pod)
	if err := os.WriteFile(manifest, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = kubectlAs(ctx, f.alpha, "create", "-f", manifest)
	wantDenied(t, err, fmt.Sprintf(`registry: spec.volumes[%d].image.reference: image %q of volume "p" is not from an allowed registry (allowed: docker-registry.tools.wmflabs.org)`, index, evilImage))

	// Without the image volume the same JSON is admitted: the denial is
	// the image volume's, not the copy's.
	spec["volumes"] = volumes
	main["volumeMounts"] = main["volumeMounts"].([]any)[:len(main["volumeMounts"].([]any))-1]
	data, _ = json.Marshal(pod)
	if err := os.WriteFile(manifest, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectlAs(ctx, f.alpha, "create", "-f", manifest, "--dry-run=server"); err != nil {
		t.Fatalf("the admitted pod's JSON under a new name: %v\n%s", err, out)
	}
}

// Every image field of a complete pod is reviewed by the webhook when it
// names another registry, and refused naming it.
func TestEveryImageOfACompletePodIsReviewed(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	if _, err := dryRunPod(ctx, f.alphaKube, f.alpha.Namespace, fullPod(f.alpha, "full")); err != nil {
		t.Fatalf("a complete pod with an init container and an image volume from the allowed registry: %v", err)
	}
	for field, registry := range fastPathImageFields(t) {
		t.Run(field, func(t *testing.T) {
			pod := fullPod(f.alpha, "evil")
			setField(t, reflect.ValueOf(&pod.Spec).Elem(), field, evilImage)
			_, err := dryRunPod(ctx, f.alphaKube, f.alpha.Namespace, pod)
			if registry {
				wantDenied(t, err, fmt.Sprintf(`registry: spec.%s: image %q`, strings.ReplaceAll(field, "[]", "[0]"), evilImage), "(allowed: docker-registry.tools.wmflabs.org)")
			} else if err == nil {
				t.Fatal("admitted")
			}
		})
	}
}

// Every workload's pod template is held to the registry rule for image
// volumes too. Tools may not create DaemonSets: an admin acting in a tool
// namespace is held to the rules all the same.
func TestAWorkloadWithAnImageVolumeFromAnotherRegistryIsRefused(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	ns := f.alpha.Namespace
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	template := func(restart corev1.RestartPolicy) corev1.PodTemplateSpec {
		p := compliantPod("")
		p.Spec.RestartPolicy = restart
		p.Spec.Volumes = []corev1.Volume{imageVolume("p", evilImage)}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "p", MountPath: "/p"}}
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: p.Spec}
	}
	const denial = `registry: %s.volumes[0].image.reference: image "` + evilImage + `" of volume "p" is not from an allowed registry (allowed: docker-registry.tools.wmflabs.org)`
	for _, tc := range []struct {
		kind, path string
		create     func() error
	}{
		{"Deployment", "spec.template.spec", func() error {
			_, err := f.alphaKube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: appsv1.DeploymentSpec{Selector: selector, Template: template(corev1.RestartPolicyAlways)}}, dry)
			return err
		}},
		{"ReplicaSet", "spec.template.spec", func() error {
			_, err := f.alphaKube.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template(corev1.RestartPolicyAlways)}}, dry)
			return err
		}},
		{"StatefulSet", "spec.template.spec", func() error {
			_, err := f.alphaKube.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: appsv1.StatefulSetSpec{Selector: selector, Template: template(corev1.RestartPolicyAlways)}}, dry)
			return err
		}},
		{"DaemonSet", "spec.template.spec", func() error {
			_, err := cluster.Client.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template(corev1.RestartPolicyAlways)}}, dry)
			return err
		}},
		{"Job", "spec.template.spec", func() error {
			_, err := f.alphaKube.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: batchv1.JobSpec{Template: template(corev1.RestartPolicyNever)}}, dry)
			return err
		}},
		{"CronJob", "spec.jobTemplate.spec.template.spec", func() error {
			_, err := f.alphaKube.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template(corev1.RestartPolicyNever)}}}}, dry)
			return err
		}},
		{"ReplicationController", "spec.template.spec", func() error {
			tmpl := template(corev1.RestartPolicyAlways)
			_, err := f.alphaKube.CoreV1().ReplicationControllers(ns).Create(ctx, &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: corev1.ReplicationControllerSpec{Selector: map[string]string{"app": "x"}, Template: &tmpl}}, dry)
			return err
		}},
	} {
		t.Run("a "+tc.kind, func(t *testing.T) { wantDenied(t, tc.create(), fmt.Sprintf(denial, tc.path)) })
	}
	t.Run("a Deployment from kubectl as the tool", func(t *testing.T) {
		manifest := filepath.Join(t.TempDir(), "deployment.yaml")
		if err := os.WriteFile(manifest, []byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: payload}
spec:
  selector: {matchLabels: {app: payload}}
  template:
    metadata: {labels: {app: payload}}
    spec:
      containers:
      - {name: main, image: `+allowedImage+`, volumeMounts: [{name: p, mountPath: /p}]}
      volumes:
      - {name: p, image: {reference: `+evilImage+`}}
`), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := kubectlAs(ctx, f.alpha, "create", "-f", manifest)
		wantDenied(t, err, fmt.Sprintf(denial, "spec.template.spec"))
	})
}
