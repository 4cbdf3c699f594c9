package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// CRD is the builds.toolforge.org CustomResourceDefinition: a structural
// schema of the Build (with a status subresource, so that only the
// controller's writes change the status) and the columns `kubectl get
// builds` prints.
func CRD() *apiextensionsv1.CustomResourceDefinition {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	strMap := apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &str}}
	ts := apiextensionsv1.JSONSchemaProps{Type: "string", Format: "date-time"}
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: "builds." + Group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: Group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "builds", Singular: "build", Kind: "Build", ListKind: "BuildList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: Version, Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
					{Name: "Tool", Type: "string", JSONPath: ".spec.tool"},
					{Name: "Phase", Type: "string", JSONPath: ".status.phase"},
					{Name: "Image", Type: "string", JSONPath: ".status.image"},
					{Name: "Source", Type: "string", JSONPath: ".spec.sourceURL", Priority: 1},
					{Name: "Digest", Type: "string", JSONPath: ".status.digest", Priority: 1},
					{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
				},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:     "object",
					Required: []string{"spec"},
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"apiVersion": str,
						"kind":       str,
						"metadata":   {Type: "object"},
						"spec": {
							Type:     "object",
							Required: []string{"tool", "sourceURL", "imageName"},
							Properties: map[string]apiextensionsv1.JSONSchemaProps{
								"tool":              {Type: "string", MaxLength: ptr.To[int64](53)},
								"sourceURL":         str,
								"ref":               str,
								"imageName":         str,
								"envvars":           strMap,
								"useLatestVersions": {Type: "boolean"},
								"cancelled":         {Type: "boolean"},
							},
						},
						"status": {
							Type: "object",
							Properties: map[string]apiextensionsv1.JSONSchemaProps{
								"phase":          str,
								"message":        str,
								"image":          str,
								"digest":         str,
								"startTime":      ts,
								"completionTime": ts,
								"job":            str,
								"size":           {Type: "integer"},
							},
						},
					},
				}},
			}},
		},
	}
}
