package server

import (
	"context"
	"errors"
	"net/http"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/route"
)

// `build start` follows the new build's log at once: a build the API
// server has and the cache has not seen yet is found, not "not found".
func TestABuildIsNotFoundOnlyWhenTheAPIServerHasNone(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	build := func(tool string) *v1alpha1.Build {
		return &v1alpha1.Build{ObjectMeta: metav1.ObjectMeta{Name: "demo-abc", Namespace: v1alpha1.Namespace,
			Labels: map[string]string{v1alpha1.LabelTool: tool}}}
	}
	for _, tc := range []struct {
		name      string
		apiServer []client.Object
		status    int // 0: found
	}{
		{"the cache lags behind the build's creation", []client.Object{build("demo")}, 0},
		{"the build does not exist", nil, http.StatusNotFound},
		{"the build is another tool's", []client.Object{build("other")}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := fake.NewClientBuilder().WithScheme(scheme).Build()
			api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.apiServer...).Build()
			s := &Service{Reader: cache, Writer: api}
			_, err := s.get(context.Background(), "demo", "demo-abc")
			var re *route.Error
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("not found: %v", err)
			case tc.status != 0 && (!errors.As(err, &re) || re.Status != tc.status):
				t.Fatalf("got %v, want status %d", err, tc.status)
			}
		})
	}
}
