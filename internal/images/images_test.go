package images

import (
	"strings"
	"testing"
)

func TestBuiltinCatalogueHasTheSpecsImages(t *testing.T) {
	c := Builtin()
	for _, name := range []string{"python3.11", "php8.2", "node20", "golang1.21", "jdk17", "bookworm"} {
		img, ok := c.Lookup(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		if !strings.HasPrefix(img.Jobs, Registry+"/toolforge-") || !strings.HasSuffix(img.Jobs, "-sssd-base:latest") {
			t.Errorf("%s jobs image %q", name, img.Jobs)
		}
		if !strings.HasSuffix(img.Web, "-sssd-web:latest") {
			t.Errorf("%s web image %q", name, img.Web)
		}
	}
	if img, ok := c.Lookup("tf-python311"); !ok || img.Name != "python3.11" {
		t.Errorf("alias lookup: %v %v", img, ok)
	}
	if img, ok := c.Lookup(Registry + "/toolforge-php82-sssd-base:latest"); !ok || img.Name != "php8.2" {
		t.Errorf("reference lookup: %v %v", img, ok)
	}
	if got := c.Registries(); len(got) != 1 || got[0] != Registry {
		t.Errorf("Registries() = %v", got)
	}
}

func TestRegistryHost(t *testing.T) {
	cases := map[string]string{
		"nginx":                                 "docker.io",
		"library/nginx":                         "docker.io",
		"docker.io/nginx":                       "docker.io",
		"docker-registry.tools.wmflabs.org/x:1": "docker-registry.tools.wmflabs.org",
		"docker-registry.tools.wmflabs.org.evil.com/x": "docker-registry.tools.wmflabs.org.evil.com",
		"localhost:5000/x": "localhost:5000",
		"localhost/x":      "localhost",
		"registry:5000/x":  "registry:5000",
	}
	for ref, want := range cases {
		if got := RegistryHost(ref); got != want {
			t.Errorf("RegistryHost(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestParseRejectsAmbiguousNames(t *testing.T) {
	_, err := Parse([]byte(`
- {name: a, jobs: r.example/a}
- {name: b, aliases: [a], jobs: r.example/b}
`))
	if err == nil || !strings.Contains(err.Error(), `"a" names both a and b`) {
		t.Fatalf("err = %v", err)
	}
}
