package account

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/toolforge-go/toolforge/internal/ensure"
)

// onlyOwned reads like the controller's cache: objects without the
// managed-by label are not there.
func onlyOwned(c client.WithWatch) client.WithWatch {
	owned := labels.SelectorFromSet(Owned())
	return interceptor.NewClient(c, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			if !owned.Matches(labels.Set(obj.GetLabels())) {
				return &notFound{}
			}
			return nil
		},
	})
}

type notFound struct{}

func (*notFound) Error() string { return "not found" }
func (*notFound) Status() metav1.Status {
	return metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: 404}
}

// An object whose labels were removed by hand is invisible to the cache:
// the create finds it exists, and it is taken back from the API.
func TestAnObjectWhoseLabelsWereRemovedIsTakenBack(t *testing.T) {
	api := fake.NewClientBuilder().WithObjects(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "tool-a"}, Data: map[string]string{"k": "old"}}).Build()
	w := Writer{Client: onlyOwned(api), APIReader: api}
	want := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "tool-a", Labels: ToolLabels("a")}, Data: map[string]string{"k": "new"}}
	res, err := Ensure(context.Background(), w, want, func(cur *corev1.ConfigMap) error { cur.Data = want.Data; return nil })
	if err != nil || res != ensure.Updated {
		t.Fatalf("%v %v", res, err)
	}
	var got corev1.ConfigMap
	if err := api.Get(context.Background(), client.ObjectKeyFromObject(want), &got); err != nil || got.Labels["toolforge.org/tool"] != "a" || got.Data["k"] != "new" {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestDeletingWhatIsNotThereIsNoError(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "n"}}).Build()
	w := Writer{Client: c, APIReader: c}
	for i, want := range []bool{true, false} {
		deleted, err := w.DeleteIfExists(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "n"}})
		if err != nil || deleted != want {
			t.Fatalf("delete #%d: %v %v", i+1, deleted, err)
		}
	}
}
