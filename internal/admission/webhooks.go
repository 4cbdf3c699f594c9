package admission

import (
	"github.com/toolforge-go/toolforge/internal/servingcert"
	"net/url"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Names of the objects admission installs.
const (
	// WebhookConfigName names both webhook configurations.
	WebhookConfigName = "toolforge-admission"
	podsWebhook       = "pods.admission.toolforge.org"
	workloadsWebhook  = "workloads.admission.toolforge.org"
	podImagesWebhook  = "pod-images.admission.toolforge.org"
	managedBy         = "toolforged-admission"
)

// TLSSecret holds the webhook server's CA and serving certificate in the
// platform namespace, shared by every replica (servingcert.SecretStore).
const TLSSecret = "toolforge-admission-tls"

func managedLabels() map[string]string {
	return map[string]string{tenancy.LabelManagedBy: managedBy}
}

// endpoint is where the API server reaches the webhook server: a URL
// (devcluster, where the API server runs beside toolforged) or a Service
// in the platform namespace (in a cluster).
type endpoint struct {
	URL         string
	Service     string
	ServicePort int32
	Namespace   string
}

func (e endpoint) clientConfig(path string, caBundle []byte) admissionregistrationv1.WebhookClientConfig {
	if e.Service != "" {
		return admissionregistrationv1.WebhookClientConfig{
			Service: &admissionregistrationv1.ServiceReference{
				Namespace: e.Namespace, Name: e.Service, Path: ptr.To(path), Port: ptr.To(e.ServicePort),
			},
			CABundle: caBundle,
		}
	}
	return admissionregistrationv1.WebhookClientConfig{URL: ptr.To(strings.TrimSuffix(e.URL, "/") + path), CABundle: caBundle}
}

// hosts are the names the serving certificate must carry.
func (e endpoint) hosts() []string {
	hosts := []string{"127.0.0.1", "localhost"}
	if e.Service != "" {
		svc := e.Service + "." + e.Namespace + ".svc"
		hosts = append(hosts, svc, svc+".cluster.local")
	}
	if u, err := url.Parse(e.URL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	return servingcert.NormalizeHosts(hosts)
}

// toolNamespaces selects the namespaces admission acts in: kube-system and
// the platform's own never match, so a webhook outage cannot block them.
func toolNamespaces() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{tenancy.LabelTenancy: tenancy.TenancyTool}}
}

func webhookRule(ops []admissionregistrationv1.OperationType, group string, resources ...string) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: resources,
			Scope: ptr.To(admissionregistrationv1.NamespacedScope),
		},
	}
}

var (
	create         = []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	update         = []admissionregistrationv1.OperationType{admissionregistrationv1.Update}
	createOrUpdate = []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
)

// mutatingConfig sends pod creations and new ephemeral containers in tool
// namespaces to the pod mutator, except pods that take the fast path (see
// needsWebhook). Every field the API server would default is set, so an
// unchanged configuration compares equal and is not rewritten.
func mutatingConfig(e endpoint, caBundle []byte, timeout int32, fast fastPath) *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName, Labels: managedLabels()},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         podsWebhook,
			ClientConfig: e.clientConfig(MutatePodsPath, caBundle),
			Rules: []admissionregistrationv1.RuleWithOperations{
				webhookRule(create, "", "pods"),
				webhookRule(update, "", "pods/ephemeralcontainers"),
			},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			NamespaceSelector:       toolNamespaces(),
			ObjectSelector:          &metav1.LabelSelector{},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To(timeout),
			AdmissionReviewVersions: []string{"v1"},
			// Another mutating webhook running after this one could change
			// images or security settings: then this one runs again.
			ReinvocationPolicy: ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			MatchConditions:    []admissionregistrationv1.MatchCondition{needsWebhook(fast)},
		}},
	}
}

// validatingConfig sends workloads (their pod templates) and image changes
// of running pods in tool namespaces to the workload validator. Updates
// that change neither (labels, finalizers, replicas, status, which
// controllers make all the time) are not sent at all: they cost nothing
// and keep working while the server is down.
func validatingConfig(e endpoint, caBundle []byte, timeout int32) *admissionregistrationv1.ValidatingWebhookConfiguration {
	hook := func(name string, rules []admissionregistrationv1.RuleWithOperations, when admissionregistrationv1.MatchCondition) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    name,
			ClientConfig:            e.clientConfig(ValidateWorkloadsPath, caBundle),
			Rules:                   rules,
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			NamespaceSelector:       toolNamespaces(),
			ObjectSelector:          &metav1.LabelSelector{},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To(timeout),
			AdmissionReviewVersions: []string{"v1"},
			MatchConditions:         []admissionregistrationv1.MatchCondition{when},
		}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName, Labels: managedLabels()},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			hook(podImagesWebhook, []admissionregistrationv1.RuleWithOperations{webhookRule(update, "", "pods")},
				admissionregistrationv1.MatchCondition{Name: "image-changed", Expression: imagesChanged}),
			hook(workloadsWebhook, []admissionregistrationv1.RuleWithOperations{
				webhookRule(createOrUpdate, "", "replicationcontrollers"),
				webhookRule(createOrUpdate, "apps", "deployments", "replicasets", "statefulsets", "daemonsets"),
				webhookRule(createOrUpdate, "batch", "jobs", "cronjobs"),
			}, admissionregistrationv1.MatchCondition{Name: "template-changed", Expression: templateChanged}),
		},
	}
}

// imagesChanged: an update of a pod changes the image of a container or
// an init container (the only fields of them that can change).
const imagesChanged = `object.spec.containers.map(c, c.image) != oldObject.spec.containers.map(c, c.image) || ` +
	`(has(object.spec.initContainers) ? object.spec.initContainers.map(c, c.image) : []) != ` +
	`(has(oldObject.spec.initContainers) ? oldObject.spec.initContainers.map(c, c.image) : [])`

// templateChanged: a workload is created, or its pod template changes.
const templateChanged = `request.operation == 'CREATE' || ` +
	`(has(object.spec.jobTemplate) ? object.spec.jobTemplate != oldObject.spec.jobTemplate : ` +
	`(has(object.spec.template) ? object.spec.template : {}) != (has(oldObject.spec.template) ? oldObject.spec.template : {}))`

// InstalledWebhookConfigurations are the webhook configurations as an
// installer other than the server writes them (the Helm chart, Service
// mode): without the CA bundle and the pods webhook's match condition,
// which the server fills in (--admission-webhooks-installed), and without
// the server's labels. The chart's copy is tested against these.
func InstalledWebhookConfigurations(service string, port int32, ns string, timeout time.Duration) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	e := endpoint{Service: service, ServicePort: port, Namespace: ns}
	m := mutatingConfig(e, nil, int32(timeout/time.Second), fastPath{})
	m.Labels = nil
	for k := range m.Webhooks {
		if m.Webhooks[k].Name == podsWebhook {
			m.Webhooks[k].MatchConditions = nil
		}
	}
	v := validatingConfig(e, nil, int32(timeout/time.Second))
	v.Labels = nil
	return m, v
}
