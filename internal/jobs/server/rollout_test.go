package server

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/jobs"
)

// A continuous job is rolled out once every replica runs the new version
// and no old one is left; a Deployment past its progress deadline has
// failed (the old version still serves).
func TestRolloutSaysWhenAContinuousJobRunsItsNewVersion(t *testing.T) {
	dep := func(gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "tool-alpha", Generation: gen, Labels: Labels("alpha", "web", jobs.Continuous)},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: st.Replicas, UpdatedReplicas: st.UpdatedReplicas, AvailableReplicas: st.AvailableReplicas, Conditions: st.Conditions},
		}
	}
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		want string
	}{
		{"the controller has not seen the update", dep(2, 1, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}), RolloutProgressing},
		{"one replica is updated", dep(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2}), RolloutProgressing},
		{"an old replica is still running", dep(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 3}), RolloutProgressing},
		{"the new replicas are not ready", dep(2, 2, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}), RolloutProgressing},
		{"every replica runs the new version", dep(2, 2, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}), RolloutReady},
		{"the progress deadline passed", dep(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2, Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-2" has timed out progressing.`}}}), RolloutFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithObjects(tc.d).Build()
			s := &Store{Reader: c, Writer: c}
			got, msg, err := s.Rollout(context.Background(), "alpha", "web")
			if err != nil || got != tc.want {
				t.Fatalf("%s (%s), %v; want %s", got, msg, err, tc.want)
			}
		})
	}
	s := &Store{Reader: fake.NewClientBuilder().Build()}
	if _, _, err := s.Rollout(context.Background(), "alpha", "gone"); err == nil {
		t.Fatal("a job that does not exist has a rollout")
	}
}
