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

// stopWorkloads scales deployments and statefulsets to zero and suspends
// cron jobs and jobs, remembering what each ran.
func (r *Reconciler) stopWorkloads(ctx context.Context, ns string) error {
	var errs []error
	var deployments appsv1.DeploymentList
	errs = append(errs, r.apiReader.List(ctx, &deployments, client.InNamespace(ns)))
	for i := range deployments.Items {
		d := &deployments.Items[i]
		if replicas := ptr.Deref(d.Spec.Replicas, 1); replicas > 0 {
			setAnnotation(d, annotationReplicasBefore, strconv.Itoa(int(replicas)))
			d.Spec.Replicas = ptr.To[int32](0)
			errs = append(errs, r.client.Update(ctx, d))
		}
	}
	var sets appsv1.StatefulSetList
	errs = append(errs, r.apiReader.List(ctx, &sets, client.InNamespace(ns)))
	for i := range sets.Items {
		s := &sets.Items[i]
		if replicas := ptr.Deref(s.Spec.Replicas, 1); replicas > 0 {
			setAnnotation(s, annotationReplicasBefore, strconv.Itoa(int(replicas)))
			s.Spec.Replicas = ptr.To[int32](0)
			errs = append(errs, r.client.Update(ctx, s))
		}
	}
	var cronjobs batchv1.CronJobList
	errs = append(errs, r.apiReader.List(ctx, &cronjobs, client.InNamespace(ns)))
	for i := range cronjobs.Items {
		c := &cronjobs.Items[i]
		if !ptr.Deref(c.Spec.Suspend, false) {
			setAnnotation(c, annotationSuspendedBy, managedBy)
			c.Spec.Suspend = ptr.To(true)
			errs = append(errs, r.client.Update(ctx, c))
		}
	}
	var jobs batchv1.JobList
	errs = append(errs, r.apiReader.List(ctx, &jobs, client.InNamespace(ns)))
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Status.CompletionTime == nil && !ptr.Deref(j.Spec.Suspend, false) {
			setAnnotation(j, annotationSuspendedBy, managedBy)
			j.Spec.Suspend = ptr.To(true)
			errs = append(errs, r.client.Update(ctx, j))
		}
	}
	// Bare pods have no controller to scale: they are deleted.
	var pods corev1.PodList
	errs = append(errs, r.apiReader.List(ctx, &pods, client.InNamespace(ns)))
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

// restoreWorkloads undoes stopWorkloads for a re-enabled tool.
func (r *Reconciler) restoreWorkloads(ctx context.Context, ns string) error {
	var errs []error
	var deployments appsv1.DeploymentList
	errs = append(errs, r.apiReader.List(ctx, &deployments, client.InNamespace(ns)))
	for i := range deployments.Items {
		d := &deployments.Items[i]
		if n, ok := takeReplicas(d); ok {
			d.Spec.Replicas = &n
			errs = append(errs, r.client.Update(ctx, d))
		}
	}
	var sets appsv1.StatefulSetList
	errs = append(errs, r.apiReader.List(ctx, &sets, client.InNamespace(ns)))
	for i := range sets.Items {
		s := &sets.Items[i]
		if n, ok := takeReplicas(s); ok {
			s.Spec.Replicas = &n
			errs = append(errs, r.client.Update(ctx, s))
		}
	}
	var cronjobs batchv1.CronJobList
	errs = append(errs, r.apiReader.List(ctx, &cronjobs, client.InNamespace(ns)))
	for i := range cronjobs.Items {
		c := &cronjobs.Items[i]
		if c.Annotations[annotationSuspendedBy] == managedBy {
			delete(c.Annotations, annotationSuspendedBy)
			c.Spec.Suspend = ptr.To(false)
			errs = append(errs, r.client.Update(ctx, c))
		}
	}
	var jobs batchv1.JobList
	errs = append(errs, r.apiReader.List(ctx, &jobs, client.InNamespace(ns)))
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Annotations[annotationSuspendedBy] == managedBy {
			delete(j.Annotations, annotationSuspendedBy)
			j.Spec.Suspend = ptr.To(false)
			errs = append(errs, r.client.Update(ctx, j))
		}
	}
	if err := errors.Join(errs...); err != nil {
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
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}
