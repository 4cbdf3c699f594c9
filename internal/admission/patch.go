package admission

import (
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podPatch is the JSON patch from before to after for the parts of a pod
// the rules mutate: whole fields are replaced ("add" replaces an existing
// member), which is cheaper for both sides than diffing two serialised
// pods and keeps the patch small.
func podPatch(before, after *corev1.Pod) []jsonpatch.JsonPatchOperation {
	var ops []jsonpatch.JsonPatchOperation
	add := func(path string, value any) {
		ops = append(ops, jsonpatch.NewOperation("add", path, value))
	}
	if !equality.Semantic.DeepEqual(before.Spec.SecurityContext, after.Spec.SecurityContext) {
		add("/spec/securityContext", after.Spec.SecurityContext)
	}
	if !equality.Semantic.DeepEqual(before.Spec.Volumes, after.Spec.Volumes) {
		add("/spec/volumes", after.Spec.Volumes)
	}
	old := containers(&before.Spec, field.NewPath("spec"))
	for i, c := range containers(&after.Spec, field.NewPath("spec")) {
		o := old[i] // mutations never add or remove containers
		base := fmt.Sprintf("/spec/%s/%d", c.field, c.index)
		if !equality.Semantic.DeepEqual(*o.sc, *c.sc) {
			add(base+"/securityContext", *c.sc)
		}
		if !equality.Semantic.DeepEqual(*o.env, *c.env) {
			add(base+"/env", *c.env)
		}
		if !equality.Semantic.DeepEqual(*o.envFrom, *c.envFrom) {
			add(base+"/envFrom", *c.envFrom)
		}
		if !equality.Semantic.DeepEqual(*o.mounts, *c.mounts) {
			add(base+"/volumeMounts", *c.mounts)
		}
	}
	return ops
}
