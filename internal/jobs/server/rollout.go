package server

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/toolforge-go/toolforge/internal/route"
)

// Rollout states of a job after an update.
const (
	RolloutReady       = "ready"
	RolloutProgressing = "progressing"
	RolloutFailed      = "failed"
)

// Rollout says whether job name runs its current definition: a continuous
// job once every replica is updated and available and no old pod is left
// (until then the old version keeps serving); a scheduled or one-off job
// at once. Failed is the Deployment's progress deadline passing (a new
// version that never becomes ready: the old one keeps running).
func (s *Store) Rollout(ctx context.Context, tool, name string) (string, string, error) {
	e, err := s.find(ctx, tool, name)
	if err != nil {
		return "", "", err
	}
	if e == nil {
		return "", "", route.NotFound("Job '%s' does not exist", name)
	}
	d, ok := e.obj.(*appsv1.Deployment)
	if !ok {
		return RolloutReady, "", nil
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return RolloutFailed, "the new version did not become ready: " + c.Message, nil
		}
	}
	switch {
	case d.Generation > st.ObservedGeneration:
		return RolloutProgressing, "waiting for the update to start", nil
	case st.UpdatedReplicas < want:
		return RolloutProgressing, fmt.Sprintf("%d of %d replica(s) updated", st.UpdatedReplicas, want), nil
	case st.Replicas > st.UpdatedReplicas:
		return RolloutProgressing, fmt.Sprintf("%d old replica(s) still running", st.Replicas-st.UpdatedReplicas), nil
	case st.AvailableReplicas < want:
		return RolloutProgressing, fmt.Sprintf("%d of %d replica(s) ready", st.AvailableReplicas, want), nil
	}
	return RolloutReady, "", nil
}
