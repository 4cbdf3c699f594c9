package admission

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var templatePath = field.NewPath("spec", "template")

// podTemplate is obj's pod template and its path, or false when obj has
// none.
func podTemplate(obj runtime.Object) (*corev1.PodTemplateSpec, *field.Path, bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template, templatePath, true
	case *appsv1.ReplicaSet:
		return &o.Spec.Template, templatePath, true
	case *appsv1.StatefulSet:
		return &o.Spec.Template, templatePath, true
	case *appsv1.DaemonSet:
		return &o.Spec.Template, templatePath, true
	case *batchv1.Job:
		return &o.Spec.Template, templatePath, true
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template, field.NewPath("spec", "jobTemplate", "spec", "template"), true
	case *corev1.ReplicationController:
		if o.Spec.Template == nil {
			return nil, nil, false
		}
		return o.Spec.Template, templatePath, true
	}
	return nil, nil, false
}
