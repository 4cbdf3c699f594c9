// Package images is the image catalogue: the container images tools may run
// jobs and web services from, by short name, alias or image name. A
// ConfigMap in the platform namespace can replace the built-in catalogue;
// Load is the one way every component (the jobs API, webservice,
// admission) reads it.
package images

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Registry is where the built-in images live; it is allowed by default.
const Registry = "docker-registry.tools.wmflabs.org"

// States of an image.
const (
	StateStable     = "stable"
	StateDeprecated = "deprecated"
)

// Image is one catalogue entry.
type Image struct {
	// Name is the short name users type (python3.11); it is also the
	// webservice type.
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
	// Jobs is the base variant of the image (the original's jobs-framework
	// image before it moved jobs to the web variant), Web the variant with
	// the web server runner. An entry without Web has one image only and is
	// no webservice type.
	Jobs  string `json:"jobs"`
	Web   string `json:"web,omitempty"`
	State string `json:"state,omitempty"`
}

// JobImage is the image a job runs: the web variant when there is one, as
// the original does since it moved its jobs to the web images (T409191) —
// they hold everything the base variant does, so one image serves a tool's
// jobs and its web service alike. Images without a web variant run their
// only image.
func (img Image) JobImage() string {
	if img.Web != "" {
		return img.Web
	}
	return img.Jobs
}

// Names are every name that resolves to the image: its short name, its
// aliases and its image names (see ImageNames), without duplicates.
func (img Image) Names() []string {
	return dedupe(append(append([]string{img.Name}, img.Aliases...), img.ImageNames()...))
}

// ImageNames are the names the original accepts for a prebuilt image
// besides its short name and aliases: the common stem of its variants'
// repositories (toolforge-python39) and each variant's repository
// (toolforge-python39-sssd-base, toolforge-python39-sssd-web). Bookworm's
// variants are spelled toolforge-bookworm-sssd and -web-sssd.
func (img Image) ImageNames() []string {
	var stems, repos []string
	for _, ref := range []string{img.Jobs, img.Web} {
		if ref == "" {
			continue
		}
		_, repo, _ := splitRef(ref)
		stems, repos = append(stems, variantStem(repo)), append(repos, repo)
	}
	return dedupe(append(stems, repos...))
}

// variantSuffixes end the repository names of the variants of an image.
var variantSuffixes = []string{"-sssd-base", "-sssd-web", "-web-sssd", "-sssd"}

func variantStem(repo string) string {
	for _, s := range variantSuffixes {
		if stem, ok := strings.CutSuffix(repo, s); ok && stem != "" {
			return stem
		}
	}
	return repo
}

// Catalogue is a set of images.
type Catalogue struct {
	images []Image
}

// builtinImage is a row of the built-in catalogue.
type builtinImage struct {
	name, variant, state string
	// web says whether the image has a web variant (is a webservice type).
	web bool
	// alias is the original's tf- alias when it is not tf-<variant>.
	alias string
}

// builtin is the original's catalogue (its image-config ConfigMap), older
// images included: tools still run python3.9 and php7.4, and their
// scripts say tf-python39. Deprecated images keep working and warn. The
// stable set is also what SPEC §6 requires (python3.13, golang1.21, node20).
var builtin = []builtinImage{
	{name: "bookworm", variant: "bookworm", state: StateStable, web: true},
	{name: "bullseye", variant: "bullseye", state: StateDeprecated, alias: "tf-bullseye-std"},
	{name: "golang1.11", variant: "golang111", state: StateDeprecated, web: true},
	{name: "golang1.21", variant: "golang121", state: StateStable, web: true},
	{name: "jdk17", variant: "jdk17", state: StateStable, web: true},
	{name: "mariadb", variant: "mariadb", state: StateDeprecated},
	{name: "mono6.8", variant: "mono68", state: StateDeprecated, web: true},
	{name: "node16", variant: "node16", state: StateDeprecated, web: true},
	{name: "node18", variant: "node18", state: StateDeprecated, web: true},
	{name: "node20", variant: "node20", state: StateStable, web: true},
	{name: "perl5.32", variant: "perl532", state: StateDeprecated, web: true},
	{name: "perl5.36", variant: "perl536", state: StateStable, web: true},
	{name: "php7.4", variant: "php74", state: StateDeprecated, web: true},
	{name: "php8.2", variant: "php82", state: StateStable, web: true},
	{name: "python3.9", variant: "python39", state: StateDeprecated, web: true},
	{name: "python3.11", variant: "python311", state: StateStable, web: true},
	{name: "python3.13", variant: "python313", state: StateStable, web: true},
	{name: "ruby2.1", variant: "ruby21", state: StateDeprecated, web: true},
	{name: "ruby2.7", variant: "ruby27", state: StateDeprecated, web: true},
	{name: "ruby3.1", variant: "ruby31", state: StateStable, web: true},
	{name: "tcl8.6", variant: "tcl86", state: StateDeprecated, web: true},
}

// refs are an image's references as the original's registry names them:
// toolforge-<variant>-sssd-base and -sssd-web; the Debian release images
// (bookworm, bullseye) are toolforge-<release>-sssd, and bookworm's web
// variant toolforge-bookworm-web-sssd.
func (b builtinImage) refs() (jobs, web string) {
	ref := func(repo string) string { return Registry + "/" + repo + ":latest" }
	switch b.variant {
	case "bookworm", "bullseye":
		jobs = ref("toolforge-" + b.variant + "-sssd")
		if b.web {
			web = ref("toolforge-" + b.variant + "-web-sssd")
		}
	default:
		jobs = ref("toolforge-" + b.variant + "-sssd-base")
		if b.web {
			web = ref("toolforge-" + b.variant + "-sssd-web")
		}
	}
	return jobs, web
}

// Builtin is the catalogue used when no ConfigMap overrides it.
func Builtin() *Catalogue {
	out := make([]Image, 0, len(builtin))
	for _, b := range builtin {
		alias := b.alias
		if alias == "" {
			alias = "tf-" + b.variant
		}
		jobs, web := b.refs()
		out = append(out, Image{Name: b.name, Aliases: []string{alias}, Jobs: jobs, Web: web, State: b.state})
	}
	return &Catalogue{images: out}
}

// ConfigMapKey is the key of the catalogue in the ConfigMap.
const ConfigMapKey = "images.yaml"

// Parse reads a catalogue from YAML: a list of images. Every name that
// resolves to an image (short name, alias, image name) must resolve to
// one image only.
func Parse(data []byte) (*Catalogue, error) {
	var list []Image
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		return nil, fmt.Errorf("parse image catalogue: %w", err)
	}
	seen := map[string]string{}
	for i, img := range list {
		if img.Name == "" || img.Jobs == "" {
			return nil, fmt.Errorf("image catalogue entry %d: name and jobs are required", i)
		}
		switch img.State {
		case "":
			list[i].State = StateStable
		case StateStable, StateDeprecated:
		default:
			return nil, fmt.Errorf("image catalogue entry %s: state %q: want %s or %s", img.Name, img.State, StateStable, StateDeprecated)
		}
		for _, n := range img.Names() {
			if other, dup := seen[n]; dup && other != img.Name {
				return nil, fmt.Errorf("image catalogue: %q names both %s and %s", n, other, img.Name)
			}
			seen[n] = img.Name
		}
	}
	return &Catalogue{images: list}, nil
}

// ConfigMaps reads ConfigMaps of the platform namespace: a clientset's
// CoreV1().ConfigMaps(namespace), or InNamespace for a controller-runtime
// reader (an informer cache).
type ConfigMaps interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error)
}

// Load reads the catalogue ConfigMap, or returns the built-in catalogue
// when there is none. Any other failure is an error, a refusal (403)
// included: falling back then would quietly run other images than the
// admins configured (webservice did, for every tool, until tools were
// allowed to read the ConfigMap).
func Load(ctx context.Context, cms ConfigMaps) (*Catalogue, error) {
	cm, err := cms.Get(ctx, tenancy.ImagesConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Builtin(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the image catalogue (ConfigMap %s): %w", tenancy.ImagesConfigMap, err)
	}
	cat, err := Parse([]byte(cm.Data[ConfigMapKey]))
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s key %s: %w", cm.Namespace, cm.Name, ConfigMapKey, err)
	}
	return cat, nil
}

// InNamespace reads ConfigMaps of namespace ns through a controller-runtime
// reader.
func InNamespace(r client.Reader, ns string) ConfigMaps { return readerConfigMaps{r: r, ns: ns} }

type readerConfigMaps struct {
	r  client.Reader
	ns string
}

func (c readerConfigMaps) Get(ctx context.Context, name string, _ metav1.GetOptions) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	if err := c.r.Get(ctx, client.ObjectKey{Namespace: c.ns, Name: name}, &cm); err != nil {
		return nil, err
	}
	return &cm, nil
}

// All lists the images, sorted by name.
func (c *Catalogue) All() []Image {
	out := append([]Image(nil), c.images...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds an image as the original resolves a name: its short name
// (python3.9), an alias (tf-python39), an image name of either variant,
// with or without the tag (toolforge-python39, toolforge-python39-sssd-base,
// toolforge-python39-sssd-web:latest), or a full reference of either
// variant (docker-registry.tools.wmflabs.org/toolforge-python39-sssd-base:latest).
// Whatever variant is named, a job runs JobImage and a web service Web.
func (c *Catalogue) Lookup(s string) (Image, bool) {
	for _, img := range c.images {
		if img.Name == s {
			return img, true
		}
	}
	for _, img := range c.images {
		for _, a := range img.Aliases {
			if a == s {
				return img, true
			}
		}
	}
	host, repo, tag := splitRef(s)
	for _, img := range c.images {
		if img.matchesRef(host, repo, tag) {
			return img, true
		}
	}
	return Image{}, false
}

// matchesRef says whether an image name (with optional registry host and
// tag) names one of the image's variants, or their stem: the host and tag,
// when given, must be the variant's.
func (img Image) matchesRef(host, repo, tag string) bool {
	for _, ref := range []string{img.Jobs, img.Web} {
		if ref == "" {
			continue
		}
		h, r, t := splitRef(ref)
		if host != "" && host != h {
			continue
		}
		if tag != "" && tag != t {
			continue
		}
		if repo == r || repo == variantStem(r) {
			return true
		}
	}
	return false
}

// splitRef splits an image reference into registry host (empty when it
// names none), repository and tag (empty when it names none).
func splitRef(ref string) (host, repo, tag string) {
	repo = ref
	if first, rest, found := strings.Cut(ref, "/"); found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		host, repo = first, rest
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return host, repo, tag
}

// Names lists the short names, for error messages and completion.
func (c *Catalogue) Names() []string {
	var out []string
	for _, img := range c.All() {
		out = append(out, img.Name)
	}
	return out
}

// UnknownError says an image is not in the catalogue and lists what is.
func (c *Catalogue) UnknownError(s string) error {
	return fmt.Errorf("image %q is not in the image catalogue; available: %s (see `toolforge jobs images`)", s, strings.Join(c.Names(), ", "))
}

// Registries are the hosts the catalogue's images come from.
func (c *Catalogue) Registries() []string {
	set := map[string]bool{}
	for _, img := range c.images {
		for _, ref := range []string{img.Jobs, img.Web} {
			if host := RegistryHost(ref); host != "" {
				set[host] = true
			}
		}
	}
	var out []string
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// RegistryHost is the registry host of an image reference, as the container
// runtime resolves it: the first path component when it looks like a host
// (has a dot or a port, or is localhost), else Docker Hub.
func RegistryHost(ref string) string {
	if ref == "" {
		return ""
	}
	first, _, found := strings.Cut(ref, "/")
	if !found || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return "docker.io"
	}
	return first
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
