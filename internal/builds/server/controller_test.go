package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
)

// A build whose Job this controller has just made, which its cache has
// not seen yet, is still running; only a Job gone from the API server
// ends it.
func TestABuildIsFailedForAMissingJobOnlyWhenTheAPIServerHasNone(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	build := func() *v1alpha1.Build {
		return &v1alpha1.Build{
			ObjectMeta: metav1.ObjectMeta{Name: "demo-abc", Namespace: v1alpha1.Namespace},
			Spec:       v1alpha1.BuildSpec{Tool: "demo", ImageName: "tool-demo"},
			Status:     v1alpha1.BuildStatus{Phase: v1alpha1.PhasePending, Job: "demo-abc"},
		}
	}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "demo-abc", Namespace: v1alpha1.Namespace}}
	for _, tc := range []struct {
		name      string
		apiServer []client.Object
		want      string
	}{
		{"the cache lags behind the Job's creation", []client.Object{build(), job}, v1alpha1.PhasePending},
		{"the Job was deleted", []client.Object{build()}, v1alpha1.PhaseFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := fake.NewClientBuilder().WithScheme(scheme).WithObjects(build()).WithStatusSubresource(&v1alpha1.Build{}).Build()
			api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.apiServer...).WithStatusSubresource(&v1alpha1.Build{}).Build()
			s := &Service{Reader: cache, Writer: api, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			key := types.NamespacedName{Namespace: v1alpha1.Namespace, Name: "demo-abc"}
			if _, err := s.Reconcile(context.Background(), reconcile.Request{NamespacedName: key}); err != nil && tc.want != v1alpha1.PhaseFailed {
				t.Fatal(err)
			}
			var got v1alpha1.Build
			if err := api.Get(context.Background(), key, &got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != tc.want {
				t.Fatalf("phase %q (%s), want %q", got.Status.Phase, got.Status.Message, tc.want)
			}
		})
	}
}
