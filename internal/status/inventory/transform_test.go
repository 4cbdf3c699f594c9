package inventory

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/webservice"
)

const planted = "s3cret-planted-value"

func leakyMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: "x", Namespace: "tool-demo",
		Labels:        map[string]string{"app.kubernetes.io/name": "x", "note": planted},
		Annotations:   map[string]string{"jobs.toolforge.org/definition": planted, webservice.TypeAnnotation: "python3.11"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: planted}},
	}
}

func leakyContainer() corev1.Container {
	return corev1.Container{
		Name: "main", Image: "img", Command: []string{"/bin/sh", "-c", "--", "run"},
		Env:     []corev1.EnvVar{{Name: "TOKEN", Value: planted}},
		EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: planted}}}},
		Args:    nil,
	}
}

func TestTransformsKeepNothingThePagesNeverShow(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: leakyMeta(),
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{leakyContainer()},
			Volumes:    []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: planted}}}},
		},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name:                 "main",
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: planted}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", Message: planted, ExitCode: 1}},
		}}},
	}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: leakyMeta(), Spec: corev1.PodSpec{Containers: []corev1.Container{leakyContainer()}}}
	cases := []struct {
		name string
		obj  any
	}{
		{"a pod loses env values, envFrom, volumes, annotations, managed fields and messages", pod},
		{"a deployment's template loses env and annotations", &appsv1.Deployment{ObjectMeta: leakyMeta(), Spec: appsv1.DeploymentSpec{Template: tmpl}}},
		{"a job's template loses env and annotations", &batchv1.Job{ObjectMeta: leakyMeta(), Spec: batchv1.JobSpec{Template: tmpl}}},
		{"a cron job's template loses env and annotations", &batchv1.CronJob{ObjectMeta: leakyMeta(), Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}},
		{"a namespace loses annotations and labels other than the tenancy's", &corev1.Namespace{ObjectMeta: leakyMeta()}},
		{"a quota loses annotations", &corev1.ResourceQuota{ObjectMeta: leakyMeta()}},
		{"a config map keeps only the catalogue", &corev1.ConfigMap{ObjectMeta: leakyMeta(), Data: map[string]string{"other": planted}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransformer()
			got, err := tr.transform(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := json.Marshal(got)
			if strings.Contains(string(data), planted) {
				t.Fatalf("transformed object still holds the planted value:\n%s", data)
			}
			again, _ := tr.transform(got)
			if !reflect.DeepEqual(again, got) {
				t.Errorf("transform is not idempotent:\n%+v\n%+v", got, again)
			}
		})
	}
}

func TestTransformsKeepWhatThePagesShow(t *testing.T) {
	tr := newTransformer()
	d, _ := tr.transform(&appsv1.Deployment{ObjectMeta: leakyMeta(), Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{leakyContainer()}}}}})
	dep := d.(*appsv1.Deployment)
	if dep.Annotations[webservice.TypeAnnotation] != "python3.11" || dep.Labels["app.kubernetes.io/name"] != "x" {
		t.Errorf("deployment meta = %+v", dep.ObjectMeta)
	}
	if c := dep.Spec.Template.Spec.Containers[0]; c.Image != "img" || len(c.Command) != 4 {
		t.Errorf("template container = %+v", c)
	}
	p, _ := tr.transform(&corev1.Pod{ObjectMeta: leakyMeta(), Spec: corev1.PodSpec{Containers: []corev1.Container{leakyContainer()}}})
	if c := p.(*corev1.Pod).Spec.Containers[0]; c.Name != "main" || c.Image != "img" || c.Command != nil {
		t.Errorf("pod container = %+v (a pod's command is not shown)", c)
	}
}

func TestEqualResourceListsAreSharedAndKeepTheirValues(t *testing.T) {
	tr := newTransformer()
	pod := func(cpu string) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("256Mi")},
		}}}}}
	}
	a, _ := tr.transform(pod("150m"))
	b, _ := tr.transform(pod("0.15"))
	c, _ := tr.transform(pod("250m"))
	ra := a.(*corev1.Pod).Spec.Containers[0].Resources.Requests
	rb := b.(*corev1.Pod).Spec.Containers[0].Resources.Requests
	rc := c.(*corev1.Pod).Spec.Containers[0].Resources.Requests
	if reflect.ValueOf(ra).UnsafePointer() != reflect.ValueOf(rb).UnsafePointer() {
		t.Error("equal requests (150m and 0.15 CPU) are not shared")
	}
	if reflect.ValueOf(ra).UnsafePointer() == reflect.ValueOf(rc).UnsafePointer() || rc.Cpu().String() != "250m" || ra.Cpu().MilliValue() != 150 {
		t.Errorf("different requests mixed up: %v %v", ra, rc)
	}
}
