package jobs

import "testing"

func TestAnImageIsBuiltWhenItsRepositoryIsAToolsOwn(t *testing.T) {
	digest := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		image string
		want  bool
		ref   string
	}{
		{"tool-demo/tool-demo:latest", true, "reg.example/tool-demo/tool-demo:latest"},
		{"tool-demo/web", true, "reg.example/tool-demo/web:latest"},
		{"registry.devcluster.localhost/tool-demo/web@" + digest, true, "reg.example/tool-demo/web@" + digest},
		{"127.0.0.1:5000/tool-a-b/web.v2:7", true, "reg.example/tool-a-b/web.v2:7"},
		{"python3.11", false, ""},
		{"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest", false, ""},
		{"tool-demo/a/b", false, ""},
		{"tool-Demo/web", false, ""},
		{"tool-demo/web@sha256:short", false, ""},
		{"tools-demo/web", false, ""},
	} {
		b, ok := ParseBuiltImage(tc.image)
		if ok != tc.want {
			t.Errorf("ParseBuiltImage(%q) = %v, want %v", tc.image, ok, tc.want)
			continue
		}
		if ok && b.Reference("reg.example") != tc.ref {
			t.Errorf("%q: reference %q, want %q", tc.image, b.Reference("reg.example"), tc.ref)
		}
	}
}

func TestABuiltImageDefaultsToNoMount(t *testing.T) {
	for image, want := range map[string]string{"tool-demo/tool-demo:latest": "none", "python3.11": "all"} {
		j := Job{Name: "x", Command: "true", Image: image}
		j.Normalize()
		if j.Mount != want {
			t.Errorf("%s: mount %q, want %q", image, j.Mount, want)
		}
	}
}
