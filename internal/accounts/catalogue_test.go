package accounts_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/accounts/rbac"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Tools may get the image catalogue ConfigMap in the platform namespace
// (webservice reads it with the tool's credentials), and nothing else
// there; a binding whose roleRef was changed by hand (here to view, which
// would let tools read every ConfigMap of the platform) is made again.
func TestToolsMayReadTheImageCatalogueAndNothingElseOfThePlatform(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "cat-reader", uid: 57001})
	f.mustOnce()
	ctx := context.Background()
	for _, name := range []string{tenancy.ImagesConfigMap, "catalogue-test-secret-settings"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tenancy.PlatformNamespace}}
		if _, err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
	home := f.home("cat-reader")
	check := func(when string) {
		t.Helper()
		if _, err := asTool(home, "get", "configmap", tenancy.ImagesConfigMap, "-n", tenancy.PlatformNamespace); err != nil {
			t.Errorf("%s: a tool cannot read the image catalogue: %v", when, err)
		}
		if _, err := asTool(home, "get", "configmap", "catalogue-test-secret-settings", "-n", tenancy.PlatformNamespace); err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Errorf("%s: a tool reads another ConfigMap of the platform: %v", when, err)
		}
	}
	check("after a pass")

	rbs := cluster.Client.RbacV1().RoleBindings(tenancy.PlatformNamespace)
	if err := rbs.Delete(ctx, rbac.CatalogueReader, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbs.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: rbac.CatalogueReader, Namespace: tenancy.PlatformNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "toolforge-accounts"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: tenancy.ToolGroup}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.mustOnce()
	b, err := rbs.Get(ctx, rbac.CatalogueReader, metav1.GetOptions{})
	if err != nil || b.RoleRef.Kind != "Role" || b.RoleRef.Name != rbac.CatalogueReader {
		t.Fatalf("binding after a pass: %v %+v", err, b)
	}
	check("after repairing the binding")
}
