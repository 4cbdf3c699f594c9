package accounts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accountsource"
	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Annotations that remember what disabling a tool stopped, so that
// re-enabling it restores exactly that.
const (
	annotationReplicasBefore = "toolforge.org/replicas-before-disable"
	annotationSuspendedBy    = "toolforge.org/suspended-by"
)

// disableTool removes a disabled tool's access and stops its workloads, and
// leaves k8s.disabled in its home. Its data (namespace objects, home,
// volumes) is kept for when it comes back.
func (r *Reconciler) disableTool(ctx context.Context, t accountsource.Tool) error {
	ns := tenancy.Namespace(t.Name)
	markerKey := client.ObjectKey{Namespace: ns, Name: MarkerName}
	m, exists, err := r.readMarker(ctx, markerKey)
	if err != nil {
		return err
	}
	removed, err := deleteIfExists(ctx, r, &rbacv1.RoleBinding{ObjectMeta: toolBinding(t.Name).ObjectMeta})
	if err != nil {
		return err
	}
	if err := r.removeObserver(ctx, t.Name, false); err != nil {
		return err
	}
	if home, err := homefs.OpenHome(r.toolHome(t), owner(t.UID)); err == nil {
		werr := writeDisabledNote(home, r.now())
		home.Close()
		if werr != nil {
			return werr
		}
	}
	if !exists && !removed {
		return nil // never provisioned: nothing to take away
	}
	if m.Status != statusDisabled {
		if err := r.stopWorkloads(ctx, ns); err != nil {
			return err
		}
		r.metrics.disabled.WithLabelValues(typeTool).Inc()
		r.log.Info("tool disabled", "tool", t.Name)
	}
	m.Status = statusDisabled
	_, err = r.writeMarker(ctx, markerKey, toolLabels(t.Name), m)
	return err
}

func writeDisabledNote(home *homefs.Dir, now time.Time) error {
	if ok, err := home.Exists(tenancy.DisabledFile); err != nil || ok {
		return err
	}
	note := fmt.Sprintf("This tool was disabled on %s: its Kubernetes access is removed and its workloads are stopped.\nIts data is kept; access returns when the tool is enabled again.\n", now.UTC().Format(time.RFC3339))
	return home.Write(tenancy.DisabledFile, []byte(note), 0o644)
}

// workloadLists are the kinds disabling a tool stops.
var workloadLists = []func() client.ObjectList{
	func() client.ObjectList { return &appsv1.DeploymentList{} },
	func() client.ObjectList { return &appsv1.StatefulSetList{} },
	func() client.ObjectList { return &batchv1.CronJobList{} },
	func() client.ObjectList { return &batchv1.JobList{} },
}

// replicasOf and suspendOf point at the field that stops a workload.
func replicasOf(obj client.Object) **int32 {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Replicas
	case *appsv1.StatefulSet:
		return &o.Spec.Replicas
	}
	return nil
}

func suspendOf(obj client.Object) **bool {
	switch o := obj.(type) {
	case *batchv1.CronJob:
		return &o.Spec.Suspend
	case *batchv1.Job:
		if o.Status.CompletionTime != nil {
			return nil // finished: nothing to stop
		}
		return &o.Spec.Suspend
	}
	return nil
}

// eachWorkload lists the namespace's workloads (straight from the API: the
// controller does not cache what tools own) and updates those fn changes.
func (r *Reconciler) eachWorkload(ctx context.Context, ns string, fn func(client.Object) bool) error {
	var errs []error
	for _, newList := range workloadLists {
		list := newList()
		if err := r.apiReader.List(ctx, list, client.InNamespace(ns)); err != nil {
			errs = append(errs, err)
			continue
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, item := range items {
			obj := item.(client.Object)
			if fn(obj) {
				errs = append(errs, r.client.Update(ctx, obj))
			}
		}
	}
	return errors.Join(errs...)
}

// stopWorkloads scales deployments and statefulsets to zero and suspends
// cron jobs and running jobs, remembering what each did; bare pods, which
// no controller would bring back, are deleted.
func (r *Reconciler) stopWorkloads(ctx context.Context, ns string) error {
	err := r.eachWorkload(ctx, ns, func(obj client.Object) bool {
		if replicas := replicasOf(obj); replicas != nil {
			n := ptr.Deref(*replicas, 1)
			if n == 0 {
				return false
			}
			setAnnotation(obj, annotationReplicasBefore, strconv.Itoa(int(n)))
			*replicas = ptr.To[int32](0)
			return true
		}
		if suspend := suspendOf(obj); suspend != nil && !ptr.Deref(*suspend, false) {
			setAnnotation(obj, annotationSuspendedBy, managedBy)
			*suspend = ptr.To(true)
			return true
		}
		return false
	})
	var pods corev1.PodList
	errs := []error{err, r.apiReader.List(ctx, &pods, client.InNamespace(ns))}
	for i := range pods.Items {
		if len(pods.Items[i].OwnerReferences) == 0 {
			if err := r.client.Delete(ctx, &pods.Items[i]); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop workloads in %s: %w", ns, err)
	}
	return nil
}

// restoreWorkloads undoes stopWorkloads for a re-enabled tool, touching
// only what disabling stopped.
func (r *Reconciler) restoreWorkloads(ctx context.Context, ns string) error {
	err := r.eachWorkload(ctx, ns, func(obj client.Object) bool {
		if replicas := replicasOf(obj); replicas != nil {
			n, ok := takeReplicas(obj)
			if ok {
				*replicas = &n
			}
			return ok
		}
		if suspend := suspendOf(obj); suspend != nil && obj.GetAnnotations()[annotationSuspendedBy] == managedBy {
			a := obj.GetAnnotations()
			delete(a, annotationSuspendedBy)
			obj.SetAnnotations(a)
			*suspend = ptr.To(false)
			return true
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("restore workloads in %s: %w", ns, err)
	}
	return nil
}

func setAnnotation(obj client.Object, k, v string) {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	obj.SetAnnotations(a)
}

func takeReplicas(obj client.Object) (int32, bool) {
	a := obj.GetAnnotations()
	v, ok := a[annotationReplicasBefore]
	if !ok {
		return 0, false
	}
	delete(a, annotationReplicasBefore)
	obj.SetAnnotations(a)
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}
