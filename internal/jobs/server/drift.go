package server

import (
	"fmt"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Drift compares what runs with what the definition makes, on what a user
// (or kubectl) would change by hand: image, command, resources, schedule,
// replicas, the Service. Each difference is a sentence for a warning.
func Drift(live client.Object, liveSvc *corev1.Service, liveIng *networkingv1.Ingress, want Objects) []string {
	var out []string
	add := func(field, got, wanted string) {
		if got != wanted {
			out = append(out, fmt.Sprintf("%s is %q but the job definition says %q", field, got, wanted))
		}
	}
	lt, wt := podSpecOf(live), podSpecOf(want.Top)
	if lt == nil || wt == nil {
		return []string{"the running object is not of the job's type"}
	}
	lc, wc := container(lt, live.GetName()), container(wt, want.Top.GetName())
	if lc == nil {
		out = append(out, fmt.Sprintf("container %q is missing", live.GetName()))
	} else {
		add("image", lc.Image, wc.Image)
		if !slices.Equal(lc.Command, wc.Command) || len(lc.Args) > 0 {
			add("command", strings.Join(append(slices.Clone(lc.Command), lc.Args...), " "), strings.Join(wc.Command, " "))
		}
		for _, name := range []corev1.ResourceName{corev1.ResourceMemory, corev1.ResourceCPU} {
			l, w := lc.Resources.Limits[name], wc.Resources.Limits[name]
			if l.Cmp(w) != 0 {
				add(string(name)+" limit", quantityString(l), quantityString(w))
			}
		}
	}
	switch l := live.(type) {
	case *batchv1.CronJob:
		add("schedule", l.Spec.Schedule, want.Top.(*batchv1.CronJob).Spec.Schedule)
	case *appsv1.Deployment:
		add("replicas", int32String(l.Spec.Replicas), int32String(want.Top.(*appsv1.Deployment).Spec.Replicas))
	}
	switch {
	case want.Service != nil && liveSvc == nil:
		out = append(out, "its Service is missing")
	case want.Service == nil && liveSvc != nil:
		out = append(out, "it has a Service the job definition does not ask for")
	case want.Service != nil && len(liveSvc.Spec.Ports) > 0:
		add("service port", fmt.Sprint(liveSvc.Spec.Ports[0].Port), fmt.Sprint(want.Service.Spec.Ports[0].Port))
	}
	switch {
	case want.Ingress != nil && liveIng == nil:
		out = append(out, "its Ingress (--publish) is missing")
	case want.Ingress == nil && liveIng != nil:
		out = append(out, "it has an Ingress the job definition does not ask for")
	case want.Ingress != nil:
		add("published host and port", ingressRoute(liveIng), ingressRoute(want.Ingress))
	}
	return out
}

// ingressRoute is where an Ingress of a published job sends what: its
// first rule's host and backend port.
func ingressRoute(ing *networkingv1.Ingress) string {
	if len(ing.Spec.Rules) == 0 || ing.Spec.Rules[0].HTTP == nil || len(ing.Spec.Rules[0].HTTP.Paths) == 0 {
		return "none"
	}
	r := ing.Spec.Rules[0]
	b := r.HTTP.Paths[0].Backend.Service
	if b == nil {
		return r.Host + " -> none"
	}
	return fmt.Sprintf("%s -> %s:%d", r.Host, b.Name, b.Port.Number)
}

func podSpecOf(obj client.Object) *corev1.PodSpec {
	switch o := obj.(type) {
	case *batchv1.Job:
		return &o.Spec.Template.Spec
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec
	}
	return nil
}

func container(spec *corev1.PodSpec, name string) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	return nil
}

func quantityString(q resource.Quantity) string {
	if s := q.String(); s != "0" {
		return s
	}
	return "default"
}

func int32String(p *int32) string {
	if p == nil {
		return "1"
	}
	return fmt.Sprint(*p)
}

// recovered makes a definition for a job object that has none (made by
// hand with the framework's labels, or by an older version), so it can
// still be listed, shown and deleted.
func recovered(obj client.Object) *jobs.Job {
	j := &jobs.Job{Name: obj.GetLabels()["app.kubernetes.io/name"]}
	if j.Name == "" {
		j.Name = obj.GetName()
	}
	switch o := obj.(type) {
	case *batchv1.CronJob:
		j.Schedule = o.Spec.Schedule
	case *appsv1.Deployment:
		j.Continuous = true
		if o.Spec.Replicas != nil {
			j.Replicas = int(*o.Spec.Replicas)
		}
	}
	if spec := podSpecOf(obj); spec != nil && len(spec.Containers) > 0 {
		c := spec.Containers[0]
		j.Image = c.Image
		cmd := append(slices.Clone(c.Command), c.Args...)
		if len(cmd) >= 3 && cmd[0] == "/bin/sh" && cmd[1] == "-c" {
			cmd = cmd[len(cmd)-1:]
		}
		j.Command = jobs.UserCommand(strings.Join(cmd, " "))
	}
	// Its output is wherever its command sends it: no file logs are
	// known.
	j.Filelog = new(bool)
	j.Normalize()
	return j
}
