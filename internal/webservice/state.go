package webservice

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// objects are a tool's web service as the cluster has it; absent ones are
// nil.
type objects struct {
	dep *appsv1.Deployment
	svc *corev1.Service
	ing *networkingv1.Ingress
}

func (c *Client) current(ctx context.Context) (objects, error) {
	var o objects
	var err error
	if o.dep, err = c.Kube.AppsV1().Deployments(c.Namespace).Get(ctx, c.Tool, metav1.GetOptions{}); err != nil {
		if o.dep = nil; !apierrors.IsNotFound(err) {
			return o, fmt.Errorf("get deployment %s/%s: %w", c.Namespace, c.Tool, err)
		}
	}
	if o.svc, err = c.Kube.CoreV1().Services(c.Namespace).Get(ctx, c.Tool, metav1.GetOptions{}); err != nil {
		if o.svc = nil; !apierrors.IsNotFound(err) {
			return o, fmt.Errorf("get service %s/%s: %w", c.Namespace, c.Tool, err)
		}
	}
	if o.ing, err = c.Kube.NetworkingV1().Ingresses(c.Namespace).Get(ctx, c.Tool, metav1.GetOptions{}); err != nil {
		if o.ing = nil; !apierrors.IsNotFound(err) {
			return o, fmt.Errorf("get ingress %s/%s: %w", c.Namespace, c.Tool, err)
		}
	}
	return o, nil
}

// each visits the objects that exist.
func (o objects) each(f func(kind string, obj metav1.Object)) {
	if o.dep != nil {
		f("deployment", o.dep)
	}
	if o.svc != nil {
		f("service", o.svc)
	}
	if o.ing != nil {
		f("ingress", o.ing)
	}
}

// foreign is an error when an object with the web service's name was made
// by someone else (kubectl, a jobs-framework job): webservice neither
// overwrites nor deletes it.
func (o objects) foreign() error {
	var errs []error
	o.each(func(kind string, obj metav1.Object) {
		if !managed(obj.GetLabels()) {
			errs = append(errs, fmt.Errorf("a %s named %q in %s was not made by webservice; delete it (kubectl delete %s %s) so that webservice can use the name",
				kind, obj.GetName(), obj.GetNamespace(), kind, obj.GetName()))
		}
	})
	return errors.Join(errs...)
}

// running says whether the web service's Deployment exists and is not on
// its way out.
func (o objects) running() bool {
	return o.dep != nil && managed(o.dep.Labels) && o.dep.DeletionTimestamp == nil
}

// anyManaged says whether any of the web service's objects exists.
func (o objects) anyManaged() bool {
	found := false
	o.each(func(_ string, obj metav1.Object) { found = found || managed(obj.GetLabels()) })
	return found
}

func (c *Client) podSelector() string {
	return labels.SelectorFromSet(selector(c.Tool)).String()
}

// deleteObject deletes one of the web service's objects; absent is fine.
// Dependents (ReplicaSets, pods) go in the background, so the name is free
// at once; stop waits for the pods separately.
func (c *Client) deleteObject(ctx context.Context, kind string) error {
	opts := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}
	var err error
	switch kind {
	case "deployment":
		err = c.Kube.AppsV1().Deployments(c.Namespace).Delete(ctx, c.Tool, opts)
	case "service":
		err = c.Kube.CoreV1().Services(c.Namespace).Delete(ctx, c.Tool, opts)
	case "ingress":
		err = c.Kube.NetworkingV1().Ingresses(c.Namespace).Delete(ctx, c.Tool, opts)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s/%s: %w", kind, c.Namespace, c.Tool, err)
	}
	return nil
}
