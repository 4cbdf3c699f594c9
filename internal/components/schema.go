package components

import (
	"reflect"
	"strings"
)

// SchemaID names the components file's JSON Schema (editors map
// toolforge.yaml to it).
const SchemaID = "https://toolforge.org/schemas/components-v1beta1.json"

// required are the keys a file must have, by the struct that has them.
var required = map[reflect.Type][]string{
	reflect.TypeOf(Config{}):    {"config_version", "components"},
	reflect.TypeOf(Component{}): {"component_type", "build", "run"},
	reflect.TypeOf(Run{}):       {"command"},
}

// JSONSchema is the file's JSON Schema (draft 2020-12), made from the
// same types Parse decodes into, so the two cannot drift: every object
// refuses unknown keys, as Parse does.
func JSONSchema() map[string]any {
	s := schemaOf(reflect.TypeOf(Config{}))
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = SchemaID
	s["title"] = "Toolforge components file (config_version " + ConfigVersion + ")"
	props := s["properties"].(map[string]any)
	props["config_version"] = map[string]any{"const": ConfigVersion}
	comp := props["components"].(map[string]any)["additionalProperties"].(map[string]any)
	comp["properties"].(map[string]any)["component_type"] = map[string]any{"enum": []string{TypeContinuous, TypeScheduled}}
	return s
}

func schemaOf(t reflect.Type) map[string]any {
	if t == reflect.TypeOf(Publish("")) {
		return map[string]any{"oneOf": []any{map[string]any{"type": "boolean"}, map[string]any{"const": "/"}}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int:
		return map[string]any{"type": "integer"}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			props[name] = schemaOf(t.Field(i).Type)
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if r := required[t]; r != nil {
			s["required"] = r
		}
		return s
	}
	panic("components: no JSON Schema for " + t.String())
}
