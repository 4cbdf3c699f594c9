package server

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/route"
)

// Restart restarts job name as its kind allows: a continuous job rolls
// its pods, a scheduled job runs now (the schedule is unchanged), and a
// one-off job runs again from its definition.
func (s *Store) Restart(ctx context.Context, tool, name string) (string, error) {
	e, err := s.find(ctx, tool, name)
	if err != nil {
		return "", err
	}
	if e == nil {
		return "", route.NotFound("Job '%s' does not exist", name)
	}
	now := time.Now().UTC()
	switch o := e.obj.(type) {
	case *appsv1.Deployment:
		patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, AnnotationRestartedAt, now.Format(time.RFC3339Nano))
		obj := o.DeepCopy()
		if err := s.Writer.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return "", fmt.Errorf("restart deployment %s: %w", name, err)
		}
		s.written(obj, false)
		return fmt.Sprintf("Job '%s' is restarting: its pods are being replaced", name), nil
	case *batchv1.CronJob:
		// Its job template is read from the API server: the cache keeps
		// only what a job list shows of it.
		live := &batchv1.CronJob{}
		if err := s.Writer.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
			return "", fmt.Errorf("read scheduled job %s: %w", name, err)
		}
		run := manualRun(live, now)
		if err := s.Writer.Create(ctx, run); err != nil {
			return "", writeError(run, err)
		}
		return fmt.Sprintf("Job '%s' runs now (as %s); its schedule is unchanged", name, run.Name), nil
	case *batchv1.Job:
		if !e.stored {
			return "", route.BadRequest("job '%s' has no stored definition to run again; delete it and run it anew", name)
		}
		def := *e.def
		p, err := s.prepare(ctx, tool, &def)
		if err != nil {
			return "", err
		}
		if err := s.remove(ctx, e); err != nil {
			return "", err
		}
		if err := s.write(ctx, p.objs); err != nil {
			return "", err
		}
		return fmt.Sprintf("Job '%s' was started again", name), nil
	}
	return "", fmt.Errorf("job %s has an unexpected type %T", name, e.obj)
}

// manualRun is a run of a CronJob started by hand, as `kubectl create job
// --from=cronjob/...` makes it: owned by the CronJob, so it goes with it.
func manualRun(c *batchv1.CronJob, now time.Time) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s-manual-%d", c.Name, now.Unix()),
			Namespace:   c.Namespace,
			Labels:      c.Spec.JobTemplate.Labels,
			Annotations: map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: c.Name, UID: c.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: *c.Spec.JobTemplate.Spec.DeepCopy(),
	}
}
