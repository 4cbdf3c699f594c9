package admission

import (
	"fmt"
	"slices"
	"strings"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/jobs"
)

// checkRegistry refuses images from registries not on the tool's list. The
// registry is the image reference's host as the container runtime resolves
// it (docker.io when none is named), compared exactly: a look-alike host or
// a path that merely starts with an allowed name is another registry. The
// built images' registry is allowed for tools' images (tool-<tool>/<name>)
// only.
func checkRegistry(t *podTarget) []string {
	allowed := t.settings.RegistriesFor(t.tool.Name)
	var out []string
	for _, c := range t.reviewedContainers() {
		if c.image == "" {
			continue
		}
		host := images.RegistryHost(c.image)
		if slices.Contains(allowed, host) || builtImage(t.settings.BuiltRegistry, host, c.image) {
			continue
		}
		names := strings.Join(allowed, ", ")
		if t.settings.BuiltRegistry != "" {
			names += ", " + t.settings.BuiltRegistry + "/tool-*/*"
		}
		out = append(out, fmt.Sprintf("%s: image %q of %s is not from an allowed registry (allowed: %s); use an image from the catalogue (toolforge jobs images) or a tool's built image",
			c.path.Child("image"), c.image, c, names))
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
