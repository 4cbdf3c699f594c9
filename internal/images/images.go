// Package images is the image catalogue: the container images tools may run
// jobs and web services from, by short name or alias. A ConfigMap in the
// platform namespace can replace the built-in catalogue.
package images

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	// Jobs and Web are the image references for jobs and for web services.
	Jobs  string `json:"jobs"`
	Web   string `json:"web,omitempty"`
	State string `json:"state,omitempty"`
}

// Catalogue is a set of images.
type Catalogue struct {
	images []Image
}

// builtinVariants are the SPEC's images: name, registry variant.
var builtinVariants = [][2]string{
	{"python3.11", "python311"},
	{"php8.2", "php82"},
	{"node20", "node20"},
	{"golang1.21", "golang121"},
	{"jdk17", "jdk17"},
	{"ruby3.1", "ruby31"},
	{"perl5.36", "perl536"},
	{"bookworm", "bookworm"},
}

// Builtin is the catalogue used when no ConfigMap overrides it.
func Builtin() *Catalogue {
	var out []Image
	for _, v := range builtinVariants {
		out = append(out, Image{
			Name:    v[0],
			Aliases: []string{"tf-" + v[1]},
			Jobs:    fmt.Sprintf("%s/toolforge-%s-sssd-base:latest", Registry, v[1]),
			Web:     fmt.Sprintf("%s/toolforge-%s-sssd-web:latest", Registry, v[1]),
			State:   StateStable,
		})
	}
	return &Catalogue{images: out}
}

// ConfigMapKey is the key of the catalogue in the ConfigMap.
const ConfigMapKey = "images.yaml"

// Parse reads a catalogue from YAML: a list of images.
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
		if img.State == "" {
			list[i].State = StateStable
		}
		for _, n := range append([]string{img.Name}, img.Aliases...) {
			if other, dup := seen[n]; dup {
				return nil, fmt.Errorf("image catalogue: %q names both %s and %s", n, other, img.Name)
			}
			seen[n] = img.Name
		}
	}
	return &Catalogue{images: list}, nil
}

// Load reads the catalogue ConfigMap from the platform namespace, or returns
// the built-in catalogue when there is none.
func Load(ctx context.Context, c client.Reader, platformNamespace string) (*Catalogue, error) {
	var cm corev1.ConfigMap
	err := c.Get(ctx, client.ObjectKey{Namespace: platformNamespace, Name: tenancy.ImagesConfigMap}, &cm)
	if apierrors.IsNotFound(err) {
		return Builtin(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image catalogue: %w", err)
	}
	return Parse([]byte(cm.Data[ConfigMapKey]))
}

// All lists the images, sorted by name.
func (c *Catalogue) All() []Image {
	out := append([]Image(nil), c.images...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds an image by name, alias, or full image reference.
func (c *Catalogue) Lookup(s string) (Image, bool) {
	for _, img := range c.images {
		if img.Name == s || img.Jobs == s || (img.Web != "" && img.Web == s) {
			return img, true
		}
		for _, a := range img.Aliases {
			if a == s {
				return img, true
			}
		}
	}
	return Image{}, false
}

// Names lists every name users may type, for error messages and completion.
func (c *Catalogue) Names() []string {
	var out []string
	for _, img := range c.All() {
		out = append(out, img.Name)
	}
	return out
}

// UnknownError says an image is not in the catalogue and lists what is.
func (c *Catalogue) UnknownError(s string) error {
	return fmt.Errorf("image %q is not in the image catalogue; available: %s", s, strings.Join(c.Names(), ", "))
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
