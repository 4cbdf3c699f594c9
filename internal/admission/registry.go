package admission

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/jobs"
)

// imageRef is one image a pod spec names, and where.
type imageRef struct {
	path  *field.Path
	image string
	// of says whose image it is: container "main", volume "data".
	of string
}

// imageRefs are every image reference under review: those of the
// containers, init containers and ephemeral containers under review and,
// at pod level, of image volumes (volumes[].image.reference, an OCI image
// mounted as a volume, Kubernetes' ImageVolume). A test enumerates the
// PodSpec's fields that take an image from the API types: a field a later
// Kubernetes adds fails it until it is listed here (and in the fast path's
// condition).
func (t *podTarget) imageRefs() []imageRef {
	var out []imageRef
	for _, c := range t.reviewedContainers() {
		out = append(out, imageRef{path: c.path.Child("image"), image: c.image, of: c.String()})
	}
	if t.podLevel {
		for i, v := range t.spec.Volumes {
			if v.Image != nil {
				out = append(out, imageRef{path: t.path.Child("volumes").Index(i).Child("image", "reference"), image: v.Image.Reference, of: fmt.Sprintf("volume %q", v.Name)})
			}
		}
	}
	return out
}

// checkRegistry refuses images from registries not on the tool's list. The
// registry is the image reference's host as the container runtime resolves
// it (docker.io when none is named), compared exactly: a look-alike host or
// a path that merely starts with an allowed name is another registry. The
// built images' registry is allowed for tools' images (tool-<tool>/<name>)
// only.
func checkRegistry(t *podTarget) []string {
	allowed := t.settings.RegistriesFor(t.tool.Name)
	var out []string
	for _, r := range t.imageRefs() {
		if r.image == "" {
			continue // the API server refuses a container or image volume without one
		}
		host := images.RegistryHost(r.image)
		if slices.Contains(allowed, host) || builtImage(t.settings.BuiltRegistry, host, r.image) {
			continue
		}
		names := strings.Join(allowed, ", ")
		if t.settings.BuiltRegistry != "" {
			names += ", " + t.settings.BuiltRegistry + "/tool-*/*"
		}
		out = append(out, fmt.Sprintf("%s: image %q of %s is not from an allowed registry (allowed: %s); use an image from the catalogue (toolforge jobs images) or a tool's built image",
			r.path, r.image, r.of, names))
	}
	return out
}

// builtImage says image is a tool's built image (tool-<tool>/<name>) on
// the built images' registry.
func builtImage(registry, host, image string) bool {
	if registry == "" || host != registry {
		return false
	}
	_, ok := jobs.ParseBuiltImage(image)
	return ok
}
