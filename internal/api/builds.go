package api

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/pflag"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/toolforge-go/toolforge/internal/builder"
	buildsserver "github.com/toolforge-go/toolforge/internal/builds/server"
	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// buildsOptions are the build service's flags.
type buildsOptions struct {
	registryURL, credentials string
	mirrors, bases           map[string]string
	builderImage, buildImage string
	pipIndex, npmRegistry    string
	goProxy, debianMirror    string
	proxy, noProxy           string
	caBundle                 string
	timeout                  time.Duration
	cpu, memory              string
}

// buildsPart is the build service (/builds/v1) and its controller.
type buildsPart struct{ o buildsOptions }

func newBuildsPart() *buildsPart {
	return &buildsPart{o: buildsOptions{
		mirrors: map[string]string{}, bases: map[string]string{},
		buildImage:   images.Registry + "/toolforge-bookworm-build:latest",
		debianMirror: "http://deb.debian.org/debian",
		timeout:      30 * time.Minute, cpu: "1", memory: "2Gi",
	}}
}

func (*buildsPart) Name() string { return "builds" }

func (p *buildsPart) AddFlags(fs *pflag.FlagSet) {
	o := &p.o
	fs.StringVar(&o.registryURL, "builds-registry-url", "", "where the platform and build pods reach the registry's API (default https://<builds-registry>)")
	fs.StringVar(&o.credentials, "builds-registry-credentials", "", "file with the registry's `builds` identity (one line username:password), which mints each build a token scoped to its own repository")
	fs.StringToStringVar(&o.mirrors, "builds-registry-mirror", nil, "HOST=URL: build pods reach registry HOST at URL (repeatable; devcluster: its registry on the nodes' gateway)")
	fs.StringVar(&o.builderImage, "builds-builder-image", "", "the platform's image holding /toolforge-builder (make images builds it)")
	fs.StringVar(&o.buildImage, "builds-build-image", o.buildImage, "the Debian image with git and the toolchains (python3, npm, go, apt) builds run in")
	fs.StringToStringVar(&o.bases, "builds-base", nil, "LANGUAGE=IMAGE: the run base of a language's apps (python, node, go, static, procfile; default: the catalogue's bookworm images)")
	fs.StringVar(&o.pipIndex, "builds-pip-index-url", "", "Python package index builds install from (PIP_INDEX_URL)")
	fs.StringVar(&o.npmRegistry, "builds-npm-registry", "", "npm registry builds install from (npm_config_registry)")
	fs.StringVar(&o.goProxy, "builds-goproxy", "", "Go module proxy builds download from (GOPROXY)")
	fs.StringVar(&o.debianMirror, "builds-debian-mirror", o.debianMirror, "Debian mirror of Aptfile packages")
	fs.StringVar(&o.proxy, "builds-proxy", "", "HTTP proxy build pods reach package sources through (http_proxy and https_proxy)")
	fs.StringVar(&o.noProxy, "builds-no-proxy", "", "hosts build pods reach without the proxy (no_proxy)")
	fs.StringVar(&o.caBundle, "builds-ca-bundle", "", "PEM file of every CA build pods trust, instead of the build image's (a TLS-intercepting proxy's in front of the package sources)")
	fs.DurationVar(&o.timeout, "builds-timeout", o.timeout, "a build's deadline (at most 1h, a registry token's lifetime)")
	fs.StringVar(&o.cpu, "builds-cpu", o.cpu, "CPU limit of a build pod")
	fs.StringVar(&o.memory, "builds-memory", o.memory, "memory limit of a build pod")
}

// config turns the flags into the build service's configuration; nil
// when the platform has no registry for built images.
func (p *buildsPart) config(registryHost string) (*buildsserver.Config, error) {
	o := p.o
	if registryHost == "" {
		return nil, nil
	}
	endpoint := o.registryURL
	if endpoint == "" {
		endpoint = "https://" + registryHost
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, daemon.Usagef("--builds-registry-url %q: want http(s)://host[:port]", endpoint)
	}
	reg := &buildsserver.Registry{Host: registryHost, Endpoint: u}
	if o.credentials != "" {
		if reg.Credentials, err = buildsserver.ReadCredentials(o.credentials); err != nil {
			return nil, daemon.UsageError{Err: err}
		}
	}
	cpu, err := resource.ParseQuantity(o.cpu)
	if err != nil {
		return nil, daemon.Usagef("--builds-cpu %q: %v", o.cpu, err)
	}
	mem, err := resource.ParseQuantity(o.memory)
	if err != nil {
		return nil, daemon.Usagef("--builds-memory %q: %v", o.memory, err)
	}
	cat := images.Builtin()
	bases := map[string]string{}
	for lang, name := range map[string]string{builder.Python: "python3.11", builder.Node: "node18", builder.Go: "bookworm", builder.Static: "bookworm", builder.Procfile: "bookworm"} {
		if img, ok := cat.Lookup(name); ok {
			bases[lang] = img.JobImage()
		}
	}
	for k, v := range o.bases {
		bases[k] = v
	}
	env := map[string]string{}
	// pip ignores an index over plain HTTP unless its host is trusted:
	// the admin chose this one.
	if u, err := url.Parse(o.pipIndex); err == nil && u.Scheme == "http" && u.Host != "" {
		env["PIP_TRUSTED_HOST"] = u.Hostname()
	}
	for k, v := range map[string]string{"PIP_INDEX_URL": o.pipIndex, "npm_config_registry": o.npmRegistry, "GOPROXY": o.goProxy,
		"http_proxy": o.proxy, "https_proxy": o.proxy, "HTTP_PROXY": o.proxy, "HTTPS_PROXY": o.proxy, "no_proxy": o.noProxy, "NO_PROXY": o.noProxy} {
		if v != "" {
			env[k] = v
		}
	}
	var ca []byte
	if o.caBundle != "" {
		if ca, err = os.ReadFile(o.caBundle); err != nil {
			return nil, daemon.Usagef("--builds-ca-bundle: %v", err)
		}
	}
	c := &buildsserver.Config{
		CABundle: ca,
		Registry: reg, BuilderImage: o.builderImage, BuildImage: o.buildImage, Bases: bases, Mirrors: o.mirrors,
		Env: env, DebianMirror: o.debianMirror, Timeout: o.timeout, CPU: cpu, Memory: mem,
	}
	if err := c.Validate(); err != nil {
		return nil, daemon.Usagef("build service (--builds-*): %v", err)
	}
	return c, nil
}

func (p *buildsPart) Setup(ctx context.Context, h *Host) ([]route.Route, error) {
	cfg, err := p.config(h.Env.Common.BuildsRegistry)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return buildsserver.Disabled("this platform has no build service (toolforged runs without --builds-registry)"), nil
	}
	log := h.Log.With("part", "builds")
	// Custom resources have no protobuf encoding: the build service's
	// clients speak JSON.
	cfgJSON := rest.CopyConfig(h.Config)
	cfgJSON.ContentType, cfgJSON.AcceptContentTypes = "application/json", "application/json"
	writer, err := client.New(cfgJSON, client.Options{Scheme: h.Manager.GetScheme(), Mapper: h.Manager.GetRESTMapper()})
	if err != nil {
		return nil, err
	}
	if h.Env.Common.InstallRBAC {
		if err := InstallBuilds(ctx, writer, h.Env.Common.PlatformNamespace); err != nil {
			log.Info("the build service's CRD and RBAC were not installed by the API server (an admin installs them)", "err", err)
		}
	}
	bc, err := cache.New(cfgJSON, cache.Options{
		Scheme: h.Manager.GetScheme(), Mapper: h.Manager.GetRESTMapper(),
		DefaultNamespaces: map[string]cache.Config{v1alpha1.Namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&v1alpha1.Build{}: {}, &batchv1.Job{}: {}, &corev1.Pod{}: {},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	})
	if err != nil {
		return nil, fmt.Errorf("builds cache: %w", err)
	}
	if err := h.AddCache(bc); err != nil {
		return nil, err
	}
	svc := &buildsserver.Service{Config: *cfg, Reader: readers{bc, h.Cache}, Writer: writer, Kube: h.Kube, Log: log}
	ctl, err := controller.NewUnmanaged("builds", controller.Options{Reconciler: svc, MaxConcurrentReconciles: 4, SkipNameValidation: ptr.To(true)})
	if err != nil {
		return nil, err
	}
	toBuild := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request { return buildsserver.BuildOf(o) })
	if err := ctl.Watch(source.Kind[client.Object](bc, &v1alpha1.Build{}, &handler.EnqueueRequestForObject{})); err != nil {
		return nil, err
	}
	for _, obj := range []client.Object{&batchv1.Job{}, &corev1.Pod{}} {
		if err := ctl.Watch(source.Kind[client.Object](bc, obj, toBuild)); err != nil {
			return nil, err
		}
	}
	if err := h.Manager.Add(ctl); err != nil {
		return nil, err
	}
	h.BuiltImages = svc.ToolImages
	h.Builds = svc
	return svc.Routes(), nil
}

// readers reads the build namespace's objects from the builds cache and
// the rest (tool namespaces) from the API's.
type readers struct{ builds, tools client.Reader }

func (r readers) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if key.Namespace == v1alpha1.Namespace {
		return r.builds.Get(ctx, key, obj, opts...)
	}
	return r.tools.Get(ctx, key, obj, opts...)
}

func (r readers) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	if lo.Namespace == v1alpha1.Namespace {
		return r.builds.List(ctx, list, opts...)
	}
	return r.tools.List(ctx, list, opts...)
}

// BuildsRoleName names the API server's Role in the build namespace.
const BuildsRoleName = "toolforge-api-builds"

// BuildsRole is what the API server does in the build namespace: Builds
// (and their status), the Jobs running them and their token Secrets; it
// reads pods and their logs. Nothing of it reaches a tool's namespace.
func BuildsRole() *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: BuildsRoleName, Namespace: v1alpha1.Namespace, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{v1alpha1.Group}, Resources: []string{"builds"}, Verbs: write},
			{APIGroups: []string{v1alpha1.Group}, Resources: []string{"builds/status"}, Verbs: []string{"get", "update", "patch"}},
			// Owner references that block the Build's deletion.
			{APIGroups: []string{v1alpha1.Group}, Resources: []string{"builds/finalizers"}, Verbs: []string{"update"}},
			{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: write},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: read},
			{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "delete"}},
		},
	}
}

// InstallBuilds makes the build namespace (Pod Security restricted), the
// Build CRD and the API server's Role there, bound to the identity the
// platform namespace's RoleBinding binds (an admin's step; the API server
// tries it at start).
func InstallBuilds(ctx context.Context, c client.Client, platformNS string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.Namespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", tenancy.LabelManagedBy: managedBy,
	}}}
	if _, err := ensure.Object(ctx, c, ns, func(cur *corev1.Namespace) error {
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		cur.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
		return nil
	}); err != nil {
		return fmt.Errorf("namespace %s: %w", v1alpha1.Namespace, err)
	}
	crd := v1alpha1.CRD()
	if _, err := ensure.Object(ctx, c, crd, func(cur *apiextensionsv1.CustomResourceDefinition) error { cur.Spec = crd.Spec; return nil }); err != nil {
		return fmt.Errorf("CRD %s: %w", crd.Name, err)
	}
	// The CRD serves once established.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var cur apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, &cur); err != nil {
			return false, nil
		}
		for _, cond := range cur.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("CRD %s is not established: %w", crd.Name, err)
	}
	role := BuildsRole()
	if _, err := ensure.Object(ctx, c, role, func(cur *rbacv1.Role) error { cur.Rules = role.Rules; return nil }); err != nil {
		return err
	}
	// Bound to whoever the platform namespace's API binding names.
	var pb rbacv1.RoleBinding
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: tenancy.APIServiceAccount, Namespace: platformNS}}
	if err := c.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: RoleName}, &pb); err == nil && len(pb.Subjects) > 0 {
		subjects = pb.Subjects
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: BuildsRoleName, Namespace: v1alpha1.Namespace, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: BuildsRoleName},
		Subjects:   subjects,
	}
	_, err := ensure.Object(ctx, c, binding, func(cur *rbacv1.RoleBinding) error { cur.Subjects = binding.Subjects; return nil },
		ensure.ReplaceWhen(func(cur *rbacv1.RoleBinding) bool { return cur.RoleRef != binding.RoleRef }))
	return err
}
