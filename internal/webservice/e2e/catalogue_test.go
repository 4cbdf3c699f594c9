package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// An admin's image catalogue (the ConfigMap in the platform namespace) is
// what webservice uses: tools may read that ConfigMap, and nothing else
// there. Not parallel: the catalogue is the whole platform's, and the other
// tests (parallel, so they wait for this one) list the built-in types.
func TestWebserviceUsesTheAdminsCatalogue(t *testing.T) {
	tools, _, webservice := env(t)
	tool := tools["ws-catalogue"]
	ctx := context.Background()

	const cobolWeb = images.Registry + "/toolforge-cobol85-sssd-web:latest"
	list := append(images.Builtin().All(), images.Image{
		Name: "cobol85", Aliases: []string{"tf-cobol85"},
		Jobs: images.Registry + "/toolforge-cobol85-sssd-base:latest", Web: cobolWeb, State: images.StateStable,
	})
	data, err := yaml.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	cms := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: tenancy.ImagesConfigMap},
		Data:       map[string]string{images.ConfigMapKey: string(data)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cms.Delete(context.Background(), tenancy.ImagesConfigMap, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
	})

	// The tool reads the catalogue with its own credentials, and only
	// that: the platform's other ConfigMaps stay the admins'.
	kube, err := tool.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(ctx, tenancy.ImagesConfigMap, metav1.GetOptions{}); err != nil {
		t.Fatalf("a tool cannot read the image catalogue: %v", err)
	}
	if _, err := kube.CoreV1().ConfigMaps(tenancy.PlatformNamespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("a tool may list the platform's ConfigMaps: %v", err)
	}

	mustRun(t, tool, "Starting webservice\n", webservice, "tf-cobol85", "start")
	o := objects(t, tool)
	if o.dep == nil || o.dep.Spec.Template.Spec.Containers[0].Image != cobolWeb {
		t.Fatalf("deployment %v, want image %s", o.dep, cobolWeb)
	}
	mustRun(t, tool, "webservice of type cobol85 is running\n", webservice, "status")
	mustRun(t, tool, "Stopping webservice\n", webservice, "stop")
}
