package admission

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// The patch sent to the API server turns the pod it sent into exactly the
// pod the rules made: what the API server stores is what was reviewed.
func TestThePatchMakesTheReviewedPod(t *testing.T) {
	withEverything := basicPod()
	withEverything.Spec.InitContainers = []corev1.Container{{Name: "init", Image: testImage, Env: []corev1.EnvVar{{Name: "X", Value: "1"}}}}
	withEverything.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](testUID)}
	withEverything.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	withEverything.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}}
	withEverything.Spec.Containers = append(withEverything.Spec.Containers, corev1.Container{Name: "sidecar", Image: testImage})

	for name, pod := range map[string]*corev1.Pod{
		"a bare pod":                     basicPod(),
		"a pod that sets some of it":     withEverything,
		"a pod already mutated (no ops)": mutated(t, basicPod()),
	} {
		t.Run(name, func(t *testing.T) {
			original, err := json.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			after := pod.DeepCopy()
			if err := review(newPodTarget(after), true); err != nil {
				t.Fatal(err)
			}
			ops, err := json.Marshal(podPatch(pod, after))
			if err != nil {
				t.Fatal(err)
			}
			patch, err := jsonpatch.DecodePatch(ops)
			if err != nil {
				t.Fatal(err)
			}
			patched, err := patch.Apply(original)
			if err != nil {
				t.Fatalf("apply %s: %v", ops, err)
			}
			var got corev1.Pod
			if err := json.Unmarshal(patched, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&got, after) {
				t.Errorf("patched pod differs from the reviewed pod\npatch: %s\ngot:  %+v\nwant: %+v", ops, got.Spec, after.Spec)
			}
		})
	}
}

func mutated(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	if err := review(newPodTarget(pod), true); err != nil {
		t.Fatal(err)
	}
	return pod
}
