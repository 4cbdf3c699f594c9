package webservice

import (
	"context"
	"fmt"

	"github.com/toolforge-go/toolforge/internal/jobs"
)

// BuildserviceType runs the tool's own image, made by the build service:
// its Procfile's web process, through the image's launcher, on PORT 8000.
const BuildserviceType = "buildservice"

// BuildserviceCommand is the web container's command for a built image.
var BuildserviceCommand = []string{"launcher", "web"}

// prepareBuildservice resolves the buildservice type's image (default
// tool-<tool>/tool-<tool>:latest) on the platform's registry; its home is
// not mounted unless --mount all.
func (c *Client) prepareBuildservice(ctx context.Context, s Settings, m *Manifest, shell bool) (*prepared, error) {
	image := s.BuildserviceImage
	if image == "" {
		image = "tool-" + c.Tool + "/tool-" + c.Tool + ":latest"
	}
	b, ok := jobs.ParseBuiltImage(image)
	if !ok {
		return nil, inputError(fmt.Errorf("--buildservice-image %q is not a built image: want tool-<tool>/<name>[:tag] (see toolforge build list)", image))
	}
	registry := c.BuildsRegistry
	if registry == "" {
		pub, err := ReadPublished(ctx, c.Kube, c.PlatformNamespace)
		if err != nil {
			return nil, err
		}
		registry = pub.BuildsRegistry
	}
	if registry == "" {
		return nil, inputError(fmt.Errorf("this platform has no build service, so no buildservice web services"))
	}
	if b.Host != "" && b.Host != registry {
		return nil, inputError(fmt.Errorf("--buildservice-image %s: built images come from the platform's registry %s, not %s", image, registry, b.Host))
	}
	mount := s.Mount
	if mount == "" {
		mount = "none"
	}
	return c.finishPrepare(ctx, s, m, shell, Spec{
		Tool: c.Tool, Namespace: c.Namespace, Domain: c.Domain, Type: BuildserviceType,
		Image: b.Reference(registry), Command: BuildserviceCommand, Mount: mount,
	})
}
