// Package images builds the platform's image catalogue from Debian packages,
// without Docker: mmdebstrap makes one base layer per Debian suite, apt-get
// in a chroot over overlayfs makes a language layer per variant and a web
// layer per web variant, and go-containerregistry assembles them into OCI
// images. Layers are cached on disk and shared by every image and every
// cluster on the machine.
package images

import (
	"fmt"
	"slices"
	"strings"
)

// Registry is the host the catalogue's images are named under; containerd
// mirrors it to the local registry.
const Registry = "docker-registry.tools.wmflabs.org"

// Tag is the tag of every catalogue image.
const Tag = "latest"

// The sandbox ("pause") image: no image can be pulled from the internet, so
// it is built like the others, from Debian's statically linked catatonit.
const (
	PauseRepo  = "pause"
	PauseTag   = "3.10"
	PauseImage = "registry.devcluster.localhost/" + PauseRepo + ":" + PauseTag
)

// States of a recipe, as in the catalogue.
const (
	StateStable     = "stable"
	StateDeprecated = "deprecated"
	// StateBuild marks the build service's image, which no tool runs.
	StateBuild = "build"
)

// BuildImageName is the build service's build image's short name.
const BuildImageName = "build"

// Recipe is one catalogue entry: a base image for jobs and, when Web is set,
// a web image for web services.
type Recipe struct {
	// Name is the catalogue's short name (python3.11); it is also the
	// webservice type the web image's runner is started with.
	Name string `json:"name"`
	// Variant names the repositories: toolforge-<variant>-sssd-base|web.
	Variant string `json:"variant"`
	Suite   string `json:"suite"`
	State   string `json:"state"`
	// Packages make the language layer on top of the suite's base layer.
	Packages []string `json:"packages"`
	// Web says whether there is a web image; WebPackages (maybe none) make
	// its web layer, below the webservice-runner layer.
	Web         bool     `json:"web"`
	WebPackages []string `json:"webPackages,omitempty"`
	// Env is added to the image's environment (PATH is replaced if given).
	Env []string `json:"env,omitempty"`
	// BaseName and WebName replace the repositories' usual names, for the
	// plain suite images the original names toolforge-<suite>-sssd and
	// toolforge-<suite>-web-sssd.
	BaseName string `json:"baseName,omitempty"`
	WebName  string `json:"webName,omitempty"`
	// MainArchive are packages (apt globs) taken from the suite's main
	// archive, never its security archive: bullseye-security lists
	// php7.4-cgi but its mirrors answer 404 for the file, and one source's
	// packages must all be of one version. The image is then at the
	// suite's last point release for them (php7.4 is deprecated anyway).
	MainArchive []string `json:"mainArchive,omitempty"`
	// Unavailable says why an image of the original's catalogue cannot be
	// built from the Debian archive this machine reaches (its release is
	// archived); the registry answers "not found" for it.
	Unavailable string `json:"unavailable,omitempty"`
}

// BaseRepo is the repository of the jobs image.
func (r Recipe) BaseRepo() string {
	if r.BaseName != "" {
		return r.BaseName
	}
	return "toolforge-" + r.Variant + "-sssd-base"
}

// WebRepo is the repository of the web image, "" when there is none.
func (r Recipe) WebRepo() string {
	switch {
	case !r.Web:
		return ""
	case r.WebName != "":
		return r.WebName
	}
	return "toolforge-" + r.Variant + "-sssd-web"
}

// Repos lists the recipe's repositories.
func (r Recipe) Repos() []string {
	if r.Web {
		return []string{r.BaseRepo(), r.WebRepo()}
	}
	return []string{r.BaseRepo()}
}

// Reference is the full image reference of one of the recipe's repositories.
func Reference(repo string) string {
	if repo == PauseRepo {
		return PauseImage
	}
	return Registry + "/" + repo + ":" + Tag
}

// suite is what a Debian release needs.
type suite struct {
	backports bool // bullseye-backports has moved to the archive mirror
	// mergedUsr: bookworm's init-system-helpers would pull usrmerge, and
	// with it perl (25 MiB), into every image of the suite; mmdebstrap's
	// merged-usr hook merges /usr as debootstrap does and installs
	// usr-is-merged instead.
	mergedUsr bool
}

var suites = map[string]suite{
	"bullseye": {},
	"bookworm": {backports: true, mergedUsr: true},
	"trixie":   {},
}

// commonPackages are in every suite's base layer, besides minbase: what tools
// and health checks commonly need. C.UTF-8 comes with libc itself.
var commonPackages = []string{"ca-certificates", "curl", "netbase", "procps", "tzdata", "wget"}

var (
	pythonPackages = []string{"python3", "python3-pip", "python3-venv"}
	pythonWeb      = []string{"uwsgi-core", "uwsgi-plugin-python3"}
	phpPackages    = []string{"php-cli", "php-curl", "php-intl", "php-mbstring", "php-mysql", "php-xml"}
	phpWeb         = []string{"lighttpd", "php-cgi"}
	nodePackages   = []string{"nodejs", "npm"}
	rubyPackages   = []string{"ruby", "ruby-bundler"}
	perlPackages   = []string{"perl", "libdbd-mysql-perl", "libjson-perl", "libwww-perl"}
	tclPackages    = []string{"tcl", "tcllib"}
)

// recipes is the catalogue of the original Toolforge. Adding an image is
// adding an entry; the suite's base layer is shared.
var recipes = []Recipe{
	{Name: "bullseye", Variant: "bullseye", Suite: "bullseye", State: StateDeprecated, BaseName: "toolforge-bullseye-sssd"},
	{Name: "bookworm", Variant: "bookworm", Suite: "bookworm", State: StateStable, Web: true,
		BaseName: "toolforge-bookworm-sssd", WebName: "toolforge-bookworm-web-sssd"},
	{Name: "trixie", Variant: "trixie", Suite: "trixie", State: StateStable},
	{Name: "python3.9", Variant: "python39", Suite: "bullseye", State: StateDeprecated, Packages: pythonPackages, Web: true, WebPackages: pythonWeb},
	{Name: "python3.11", Variant: "python311", Suite: "bookworm", State: StateStable, Packages: pythonPackages, Web: true, WebPackages: pythonWeb},
	{Name: "python3.13", Variant: "python313", Suite: "trixie", State: StateStable, Packages: pythonPackages, Web: true, WebPackages: pythonWeb},
	{Name: "php7.4", Variant: "php74", Suite: "bullseye", State: StateDeprecated, Packages: phpPackages, Web: true, WebPackages: phpWeb,
		MainArchive: []string{"php7.4*"}},
	{Name: "php8.2", Variant: "php82", Suite: "bookworm", State: StateStable, Packages: phpPackages, Web: true, WebPackages: phpWeb},
	{Name: "php8.4", Variant: "php84", Suite: "trixie", State: StateStable, Packages: phpPackages, Web: true, WebPackages: phpWeb},
	{Name: "node18", Variant: "node18", Suite: "bookworm", State: StateStable, Packages: nodePackages, Web: true},
	{Name: "node20", Variant: "node20", Suite: "trixie", State: StateStable, Packages: nodePackages, Web: true},
	// golang-1.21 is only in bookworm-backports; its go is not on the
	// default PATH.
	{Name: "golang1.21", Variant: "golang121", Suite: "bookworm", State: StateStable, Packages: []string{"golang-1.21-go"}, Web: true,
		Env: []string{"PATH=/usr/lib/go-1.21/bin:" + defaultPath}},
	{Name: "jdk17", Variant: "jdk17", Suite: "bookworm", State: StateStable, Packages: []string{"openjdk-17-jdk-headless"}, Web: true},
	{Name: "ruby2.7", Variant: "ruby27", Suite: "bullseye", State: StateDeprecated, Packages: rubyPackages, Web: true},
	{Name: "ruby3.1", Variant: "ruby31", Suite: "bookworm", State: StateStable, Packages: rubyPackages, Web: true},
	{Name: "perl5.32", Variant: "perl532", Suite: "bullseye", State: StateDeprecated, Packages: perlPackages, Web: true},
	{Name: "perl5.36", Variant: "perl536", Suite: "bookworm", State: StateStable, Packages: perlPackages, Web: true},
	{Name: "tcl8.6", Variant: "tcl86", Suite: "bookworm", State: StateStable, Packages: tclPackages, Web: true},
	{Name: "mariadb", Variant: "mariadb", Suite: "bookworm", State: StateDeprecated, Packages: []string{"mariadb-client"}},
	// The build service's build image (not a catalogue image tools run):
	// git and the toolchains of the languages it builds, on the release
	// of the run bases (python3.11, node18 and bookworm), so that what a
	// build installs runs on them.
	{Name: BuildImageName, Variant: "build", Suite: "bookworm", State: StateBuild, BaseName: "toolforge-bookworm-build",
		Packages: []string{"git", "python3", "python3-pip", "python3-venv", "python3-setuptools", "python3-wheel", "nodejs", "npm", "golang-1.21-go"},
		Env:      []string{"PATH=/usr/lib/go-1.21/bin:" + defaultPath}},
	// The original still lists these; their Debian releases (buster,
	// jessie) are only on archive.debian.org, which is out of reach here.
	{Name: "golang1.11", Variant: "golang111", Suite: "buster", State: StateDeprecated, Web: true, Unavailable: "Debian buster (golang-1.11) is archived"},
	{Name: "mono6.8", Variant: "mono68", Suite: "buster", State: StateDeprecated, Web: true, Unavailable: "Debian buster (mono 6.8) is archived"},
	{Name: "node16", Variant: "node16", Suite: "bullseye", State: StateDeprecated, Web: true, Unavailable: "no Debian release packages Node.js 16"},
	{Name: "ruby2.1", Variant: "ruby21", Suite: "jessie", State: StateDeprecated, Web: true, Unavailable: "Debian jessie (ruby 2.1) is archived"},
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Recipes lists the catalogue, in the table's order.
func Recipes() []Recipe {
	out := make([]Recipe, len(recipes))
	for i, r := range recipes {
		r.Packages = slices.Clone(r.Packages)
		r.WebPackages = slices.Clone(r.WebPackages)
		r.Env = slices.Clone(r.Env)
		r.MainArchive = slices.Clone(r.MainArchive)
		out[i] = r
	}
	return out
}

// Lookup finds the recipe of a repository (toolforge-python311-sssd-base).
func Lookup(repo string) (Recipe, bool) {
	for _, r := range Recipes() {
		if slices.Contains(r.Repos(), repo) {
			return r, true
		}
	}
	return Recipe{}, false
}

// Buildable says whether the builder makes repo:tag, so a registry can build
// it when asked for it.
func Buildable(repo, tag string) bool {
	if repo == PauseRepo {
		return tag == PauseTag
	}
	r, ok := Lookup(repo)
	return ok && tag == Tag && r.Unavailable == ""
}

// Resolve turns what a user types (a short name like python3.11, a
// repository name, or "pause") into repositories to build.
func Resolve(name string) ([]string, error) {
	if name == PauseRepo {
		return []string{PauseRepo}, nil
	}
	for _, r := range Recipes() {
		if r.Name == name {
			return r.Repos(), nil
		}
	}
	if _, ok := Lookup(name); ok {
		return []string{name}, nil
	}
	var names []string
	for _, r := range Recipes() {
		names = append(names, r.Name)
	}
	return nil, fmt.Errorf("unknown image %q; known: %s, %s (or a repository name)", name, strings.Join(names, ", "), PauseRepo)
}

// AllRepos lists every repository the builder makes, the pause image last.
func AllRepos() []string {
	var out []string
	for _, r := range Recipes() {
		if r.Unavailable == "" {
			out = append(out, r.Repos()...)
		}
	}
	return append(out, PauseRepo)
}
