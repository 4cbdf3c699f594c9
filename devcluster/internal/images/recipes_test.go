package images

import (
	"slices"
	"strings"
	"testing"
)

func TestTheCatalogueHasTheOriginalsImages(t *testing.T) {
	want := []string{"bookworm", "python3.9", "python3.11", "python3.13", "php7.4", "php8.2", "php8.4",
		"node18", "node20", "golang1.21", "jdk17", "ruby2.7", "ruby3.1", "perl5.32", "perl5.36", "tcl8.6", "mariadb"}
	var names []string
	for _, r := range Recipes() {
		names = append(names, r.Name)
	}
	for _, n := range want {
		if !slices.Contains(names, n) {
			t.Errorf("the catalogue lacks %s", n)
		}
	}
}

func TestEveryRecipeIsComplete(t *testing.T) {
	// Images with no web variant; bookworm's web image is the runner alone.
	plain := map[string]bool{"bullseye": true, "trixie": true, "mariadb": true, BuildImageName: true}
	// The original's names for the plain suite images, and the build
	// service's image.
	named := map[string][]string{"bullseye": {"toolforge-bullseye-sssd"}, "bookworm": {"toolforge-bookworm-sssd", "toolforge-bookworm-web-sssd"}, BuildImageName: {"toolforge-bookworm-build"}}
	seen := map[string]string{}
	for _, r := range Recipes() {
		if _, ok := suites[r.Suite]; !ok && r.Unavailable == "" {
			t.Errorf("%s: unknown suite %q", r.Name, r.Suite)
		}
		if r.State != StateStable && r.State != StateDeprecated && (r.State != StateBuild || r.Name != BuildImageName) {
			t.Errorf("%s: state %q", r.Name, r.State)
		}
		if r.Web == plain[r.Name] {
			t.Errorf("%s: web image %v, want %v", r.Name, r.Web, !plain[r.Name])
		}
		if want, ok := named[r.Name]; ok {
			if !slices.Equal(r.Repos(), want) {
				t.Errorf("%s: repositories %v, want the original's %v", r.Name, r.Repos(), want)
			}
		} else if !strings.HasSuffix(r.BaseRepo(), "-sssd-base") || (r.Web && !strings.HasSuffix(r.WebRepo(), "-sssd-web")) {
			t.Errorf("%s: repositories %v", r.Name, r.Repos())
		}
		for _, repo := range append(r.Repos(), r.Name) {
			if other, dup := seen[repo]; dup {
				t.Errorf("%q names both %s and %s", repo, other, r.Name)
			}
			seen[repo] = r.Name
		}
		for _, repo := range r.Repos() {
			got, ok := Lookup(repo)
			if !ok || got.Name != r.Name {
				t.Errorf("Lookup(%s) = %s, %v", repo, got.Name, ok)
			}
			if Buildable(repo, Tag) != (r.Unavailable == "") || Buildable(repo, "other") {
				t.Errorf("Buildable(%s) is wrong", repo)
			}
		}
	}
	if !Buildable(PauseRepo, PauseTag) || PauseImage != "registry.devcluster.localhost/pause:3.10" {
		t.Errorf("the pause image is %s", PauseImage)
	}
}

func TestNamesResolveToRepositories(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"python3.11", []string{"toolforge-python311-sssd-base", "toolforge-python311-sssd-web"}},
		{"bookworm", []string{"toolforge-bookworm-sssd", "toolforge-bookworm-web-sssd"}},
		{"toolforge-php82-sssd-web", []string{"toolforge-php82-sssd-web"}},
		{"pause", []string{"pause"}},
	}
	for _, tt := range tests {
		got, err := Resolve(tt.name)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Resolve(%s) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := Resolve("cobol"); err == nil || !strings.Contains(err.Error(), "python3.11") {
		t.Errorf("Resolve(cobol) = %v, want an error listing the names", err)
	}
}

func TestImagesOfASuiteShareItsBaseLayer(t *testing.T) {
	b := NewBuilder(t.TempDir())
	key := func(repo string, i int) string {
		p, err := b.plan(repo)
		if err != nil {
			t.Fatal(err)
		}
		return p.layers[i].key
	}
	if key("toolforge-python311-sssd-base", 0) != key("toolforge-php82-sssd-web", 0) {
		t.Error("python3.11 and php8.2 have different base layers")
	}
	if key("toolforge-python311-sssd-base", 0) == key("toolforge-python313-sssd-base", 0) {
		t.Error("bookworm and trixie share a base layer")
	}
	if key("toolforge-python311-sssd-base", 1) != key("toolforge-python311-sssd-web", 1) {
		t.Error("the python3.11 images have different language layers")
	}
	if key("toolforge-jdk17-sssd-web", 2) != key("toolforge-php82-sssd-web", 3) {
		t.Error("the web images have different runner layers")
	}
}
