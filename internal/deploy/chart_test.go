package deploy_test

import (
	componentsv1 "github.com/toolforge-go/toolforge/internal/components/v1alpha1"
	"os"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/accounts/rbac"
	"github.com/toolforge-go/toolforge/internal/admission"
	"github.com/toolforge-go/toolforge/internal/api"
	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/deploy"
	"github.com/toolforge-go/toolforge/internal/logs/events"
	"github.com/toolforge-go/toolforge/internal/notify"
	"github.com/toolforge-go/toolforge/internal/status"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

const chartDir = "../../deploy/chart/toolforge"

// ns is the platform namespace, the release's.
const ns = tenancy.PlatformNamespace

// values are what a cluster gives the chart at least: an account source.
func values(overrides string) map[string]any {
	v := map[string]any{}
	base := "components: {accounts: {accountsFile: \"tools: []\\n\"}}\n"
	if err := yaml.Unmarshal([]byte(base), &v); err != nil {
		panic(err)
	}
	if overrides != "" {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(overrides), &o); err != nil {
			panic(err)
		}
		v = chartutil.CoalesceTables(o, v)
	}
	return v
}

func render(t *testing.T, overrides string) []runtime.Object {
	t.Helper()
	manifest, err := deploy.RenderChart(chartDir, values(overrides), ns)
	if err != nil {
		t.Fatal(err)
	}
	// Built-in kinds and CRDs (the chart ships the platform's).
	sch := runtime.NewScheme()
	if err := scheme.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	decoder := serializer.NewCodecFactory(sch).UniversalDeserializer()
	var out []runtime.Object
	for _, doc := range releaseutil.SplitManifests(manifest) {
		obj, _, err := decoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			if runtime.IsNotRegisteredError(err) {
				continue // the ServiceMonitor
			}
			t.Fatalf("decode %s: %v", doc, err)
		}
		out = append(out, obj)
	}
	return out
}

func find[T runtime.Object](objs []runtime.Object, name string, ns string) T {
	var zero T
	for _, o := range objs {
		if t, ok := o.(T); ok {
			m := any(t).(interface {
				GetName() string
				GetNamespace() string
			})
			if m.GetName() == name && m.GetNamespace() == ns {
				return t
			}
		}
	}
	return zero
}

func TestTheChartLintsClean(t *testing.T) {
	l := lint.AllWithKubeVersion(chartDir, values(""), ns, &chartutil.KubeVersion{Version: "v1.36.0", Major: "1", Minor: "36"})
	for _, m := range l.Messages {
		// INFO is Helm's advice (an icon); warnings and errors fail.
		if m.Severity > support.InfoSev {
			t.Errorf("helm lint: %s", m)
		}
	}
}

func TestTheChartRendersOnlyValuesItsSchemaAllows(t *testing.T) {
	for _, tc := range []struct {
		name, values, err string
	}{
		{"the defaults with an account source render", "", ""},
		{"a misspelled flag is refused by the schema", "components: {api: {flags: {api-public-ur: https://x}}}", "api-public-ur"},
		{"a flag of the wrong type is refused by the schema", "components: {accounts: {flags: {workers: many}}}", "workers"},
		{"a timeout the server refuses is refused by the schema", "components: {admission: {flags: {admission-timeout: 60s}}}", "admission-timeout"},
		{"an unknown component is refused by the schema", "components: {mailer: {enabled: true}}", "mailer"},
		{"two account sources are refused", "components: {accounts: {ldapConfigSecret: ldap}}", "not both"},
		{"the ServiceMonitor renders when asked for", "serviceMonitor: {enabled: true}", ""},
		{"the status page's ingress needs a host", "components: {status: {ingress: {enabled: true}}}", "host is required"},
		{"the notifier needs an SMTP server", "components: {notifier: {enabled: true}}", "smtp-server"},
		{"the notifier renders with an SMTP server", "flags: {smtp-server: \"mail.example.org:25\"}\ncomponents: {notifier: {enabled: true}}", ""},
		{"a domain that is not a DNS name is refused by the schema", "flags: {domain: Not A Domain}", "domain"},
		{"a shutdown delay the grace period cannot hold is refused by the schema", "shutdownDelaySeconds: 25", "shutdownDelaySeconds"},
		{"a mail recipient without the tool is refused by the schema", "components: {notifier: {flags: {mail-to: admins@example.org}}}", "mail-to"},
		{"the events writer needs the log store", "logs: {enabled: false}", "needs logs.enabled"},
		{"the platform renders without logs", "logs: {enabled: false}\ncomponents: {logs-events: {enabled: false}}", ""},
		{"a retention under a day is refused by the schema", "logs: {retentionDays: 0}", "retentionDays"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := deploy.RenderChart(chartDir, values(tc.values), ns)
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("rendered with %q: err %v, want one naming %q", tc.values, err, tc.err)
			}
		})
	}
	if _, err := deploy.RenderChart(chartDir, map[string]any{}, ns); err == nil || !strings.Contains(err.Error(), "account source") {
		t.Fatalf("rendered without an account source: %v", err)
	}
}

func TestTheChartsRolesAreTheServicesOwn(t *testing.T) {
	objs := render(t, "flags: {smtp-server: \"mail.example.org:25\"}\ncomponents: {notifier: {enabled: true}}")
	type role struct {
		name, ns string
		want     []rbacv1.PolicyRule
	}
	roles := []role{
		{api.RoleName, "", api.ClusterRole().Rules},
		{api.WatchRoleName, "", api.WatchClusterRole().Rules},
		{api.RoleName, ns, api.PlatformRole(ns).Rules},
		{api.BuildsRoleName, v1alpha1.Namespace, api.BuildsRole().Rules},
		{status.RoleName, "", status.ClusterRole().Rules},
		{status.RoleName, ns, status.PlatformRole(ns).Rules},
		{notify.RoleName, "", notify.ClusterRole().Rules},
		{notify.RoleName, ns, notify.PlatformRole(ns).Rules},
		{events.RoleName, "", events.ClusterRole().Rules},
		{events.RoleName, ns, events.PlatformRole(ns).Rules},
	}
	for _, cr := range rbac.ClusterRoles() {
		roles = append(roles, role{cr.Name, "", cr.Rules})
	}
	reader, readerBinding := rbac.CatalogueReaderRBAC(ns)
	roles = append(roles, role{reader.Name, ns, reader.Rules})
	for _, r := range roles {
		var got []rbacv1.PolicyRule
		if r.ns == "" {
			cr := find[*rbacv1.ClusterRole](objs, r.name, "")
			if cr == nil {
				t.Errorf("the chart has no ClusterRole %s", r.name)
				continue
			}
			got = cr.Rules
		} else {
			role := find[*rbacv1.Role](objs, r.name, r.ns)
			if role == nil {
				t.Errorf("the chart has no Role %s/%s", r.ns, r.name)
				continue
			}
			got = role.Rules
		}
		if !equality.Semantic.DeepEqual(got, r.want) {
			t.Errorf("the chart's role %s/%s differs from the service's:\n chart:   %v\n service: %v", r.ns, r.name, got, r.want)
		}
	}
	b := find[*rbacv1.RoleBinding](objs, readerBinding.Name, ns)
	if b == nil || !equality.Semantic.DeepEqual(b.Subjects, readerBinding.Subjects) || b.RoleRef != readerBinding.RoleRef {
		t.Errorf("the catalogue reader's binding differs: %v", b)
	}
	// The accounts controller binds toolforge-api to this ServiceAccount
	// by default (--api-identity).
	if sa := find[*corev1.ServiceAccount](objs, "toolforge-api", ns); sa == nil {
		t.Error("no ServiceAccount toolforge-api, the API's identity the accounts controller binds")
	}
}

func TestTheChartsBuildCRDIsTheServicesOwn(t *testing.T) {
	objs := render(t, "")
	want := v1alpha1.CRD()
	got := find[*apiextensionsv1.CustomResourceDefinition](objs, want.Name, "")
	if got == nil {
		t.Fatalf("the chart has no CRD %s", want.Name)
	}
	if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
		t.Errorf("the chart's CRD differs from internal/builds/v1alpha1.CRD():\n chart: %+v\n code:  %+v", got.Spec, want.Spec)
	}
}

func TestTheChartsComponentsCRDsAreTheServicesOwn(t *testing.T) {
	objs := render(t, "")
	for _, want := range componentsv1.CRDs() {
		got := find[*apiextensionsv1.CustomResourceDefinition](objs, want.Name, "")
		if got == nil {
			t.Errorf("the chart has no CRD %s", want.Name)
			continue
		}
		if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
			t.Errorf("the chart's CRD %s differs from internal/components/v1alpha1.CRDs():\n chart: %+v\n code:  %+v", want.Name, got.Spec, want.Spec)
		}
	}
}

func TestTheChartsWebhooksAreTheServersOwn(t *testing.T) {
	objs := render(t, "")
	m, v := admission.InstalledWebhookConfigurations("toolforge-admission", 443, ns, 5*time.Second)
	gotM := find[*admissionregistrationv1.MutatingWebhookConfiguration](objs, admission.WebhookConfigName, "")
	gotV := find[*admissionregistrationv1.ValidatingWebhookConfiguration](objs, admission.WebhookConfigName, "")
	if gotM == nil || gotV == nil {
		t.Fatal("the chart has no webhook configurations")
	}
	if !equality.Semantic.DeepEqual(gotM.Webhooks, m.Webhooks) {
		t.Errorf("mutating webhooks differ from the server's:\n chart:  %+v\n server: %+v", gotM.Webhooks, m.Webhooks)
	}
	if !equality.Semantic.DeepEqual(gotV.Webhooks, v.Webhooks) {
		t.Errorf("validating webhooks differ from the server's:\n chart:  %+v\n server: %+v", gotV.Webhooks, v.Webhooks)
	}
}

func TestEveryComponentIsReplicatedProbedAndUnprivileged(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		rootAccounts bool
		enforce      string
		deployments  int
	}{
		{"with homes on hostPath only the accounts controller is root, with three capabilities", "", true, "privileged", 5},
		{"without hostPath homes every Deployment is restricted, the namespace privileged for the log collector", "components: {accounts: {homes: {hostPath: false}}}", false, "privileged", 5},
		{"without hostPath homes nor logs every pod is restricted", "components: {accounts: {homes: {hostPath: false}}, logs-events: {enabled: false}}\nlogs: {enabled: false}", false, "restricted", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.values)
			namespace := find[*corev1.Namespace](objs, ns, "")
			if namespace == nil || namespace.Labels["pod-security.kubernetes.io/enforce"] != tc.enforce {
				t.Fatalf("namespace %v, want Pod Security %s enforced", namespace, tc.enforce)
			}
			deployments := 0
			for _, o := range objs {
				d, ok := o.(*appsv1.Deployment)
				if !ok {
					continue
				}
				deployments++
				if *d.Spec.Replicas != 2 || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
					t.Errorf("%s: %d replicas, maxUnavailable %v; want 2 and 0", d.Name, *d.Spec.Replicas, d.Spec.Strategy.RollingUpdate.MaxUnavailable)
				}
				c := d.Spec.Template.Spec.Containers[0]
				if c.ReadinessProbe == nil || c.LivenessProbe == nil || c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
					t.Errorf("%s: probes and requests missing", d.Name)
				}
				// A stopping pod serves on until kube-proxy has forgotten it,
				// and still has its 10 s to finish its requests.
				if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 ||
					*d.Spec.Template.Spec.TerminationGracePeriodSeconds < c.Lifecycle.PreStop.Sleep.Seconds+10 {
					t.Errorf("%s: preStop %+v with grace %ds, want a 5 s sleep and 10 s more", d.Name, c.Lifecycle, *d.Spec.Template.Spec.TerminationGracePeriodSeconds)
				}
				if !strings.Contains(strings.Join(c.Args, " "), "--leader-elect=true") {
					t.Errorf("%s: no leader election: %v", d.Name, c.Args)
				}
				sc := c.SecurityContext
				root := d.Name == "toolforge-accounts" && tc.rootAccounts
				switch {
				case root:
					if *sc.RunAsUser != 0 || len(sc.Capabilities.Add) != 3 || *sc.AllowPrivilegeEscalation {
						t.Errorf("%s: %+v", d.Name, sc)
					}
				case sc == nil || !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Add) > 0 || !*sc.ReadOnlyRootFilesystem:
					t.Errorf("%s is not restricted: %+v", d.Name, sc)
				}
				if pdb := find[*policyv1.PodDisruptionBudget](objs, d.Name, ns); pdb == nil {
					t.Errorf("%s has no PodDisruptionBudget", d.Name)
				}
			}
			if deployments != tc.deployments {
				t.Errorf("%d Deployments, want %d", deployments, tc.deployments)
			}
		})
	}
}

func TestEveryClusterOfOurControlRepositoryRendersWithThisChart(t *testing.T) {
	const dir = "../../deploy"
	clusters, err := deploy.Clusters(dir)
	if err != nil || len(clusters) == 0 {
		t.Fatalf("clusters of %s: %v, %v", dir, clusters, err)
	}
	for _, cl := range clusters {
		comps, err := deploy.LoadCluster(dir, cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range comps {
			t.Run(cl+"/"+c.Name, func(t *testing.T) {
				if _, err := deploy.RenderChart(chartDir, c.HelmValues(), c.Namespace); err != nil {
					t.Fatalf("%s does not render with this tree's chart: %v", c.File, err)
				}
			})
		}
	}
}

func TestAComponentFileMustPinByGitHash(t *testing.T) {
	for _, tc := range []struct{ name, file, err string }{
		{"a pinned file loads", "chart: oci://r/charts/toolforge\nchartVersion: 0.1.0-abc1234\nimage: {repository: r/toolforge, tag: 0.1.0-abc1234}\n", ""},
		{"a chart version without a git hash is refused", "chart: oci://r/c\nchartVersion: 0.1.0\nimage: {repository: r/t, tag: 0.1.0-abc1234}\n", "chartVersion"},
		{"a floating image tag is refused", "chart: oci://r/c\nchartVersion: 0.1.0-abc1234\nimage: {repository: r/t, tag: latest}\n", "image.tag"},
		{"an unknown field is refused", "chart: oci://r/c\nchartVersion: 0.1.0-abc1234\nimage: {repository: r/t, tag: 0.1.0-abc1234}\nvalue: {}\n", "value"},
		{"a chart is required", "chartVersion: 0.1.0-abc1234\nimage: {repository: r/t, tag: 0.1.0-abc1234}\n", "chart: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := dir + "/clusters/c1/toolforge.yaml"
			if err := os.MkdirAll(dir+"/clusters/c1", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := deploy.LoadComponent(path)
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err == "" && (c.Namespace != tenancy.PlatformNamespace || c.Release != "toolforge" || c.Cluster != "c1"):
				t.Fatalf("defaults: %+v", c)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err %v, want one naming %q", err, tc.err)
			}
		})
	}
}

// metrics-server, where the cluster has no metrics API of its own: upstream's
// deployment (two replicas, probed, restricted), the API it serves, and the
// reader role aggregated into view/edit/admin.
func TestTheChartCanRunMetricsServer(t *testing.T) {
	if objs := render(t, ""); find[*appsv1.Deployment](objs, "toolforge-metrics-server", ns) != nil {
		t.Fatal("metrics-server is on by default; a cluster with its own metrics API would get a second")
	}
	objs := render(t, "metricsServer: {enabled: true}")
	d := find[*appsv1.Deployment](objs, "toolforge-metrics-server", ns)
	if d == nil || *d.Spec.Replicas != 2 {
		t.Fatalf("deployment %+v", d)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.k8s.io/metrics-server/metrics-server:v0.8.0" || c.ReadinessProbe == nil || c.LivenessProbe == nil ||
		c.SecurityContext == nil || !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Fatalf("container %+v", c)
	}
	if find[*policyv1.PodDisruptionBudget](objs, "toolforge-metrics-server", ns) == nil {
		t.Fatal("no PodDisruptionBudget")
	}
	reader := find[*rbacv1.ClusterRole](objs, "system:aggregated-metrics-reader", "")
	if reader == nil || reader.Labels["rbac.authorization.k8s.io/aggregate-to-view"] != "true" {
		t.Fatalf("reader role %+v", reader)
	}
}
