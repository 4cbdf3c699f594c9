package webservice

import (
	"fmt"
	"strings"

	"github.com/toolforge-go/toolforge/internal/images"
)

// Types are the webservice types: the catalogue's images that have a web
// variant, by name.
func Types(c *images.Catalogue) []string {
	var out []string
	for _, img := range c.All() {
		if img.Web != "" {
			out = append(out, img.Name)
		}
	}
	return out
}

// StableTypes are the types that are not deprecated: what to move to.
func StableTypes(c *images.Catalogue) []string {
	var out []string
	for _, img := range c.All() {
		if img.Web != "" && img.State != images.StateDeprecated {
			out = append(out, img.Name)
		}
	}
	return out
}

// LookupType finds the image of a webservice type, by name or alias.
func LookupType(c *images.Catalogue, typ string) (images.Image, error) {
	img, ok := c.Lookup(typ)
	if !ok || img.Web == "" {
		return images.Image{}, fmt.Errorf("unknown webservice type %q; available types: %s", typ, strings.Join(Types(c), ", "))
	}
	return img, nil
}
