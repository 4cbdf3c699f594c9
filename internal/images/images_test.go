package images

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var update = flag.Bool("update", false, "rewrite testdata/builtin.golden")

// The built-in catalogue is a contract with the devcluster images (they are
// built for these names) and with users' scripts: the golden file is the
// table to review when it changes.
func TestTheBuiltinCatalogueIsTheOriginals(t *testing.T) {
	var b bytes.Buffer
	fmt.Fprintln(&b, "name\tstate\taliases\tjob image\tweb image")
	for _, img := range Builtin().All() {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\n", img.Name, img.State, strings.Join(img.Names()[1:], ","), img.JobImage(), img.Web)
	}
	path := filepath.Join("testdata", "builtin.golden")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("the built-in catalogue differs from %s (go test -update rewrites it):\n%s", path, b.String())
	}
}

// Names the original resolves, as its users' scripts spell them, and the
// image each one names. Spelled out rather than derived, so that a change of
// the naming rules shows here.
func TestEveryNameTheOriginalAcceptsResolves(t *testing.T) {
	const reg = "docker-registry.tools.wmflabs.org/"
	cases := map[string]string{
		"python3.9":                                 "python3.9",
		"tf-python39":                               "python3.9",
		"toolforge-python39":                        "python3.9",
		"toolforge-python39-sssd-base":              "python3.9",
		"toolforge-python39-sssd-web":               "python3.9",
		"toolforge-python39-sssd-base:latest":       "python3.9",
		"toolforge-python39-sssd-web:latest":        "python3.9",
		reg + "toolforge-python39-sssd-base:latest": "python3.9",
		reg + "toolforge-python39-sssd-web:latest":  "python3.9",
		reg + "toolforge-python39":                  "python3.9",
		"python3.11":                                "python3.11",
		"tf-python311":                              "python3.11",
		"python3.13":                                "python3.13",
		"php7.4":                                    "php7.4",
		"tf-php74":                                  "php7.4",
		"php8.2":                                    "php8.2",
		"tf-php82":                                  "php8.2",
		"node16":                                    "node16",
		"tf-node16":                                 "node16",
		"node18":                                    "node18",
		"node20":                                    "node20",
		"golang1.11":                                "golang1.11",
		"tf-golang111":                              "golang1.11",
		"golang1.21":                                "golang1.21",
		"jdk17":                                     "jdk17",
		"tf-jdk17":                                  "jdk17",
		"perl5.32":                                  "perl5.32",
		"tf-perl532":                                "perl5.32",
		"perl5.36":                                  "perl5.36",
		"ruby2.1":                                   "ruby2.1",
		"ruby2.7":                                   "ruby2.7",
		"tf-ruby27":                                 "ruby2.7",
		"ruby3.1":                                   "ruby3.1",
		"tcl8.6":                                    "tcl8.6",
		"tf-tcl86":                                  "tcl8.6",
		"mono6.8":                                   "mono6.8",
		"tf-mono68":                                 "mono6.8",
		"mariadb":                                   "mariadb",
		"tf-mariadb":                                "mariadb",
		"toolforge-mariadb-sssd-base":               "mariadb",
		"bullseye":                                  "bullseye",
		"tf-bullseye-std":                           "bullseye",
		"toolforge-bullseye-sssd":                   "bullseye",
		"bookworm":                                  "bookworm",
		"tf-bookworm":                               "bookworm",
		"toolforge-bookworm":                        "bookworm",
		"toolforge-bookworm-sssd":                   "bookworm",
		"toolforge-bookworm-web-sssd":               "bookworm",
		reg + "toolforge-bookworm-sssd:latest":      "bookworm",
	}
	c := Builtin()
	for name, want := range cases {
		img, ok := c.Lookup(name)
		if !ok || img.Name != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", name, img.Name, ok, want)
		}
	}
	for _, name := range []string{
		"python3.10", "tf-python310", "toolforge-python39-sssd-base:v2", // another tag is another image
		"evil.example/toolforge-python39-sssd-base:latest", // and another registry
		"toolforge", "sssd-base", "",
	} {
		if img, ok := c.Lookup(name); ok {
			t.Errorf("Lookup(%q) = %s; want no image", name, img.Name)
		}
	}
}

// The original runs jobs from the web variant, whichever variant is named;
// images with one image only run that.
func TestJobsRunTheWebVariant(t *testing.T) {
	const reg = "docker-registry.tools.wmflabs.org/"
	c := Builtin()
	cases := map[string]string{
		"python3.9": reg + "toolforge-python39-sssd-web:latest",
		reg + "toolforge-python39-sssd-base:latest": reg + "toolforge-python39-sssd-web:latest",
		"tf-php74": reg + "toolforge-php74-sssd-web:latest",
		"bookworm": reg + "toolforge-bookworm-web-sssd:latest",
		"bullseye": reg + "toolforge-bullseye-sssd:latest",
		"mariadb":  reg + "toolforge-mariadb-sssd-base:latest",
	}
	for name, want := range cases {
		img, _ := c.Lookup(name)
		if got := img.JobImage(); got != want {
			t.Errorf("%s: a job runs %q, want %q", name, got, want)
		}
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
	_, err = Parse([]byte(`
- {name: a, jobs: r.example/x-sssd-base}
- {name: b, jobs: r.example/x-sssd-web}
`))
	if err == nil || !strings.Contains(err.Error(), `"x" names both a and b`) {
		t.Fatalf("two images with one stem: err = %v", err)
	}
}

// getter is a ConfigMaps answering with cm or err.
type getter struct {
	cm  *corev1.ConfigMap
	err error
}

func (g getter) Get(context.Context, string, metav1.GetOptions) (*corev1.ConfigMap, error) {
	return g.cm, g.err
}

func TestLoadFallsBackOnlyWhenThereIsNoCatalogue(t *testing.T) {
	ctx := context.Background()
	gr := schema.GroupResource{Resource: "configmaps"}
	cat, err := Load(ctx, getter{err: apierrors.NewNotFound(gr, "toolforge-images")})
	if err != nil || len(cat.All()) != len(builtin) {
		t.Fatalf("no ConfigMap: %v, %d images", err, len(cat.All()))
	}
	// A refusal is no reason to run other images than the admins chose.
	if _, err := Load(ctx, getter{err: apierrors.NewForbidden(gr, "toolforge-images", fmt.Errorf("no"))}); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("forbidden: err = %v", err)
	}
	cat, err = Load(ctx, getter{cm: &corev1.ConfigMap{Data: map[string]string{ConfigMapKey: "- {name: cobol, jobs: r.example/cobol-sssd-base, web: r.example/cobol-sssd-web}\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	if img, ok := cat.Lookup("cobol"); !ok || img.JobImage() != "r.example/cobol-sssd-web" {
		t.Fatalf("admin's catalogue: %+v %v", img, ok)
	}
	if _, ok := cat.Lookup("python3.11"); ok {
		t.Fatal("the admin's catalogue replaces the built-in one")
	}
	if _, err := Load(ctx, getter{cm: &corev1.ConfigMap{Data: map[string]string{ConfigMapKey: "- {name: x, jobs: r/x, state: retired}"}}}); err == nil || !strings.Contains(err.Error(), "state") {
		t.Fatalf("bad state: %v", err)
	}
}
