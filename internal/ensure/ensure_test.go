package ensure

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// writes counts the writes a fake client receives.
func countingClient(objs ...client.Object) (client.Client, *int) {
	n := 0
	count := func() { n++ }
	c := crfake.NewClientBuilder().WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			count()
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			count()
			return c.Update(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			count()
			return c.Delete(ctx, obj, opts...)
		},
	}).Build()
	return c, &n
}

func configMap(data map[string]string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns", Labels: labels}, Data: data}
}

func setData(want *corev1.ConfigMap) Mutate[*corev1.ConfigMap] {
	return func(cur *corev1.ConfigMap) error { cur.Data = want.Data; return nil }
}

func TestObject(t *testing.T) {
	owned := map[string]string{"app.kubernetes.io/managed-by": "test"}
	for _, tc := range []struct {
		name       string
		existing   []client.Object
		want       *corev1.ConfigMap
		result     Result
		writes     int
		wantLabels map[string]string
	}{
		{"a missing object is created", nil, configMap(map[string]string{"a": "1"}, owned), Created, 1, owned},
		{"a converged object costs no write", []client.Object{configMap(map[string]string{"a": "1"}, owned)}, configMap(map[string]string{"a": "1"}, owned), Unchanged, 0, owned},
		{"a changed field is put back", []client.Object{configMap(map[string]string{"a": "2"}, owned)}, configMap(map[string]string{"a": "1"}, owned), Updated, 1, owned},
		{"a removed label is put back, other labels kept", []client.Object{configMap(map[string]string{"a": "1"}, map[string]string{"mine": "x"})}, configMap(map[string]string{"a": "1"}, owned), Updated, 1,
			map[string]string{"mine": "x", "app.kubernetes.io/managed-by": "test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, writes := countingClient(tc.existing...)
			got, err := Object(context.Background(), c, tc.want, setData(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.result || *writes != tc.writes {
				t.Fatalf("result %v with %d writes, want %v with %d", got, *writes, tc.result, tc.writes)
			}
			var cur corev1.ConfigMap
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.want), &cur); err != nil {
				t.Fatal(err)
			}
			if cur.Data["a"] != "1" || len(cur.Labels) != len(tc.wantLabels) {
				t.Fatalf("object now %v %v", cur.Data, cur.Labels)
			}
			for k, v := range tc.wantLabels {
				if cur.Labels[k] != v {
					t.Fatalf("labels %v, want %v", cur.Labels, tc.wantLabels)
				}
			}
		})
	}
}

func TestAnObjectThatCannotBeUpdatedIntoShapeIsReplaced(t *testing.T) {
	binding := func(role string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "t"}}}
	}
	want := binding("tools-user")
	replace := ReplaceWhen(func(cur *rbacv1.RoleBinding) bool { return cur.RoleRef != want.RoleRef })
	subjects := func(cur *rbacv1.RoleBinding) error { cur.Subjects = want.Subjects; return nil }
	c, writes := countingClient(binding("edit"))
	if got, err := Object(context.Background(), c, want, subjects, replace); err != nil || got != Updated {
		t.Fatalf("Object = %v, %v", got, err)
	}
	var cur rbacv1.RoleBinding
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(want), &cur); err != nil || cur.RoleRef.Name != "tools-user" {
		t.Fatalf("binding now %v (%v)", cur.RoleRef, err)
	}
	if *writes != 2 {
		t.Fatalf("%d writes, want a delete and a create", *writes)
	}
	if got, err := Object(context.Background(), c, want, subjects, replace); err != nil || got != Unchanged || *writes != 2 {
		t.Fatalf("a second pass: %v, %v, %d writes", got, err, *writes)
	}
}

func TestATypedClientGoesTheSameWay(t *testing.T) {
	kube := fake.NewClientset(configMap(map[string]string{"a": "2"}, nil))
	api := kube.CoreV1().ConfigMaps("ns")
	want := configMap(map[string]string{"a": "1"}, map[string]string{"x": "y"})
	if got, err := Typed(context.Background(), api, want, setData(want)); err != nil || got != Updated {
		t.Fatalf("Typed = %v, %v", got, err)
	}
	if got, err := Typed(context.Background(), api, want, setData(want)); err != nil || got != Unchanged {
		t.Fatalf("Typed again = %v, %v", got, err)
	}
	cur, err := api.Get(context.Background(), "cm", metav1.GetOptions{})
	if err != nil || cur.Data["a"] != "1" || cur.Labels["x"] != "y" {
		t.Fatalf("object now %v (%v)", cur, err)
	}
}

func TestAnUpdateOnlyObjectIsNeverCreated(t *testing.T) {
	want := configMap(map[string]string{"a": "1"}, nil)
	c, writes := countingClient()
	_, err := Object(context.Background(), c, want, setData(want), UpdateOnly())
	if !apierrors.IsNotFound(err) || *writes != 0 {
		t.Fatalf("a missing object: %v with %d writes, want NotFound and none", err, *writes)
	}
	c, writes = countingClient(configMap(map[string]string{"a": "2"}, nil))
	if got, err := Object(context.Background(), c, want, setData(want), UpdateOnly()); err != nil || got != Updated || *writes != 1 {
		t.Fatalf("an existing object: %v, %v, %d writes", got, err, *writes)
	}
}
