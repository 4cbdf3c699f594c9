package admission

import "testing"

// The built images' registry is allowed for tools' images only: its
// tool-<tool>/<name> repositories, never its other ones (the platform's
// own image, the pause image) nor a look-alike path.
func TestTheBuiltImagesRegistryServesToolsImagesOnly(t *testing.T) {
	const reg = "registry.example.org"
	digest := "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		image string
		ok    bool
	}{
		{reg + "/tool-alpha/tool-alpha:latest", true},
		{reg + "/tool-beta/web" + digest, true}, // another tool's image: public, as Harbor's projects
		{reg + "/tool-alpha/web", true},
		{reg + "/toolforge:1.0", false},
		{reg + "/pause:3.10", false},
		{reg + "/tool-alpha/a/b:1", false},
		{reg + "/tool-alpha", false},
		{"tool-alpha/tool-alpha:latest", false}, // Docker Hub's, as the runtime reads it
		{reg + ".evil.com/tool-alpha/web:1", false},
		{"evil.com/" + reg + "/tool-alpha/web:1", false},
	} {
		pod := basicPod()
		pod.Spec.Containers[0].Image = tc.image
		target := newPodTarget(pod)
		target.settings.BuiltRegistry = reg
		problems := checkRegistry(target)
		if got := len(problems) == 0; got != tc.ok {
			t.Errorf("image %q: allowed = %v, want %v (%v)", tc.image, got, tc.ok, problems)
		}
	}
	// Without a build service, none of them.
	pod := basicPod()
	pod.Spec.Containers[0].Image = reg + "/tool-alpha/tool-alpha:latest"
	if problems := checkRegistry(newPodTarget(pod)); len(problems) != 1 {
		t.Errorf("a platform without builds allowed a built image: %v", problems)
	}
}
