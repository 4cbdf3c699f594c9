package admission

import (
	"fmt"
	"slices"
	"strings"

	"github.com/toolforge-go/toolforge/internal/images"
)

// checkRegistry refuses images from registries not on the tool's list. The
// registry is the image reference's host as the container runtime resolves
// it (docker.io when none is named), compared exactly: a look-alike host or
// a path that merely starts with an allowed name is another registry.
func checkRegistry(t *podTarget) []string {
	allowed := t.settings.RegistriesFor(t.tool.Name)
	var out []string
	for _, c := range t.reviewedContainers() {
		if c.image == "" {
			continue
		}
		if host := images.RegistryHost(c.image); !slices.Contains(allowed, host) {
			out = append(out, fmt.Sprintf("%s: image %q of %s is not from an allowed registry (allowed: %s); use an image from the catalogue (toolforge jobs images)",
				c.path.Child("image"), c.image, c, strings.Join(allowed, ", ")))
		}
	}
	return out
}
