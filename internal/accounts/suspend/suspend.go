// Package suspend stops the workloads of a disabled tool and brings back
// exactly what it stopped when the tool is enabled again: deployments and
// statefulsets scaled to zero, cron jobs and running jobs suspended (each
// remembering what it was in an annotation), bare pods deleted.
package suspend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Annotations that remember what disabling a tool stopped, so that
// re-enabling it restores exactly that.
const (
	annotationReplicasBefore = "toolforge.org/replicas-before-disable"
	annotationSuspendedBy    = "toolforge.org/suspended-by"
)

// WriteNote leaves k8s.disabled in a disabled tool's home, unless it is
// there already.
func WriteNote(home *homefs.Dir, now time.Time) error {
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
func eachWorkload(ctx context.Context, w account.Writer, ns string, fn func(client.Object) bool) error {
	var errs []error
	for _, newList := range workloadLists {
		list := newList()
		if err := w.APIReader.List(ctx, list, client.InNamespace(ns)); err != nil {
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
				errs = append(errs, w.Client.Update(ctx, obj))
			}
		}
	}
	return errors.Join(errs...)
}

// Stop scales deployments and statefulsets to zero and suspends cron jobs
// and running jobs, remembering what each did; bare pods, which no
// controller would bring back, are deleted.
func Stop(ctx context.Context, w account.Writer, ns string) error {
	err := eachWorkload(ctx, w, ns, func(obj client.Object) bool {
		if replicas := replicasOf(obj); replicas != nil {
			n := ptr.Deref(*replicas, 1)
			if n == 0 {
				return false
			}
			account.SetAnnotation(obj, annotationReplicasBefore, strconv.Itoa(int(n)))
			*replicas = ptr.To[int32](0)
			return true
		}
		if suspend := suspendOf(obj); suspend != nil && !ptr.Deref(*suspend, false) {
			account.SetAnnotation(obj, annotationSuspendedBy, account.ManagedBy)
			*suspend = ptr.To(true)
			return true
		}
		return false
	})
	var pods corev1.PodList
	errs := []error{err, w.APIReader.List(ctx, &pods, client.InNamespace(ns))}
	for i := range pods.Items {
		if len(pods.Items[i].OwnerReferences) == 0 {
			if err := w.Client.Delete(ctx, &pods.Items[i]); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop workloads in %s: %w", ns, err)
	}
	return nil
}

// Restore undoes Stop for a re-enabled tool, touching only what Stop
// stopped.
func Restore(ctx context.Context, w account.Writer, ns string) error {
	err := eachWorkload(ctx, w, ns, func(obj client.Object) bool {
		if replicas := replicasOf(obj); replicas != nil {
			n, ok := takeReplicas(obj)
			if ok {
				*replicas = &n
			}
			return ok
		}
		if suspend := suspendOf(obj); suspend != nil && obj.GetAnnotations()[annotationSuspendedBy] == account.ManagedBy {
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
