package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// CRDs are the componentconfigs and componentdeployments
// CustomResourceDefinitions. The file's components are kept as written
// (the API server validated them strictly); the deployment's status is a
// subresource only the executor writes.
func CRDs() []*apiextensionsv1.CustomResourceDefinition {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	boolean := apiextensionsv1.JSONSchemaProps{Type: "boolean"}
	ts := apiextensionsv1.JSONSchemaProps{Type: "string", Format: "date-time"}
	file := apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"config_version": str,
			"source_url":     str,
			"components":     {Type: "object", XPreserveUnknownFields: ptr.To(true)},
		},
	}
	meta := apiextensionsv1.JSONSchemaProps{Type: "object"}
	stepStatus := apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
		"commit": str, "buildID": str, "buildStatus": str, "buildMessage": str, "image": str, "runStatus": str, "runMessage": str,
	}}
	crd := func(plural, singular, kind string, v apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.CustomResourceDefinition {
		return &apiextensionsv1.CustomResourceDefinition{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
			ObjectMeta: metav1.ObjectMeta{Name: plural + "." + Group},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group:    Group,
				Names:    apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Singular: singular, Kind: kind, ListKind: kind + "List"},
				Scope:    apiextensionsv1.NamespaceScoped,
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{v},
			},
		}
	}
	config := crd("componentconfigs", "componentconfig", "ComponentConfig", apiextensionsv1.CustomResourceDefinitionVersion{
		Name: Version, Served: true, Storage: true,
		AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "Version", Type: "string", JSONPath: ".spec.config_version"},
			{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
		},
		Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
			Type: "object", Required: []string{"spec"},
			Properties: map[string]apiextensionsv1.JSONSchemaProps{"apiVersion": str, "kind": str, "metadata": meta, "spec": file},
		}},
	})
	deployment := crd("componentdeployments", "componentdeployment", "ComponentDeployment", apiextensionsv1.CustomResourceDefinitionVersion{
		Name: Version, Served: true, Storage: true,
		Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
		AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "Phase", Type: "string", JSONPath: ".status.phase"},
			{Name: "Message", Type: "string", JSONPath: ".status.message", Priority: 1},
			{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
		},
		Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
			Type: "object", Required: []string{"spec"},
			Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"apiVersion": str, "kind": str, "metadata": meta,
				"spec": {Type: "object", Required: []string{"tool", "config"}, Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"tool": {Type: "string", MaxLength: ptr.To[int64](53)}, "config": file,
					"forceBuild": boolean, "forceRun": boolean, "prune": boolean,
				}},
				"status": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"phase": str, "message": str, "startTime": ts, "completionTime": ts,
					"components": {Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &stepStatus}},
				}},
			},
		}},
	})
	return []*apiextensionsv1.CustomResourceDefinition{config, deployment}
}
