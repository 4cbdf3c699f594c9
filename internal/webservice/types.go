package webservice

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// LoadCatalogue reads the platform's image catalogue with the tool's own
// credentials. A platform may not let tools read its namespace; then, as
// when it has no catalogue ConfigMap, the built-in catalogue applies.
func LoadCatalogue(ctx context.Context, kube kubernetes.Interface, platformNamespace string) (*images.Catalogue, error) {
	cm, err := kube.CoreV1().ConfigMaps(platformNamespace).Get(ctx, tenancy.ImagesConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return images.Builtin(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image catalogue %s/%s: %w", platformNamespace, tenancy.ImagesConfigMap, err)
	}
	return images.Parse([]byte(cm.Data[images.ConfigMapKey]))
}

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

// LookupType finds the image of a webservice type, by name or alias.
func LookupType(c *images.Catalogue, typ string) (images.Image, error) {
	img, ok := c.Lookup(typ)
	if !ok || img.Web == "" {
		return images.Image{}, fmt.Errorf("unknown webservice type %q; available types: %s", typ, strings.Join(Types(c), ", "))
	}
	return img, nil
}
