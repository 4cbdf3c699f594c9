package admission

import (
	"context"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/deploy"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// admissionIdentity installs the admission service's identity as the Helm
// chart makes it (its ServiceAccount and the roles bound to it) and returns
// its user name and groups.
func admissionIdentity(t *testing.T) (string, []string) {
	t.Helper()
	ns := tenancy.PlatformNamespace
	manifest, err := deploy.RenderChart("../../deploy/chart/toolforge",
		map[string]any{"components": map[string]any{"accounts": map[string]any{"accountsFile": "tools: []\n"}}}, ns)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cluster.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var sa string
	for _, doc := range releaseutil.SplitManifests(manifest) {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			continue // kinds of other groups (the ServiceMonitor)
		}
		o, ok := obj.(client.Object)
		if !ok || o.GetLabels()["app.kubernetes.io/component"] != "admission" {
			continue
		}
		switch obj.(type) {
		case *corev1.ServiceAccount:
			sa = o.GetName()
		case *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *rbacv1.Role, *rbacv1.RoleBinding:
		default:
			continue
		}
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("install %T %s: %v", o, o.GetName(), err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), o) })
	}
	if sa == "" {
		t.Fatal("the chart has no ServiceAccount for admission")
	}
	return "system:serviceaccount:" + ns + ":" + sa, []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
}

// The admission service caches no Secret, and cannot: its own identity, as
// the chart grants it, may not list or watch Secrets anywhere (an informer
// of Secrets could not even start), nor read any but its serving
// certificate's, while it may list and watch everything its caches hold
// (derived from the cache configuration, so that a Secret added there, or
// a grant of Secrets to the chart's role, fails this test).
func TestTheAdmissionServiceMayNotReadSecrets(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	user, groups := admissionIdentity(t)
	allowed := func(verb, resource, ns, name string) bool {
		t.Helper()
		r, err := cluster.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Resource: resource, Namespace: ns, Name: name},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}

	platformNS := tenancy.PlatformNamespace
	opts := cacheOptions(platformNS)
	for _, obj := range cachedKinds() {
		gvks, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil {
			t.Fatal(err)
		}
		resource, _ := meta.UnsafeGuessKindToResource(gvks[0])
		scopes := []string{""}
		for o, by := range opts.ByObject {
			if sameType(o, obj) && len(by.Namespaces) > 0 {
				scopes = nil
				for ns := range by.Namespaces {
					scopes = append(scopes, ns)
				}
			}
		}
		for _, ns := range scopes {
			for _, verb := range []string{"list", "watch"} {
				if !allowed(verb, resource.Resource, ns, "") {
					t.Errorf("the admission service may not %s %s in %q, which its cache holds", verb, resource.Resource, ns)
				}
			}
		}
	}
	for _, ns := range []string{"", platformNS, f.alpha.Namespace} {
		for _, verb := range []string{"list", "watch", "get"} {
			if allowed(verb, "secrets", ns, "") {
				t.Errorf("the admission service may %s secrets in %q", verb, ns)
			}
		}
	}
	if allowed("get", "secrets", f.alpha.Namespace, tenancy.EnvvarsSecret) {
		t.Errorf("the admission service may read a tool's envvars")
	}
	if !allowed("get", "secrets", platformNS, TLSSecret) {
		t.Errorf("the admission service may not read its serving certificate's Secret: is the review asking for the right identity?")
	}

	// The same as requests of that identity, as its cache would make them.
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Secrets(f.alpha.Namespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list the tool's Secrets as the admission service: %v, want forbidden", err)
	}
	if w, err := kube.CoreV1().Secrets("").Watch(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		if w != nil {
			w.Stop()
		}
		t.Errorf("watch every Secret as the admission service: %v, want forbidden", err)
	}
	if _, err := kube.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{LabelSelector: tenancy.LabelPlatformClaim + "=true"}); err != nil {
		t.Errorf("list the platform claims as the admission service: %v", err)
	}
}

func sameType(a, b client.Object) bool {
	ga, _, _ := scheme.Scheme.ObjectKinds(a)
	gb, _, _ := scheme.Scheme.ObjectKinds(b)
	return len(ga) > 0 && len(gb) > 0 && ga[0] == gb[0]
}
