package admission

import (
	"sort"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Names of the ValidatingAdmissionPolicies (and their bindings) and of
// their parameter ConfigMap in the platform namespace.
const (
	IngressPolicy   = "toolforge-ingress"
	ServicesPolicy  = "toolforge-services"
	ClaimsPolicy    = "toolforge-claims"
	ParamsConfigMap = "toolforge-admission-params"
	// paramDomains lists the domains, comma-separated; paramHostsPrefix +
	// <tool> the further hosts a tool may serve.
	paramDomains     = "domains"
	paramHostsPrefix = "hosts."
	// paramIngressClasses lists the allowed ingress classes;
	// paramPlatformUsers and paramPlatformGroups who may set the platform's
	// claim metadata.
	paramIngressClasses = "ingressClasses"
	paramPlatformUsers  = "platformUsers"
	paramPlatformGroups = "platformGroups"
)

// MastersGroup is Kubernetes' cluster-admin group.
const MastersGroup = "system:masters"

// platformGroups may set the platform's claim metadata: cluster admins and
// the platform namespace's ServiceAccounts (toolforged's components in a
// cluster). Tools are never in either.
func platformGroups(platformNS string) []string {
	return []string{MastersGroup, "system:serviceaccounts:" + platformNS}
}

// params is the parameter ConfigMap: the settings as the CEL policies read
// them (CEL cannot parse the YAML settings).
func params(ns string, s *Effective) *corev1.ConfigMap {
	data := map[string]string{
		paramDomains:        strings.Join(s.Domains, ","),
		paramIngressClasses: strings.Join(s.IngressClasses, ","),
		paramPlatformUsers:  strings.Join(s.PlatformUsers, ","),
		paramPlatformGroups: strings.Join(platformGroups(ns), ","),
	}
	tools := make([]string, 0, len(s.Exceptions))
	for t := range s.Exceptions {
		tools = append(tools, t)
	}
	sort.Strings(tools)
	for _, t := range tools {
		if hosts := s.Exceptions[t].IngressHosts; len(hosts) > 0 {
			data[paramHostsPrefix+t] = strings.Join(hosts, ",")
		}
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ParamsConfigMap, Namespace: ns, Labels: managedLabels()},
		Data:       data,
	}
}

// ingressPolicy: every host of an Ingress in tool-<t> is exactly
// <t>.<domain> for a configured domain, or one of the tool's exceptions.
// Hosts are compared as whole strings, never as patterns: nothing is a
// wildcard, nothing matches a prefix or a suffix.
func ingressPolicy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	const allowedList = "' (allowed: ' + variables.allowed.join(', ') + ')'"
	return policy(IngressPolicy,
		webhookRule(createOrUpdate, "networking.k8s.io", "ingresses"),
		&admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
		[]admissionregistrationv1.Variable{
			{Name: "tool", Expression: `has(namespaceObject.metadata.labels) && '` + tenancy.LabelTool + `' in namespaceObject.metadata.labels ? namespaceObject.metadata.labels['` + tenancy.LabelTool + `'] : ''`},
			{Name: "data", Expression: `has(params.data) ? params.data : {}`},
			{Name: "allowed", Expression: `('` + paramDomains + `' in variables.data ? variables.data['` + paramDomains + `'].split(',') : []).filter(d, d != '').map(d, variables.tool + '.' + d) + ` +
				`(('` + paramHostsPrefix + `' + variables.tool) in variables.data ? variables.data['` + paramHostsPrefix + `' + variables.tool].split(',') : []).filter(h, h != '')`},
			{Name: "rules", Expression: `has(object.spec.rules) ? object.spec.rules : []`},
			{Name: "tlsHosts", Expression: `has(object.spec.tls) ? object.spec.tls.filter(t, has(t.hosts)).map(t, t.hosts.filter(h, !(h in variables.allowed))).filter(l, size(l) > 0) : []`},
			{Name: "classes", Expression: `('` + paramIngressClasses + `' in variables.data ? variables.data['` + paramIngressClasses + `'].split(',') : []).filter(c, c != '')`},
			{Name: "annotationClass", Expression: `object.metadata.?annotations[?'` + IngressClassAnnotation + `'].orValue('')`},
			{Name: "deniedAnnotations", Expression: celDeniedAnnotations(IngressAnnotations)},
		},
		[]admissionregistrationv1.Validation{
			{
				Expression: `variables.tool != ''`,
				Message:    "ingress: this namespace has no " + tenancy.LabelTool + " label, so no host is allowed; ask a Toolforge admin",
			},
			{
				Expression:        `variables.rules.all(r, has(r.host) && r.host != '')`,
				Message:           "ingress: every rule in spec.rules needs a host: a rule without one would serve every host; set host to <tool>.<domain>",
				MessageExpression: `'ingress: every rule in spec.rules needs a host: a rule without one would serve every host; set host to one of: ' + variables.allowed.join(', ')`,
			},
			{
				Expression:        `variables.rules.all(r, !has(r.host) || r.host in variables.allowed)`,
				Message:           "ingress: a host in spec.rules is not allowed for this tool; use <tool>.<domain>",
				MessageExpression: `'ingress: host "' + variables.rules.filter(r, has(r.host) && !(r.host in variables.allowed))[0].host + '" (spec.rules[].host) is not allowed for tool "' + variables.tool + '"' + ` + allowedList + ` + '; set host to one of them'`,
			},
			{
				Expression:        `size(variables.tlsHosts) == 0`,
				Message:           "ingress: a host in spec.tls is not allowed for this tool; use <tool>.<domain>",
				MessageExpression: `'ingress: host "' + variables.tlsHosts[0][0] + '" (spec.tls[].hosts) is not allowed for tool "' + variables.tool + '"' + ` + allowedList,
			},
			{
				Expression:        `!has(object.spec.ingressClassName) || object.spec.ingressClassName in variables.classes`,
				Message:           "ingress: this spec.ingressClassName is not allowed; leave it out for the cluster's default class",
				MessageExpression: `'ingress: spec.ingressClassName "' + object.spec.ingressClassName + '" is not allowed (allowed: ' + variables.classes.join(', ') + '); leave it out for the cluster\'s default class'`,
			},
			{
				Expression:        `variables.annotationClass == '' || variables.annotationClass in variables.classes`,
				Message:           "ingress: this " + IngressClassAnnotation + " annotation is not allowed; leave it out for the cluster's default class",
				MessageExpression: `'ingress: annotation ` + IngressClassAnnotation + `: class "' + variables.annotationClass + '" is not allowed (allowed: ' + variables.classes.join(', ') + '); leave it out for the cluster\'s default class'`,
			},
			{
				Expression:        `size(variables.deniedAnnotations) == 0`,
				Message:           "ingress: an annotation in metadata.annotations configures the ingress controller in a way tools may not; see the allowed ones in the Toolforge admission docs",
				MessageExpression: `'ingress: annotation ' + variables.deniedAnnotations[0] + ' (metadata.annotations) is not allowed: it configures the ingress controller beyond the tool\'s own routes (allowed: ` + strings.Join(IngressAnnotations, ", ") + `); remove it'`,
			},
			{
				Expression:        `!has(object.spec.defaultBackend)`,
				Message:           "ingress: spec.defaultBackend is not allowed: it would serve every host; route with a rule for host <tool>.<domain>",
				MessageExpression: `'ingress: spec.defaultBackend is not allowed: it would serve every host; route with a rule for host ' + variables.allowed.join(' or ')`,
			},
		})
}

// servicesPolicy: no NodePort or LoadBalancer (they open ports on every
// node or outside the cluster) and no externalIPs (they capture traffic
// meant for other addresses, CVE-2020-8554).
func servicesPolicy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	return policy(ServicesPolicy,
		webhookRule(createOrUpdate, "", "services"),
		nil, nil,
		[]admissionregistrationv1.Validation{
			{
				Expression:        `!has(object.spec.type) || object.spec.type == 'ClusterIP'`,
				Message:           "services: this spec.type is not allowed (allowed: ClusterIP); tools are reached through their Ingress",
				MessageExpression: `'services: spec.type ' + object.spec.type + ' is not allowed (allowed: ClusterIP); ' + (object.spec.type == 'ExternalName' ? 'an ExternalName Service would send the tool\'s traffic (and its Ingress) to another tool\'s Service or any host; point the Ingress at a ClusterIP Service of the tool\'s own pods' : 'use a ClusterIP Service, tools are reached from outside through their Ingress')`,
			},
			{
				Expression: `!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0`,
				Message:    "services: spec.externalIPs is not allowed: a Service may not capture traffic for other addresses; remove it",
			},
			{
				Expression:        `size(` + celDeniedAnnotations(ServiceAnnotations) + `) == 0`,
				Message:           "services: an annotation in metadata.annotations configures the ingress controller in a way tools may not; see the allowed ones in the Toolforge admission docs",
				MessageExpression: `'services: annotation ' + ` + celDeniedAnnotations(ServiceAnnotations) + `[0] + ' (metadata.annotations) is not allowed: it configures the ingress controller beyond the tool\'s own routes (allowed: ` + strings.Join(ServiceAnnotations, ", ") + `); remove it'`,
			},
		})
}

// claimsPolicy keeps the platform's claims the platform's. Their metadata
// (the platform-claim label, the mount-path and read-only annotations) is
// set by the platform alone: admission mounts every PVC so labelled, and
// the fast path's condition is generated from them, so a tool that could
// label its own claim, or flip the annotations of the platform's, would
// change what is mounted where (and could send every tool's pods to the
// webhook). A claim so labelled (which only the platform can have made)
// cannot be changed or deleted but by the platform and Kubernetes' own
// controllers (the volume binder, the namespace and garbage collectors):
// deleted and made again without the platform's marks, the read-only
// shared data would turn writable. And names beginning with tool- are the
// platform's claims' (tool-home, tool-<shared data>): nobody else may
// create one, so no claim of a tool's can take a platform claim's place.
// Anyone else may create, change and delete other claims, leaving the
// metadata keys as they are (absent on a claim of their own). The checks
// are on the request's user, which a tool cannot forge; the platform's
// identities are parameters (platformGroups, platformUsers).
func claimsPolicy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	keys := func(obj string) string {
		return `[` + obj + `.metadata.?labels[?'` + tenancy.LabelPlatformClaim + `'].orValue(''), ` +
			obj + `.metadata.?annotations[?'` + tenancy.AnnotationMountPath + `'].orValue(''), ` +
			obj + `.metadata.?annotations[?'` + tenancy.AnnotationReadOnly + `'].orValue('')]`
	}
	return policy(ClaimsPolicy,
		webhookRule([]admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete}, "", "persistentvolumeclaims"),
		&admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
		[]admissionregistrationv1.Variable{
			{Name: "data", Expression: `has(params.data) ? params.data : {}`},
			{Name: "platform", Expression: `('` + paramPlatformGroups + `' in variables.data ? variables.data['` + paramPlatformGroups + `'].split(',') : []).exists(g, g != '' && g in request.userInfo.?groups.orValue([])) || ` +
				`('` + paramPlatformUsers + `' in variables.data ? variables.data['` + paramPlatformUsers + `'].split(',') : []).exists(u, u != '' && u == request.userInfo.username)`},
			// Kubernetes' controllers: the controller-manager's own user, or
			// its controllers' ServiceAccounts (--use-service-account-credentials).
			{Name: "cluster", Expression: `request.userInfo.username == ` + strconv.Quote(controllerManagerUser) + ` || ` +
				strconv.Quote(kubeSystemServiceAccounts) + ` in request.userInfo.?groups.orValue([])`},
			{Name: "old", Expression: `oldObject == null ? ['', '', ''] : ` + keys("oldObject")},
			{Name: "name", Expression: `request.operation == 'DELETE' ? oldObject.metadata.name : object.metadata.name`},
			{Name: "platformClaim", Expression: `oldObject != null && oldObject.metadata.?labels[?'` + tenancy.LabelPlatformClaim + `'].orValue('') == 'true'`},
		},
		[]admissionregistrationv1.Validation{
			{
				Expression: `request.operation == 'DELETE' || variables.platform || ` + keys("object") + ` == variables.old`,
				Message: "claims: the label " + tenancy.LabelPlatformClaim + " and the annotations " + tenancy.AnnotationMountPath + " and " + tenancy.AnnotationReadOnly +
					" (metadata) are the platform's: only the platform sets them (allowed: leave them as they are, absent on a claim of your own); remove them",
			},
			{
				Expression:        `!variables.platformClaim || variables.platform || variables.cluster`,
				Message:           "claims: this PVC is one of the platform's claims (the tool's home or its shared data): it cannot be changed or deleted but by the platform",
				MessageExpression: `'claims: PVC "' + variables.name + '" is one of the platform\'s claims (the tool\'s home or its shared data, label ` + tenancy.LabelPlatformClaim + `): it cannot be ' + (request.operation == 'DELETE' ? 'deleted' : 'changed') + ' but by the platform (allowed: your own claims, whose names do not begin with ` + tenancy.PlatformClaimPrefix + `)'`,
			},
			{
				Expression:        `request.operation != 'CREATE' || !variables.name.startsWith('` + tenancy.PlatformClaimPrefix + `') || variables.platform || variables.cluster`,
				Message:           "claims: names beginning with " + tenancy.PlatformClaimPrefix + " are the platform's claims' (tool-home, tool-<shared data>); choose another name",
				MessageExpression: `'claims: the name "' + variables.name + '" (metadata.name) is reserved: names beginning with ` + tenancy.PlatformClaimPrefix + ` are the platform\'s claims\' (` + tenancy.HomeClaim + `, ` + tenancy.PlatformClaimPrefix + `<shared data>); choose another name'`,
			},
		})
}

// Kubernetes' controller-manager, as its own user and as its controllers'
// ServiceAccounts.
const (
	controllerManagerUser     = "system:kube-controller-manager"
	kubeSystemServiceAccounts = "system:serviceaccounts:kube-system"
)

// Ingress annotations: the deprecated class annotation, checked like
// spec.ingressClassName.
const IngressClassAnnotation = "kubernetes.io/ingress.class"

// controllerAnnotations matches the prefix (before the slash) of annotations
// that configure an ingress controller, a certificate issuer or DNS:
// NGINX's, Traefik's (v1 to v3), HAProxy's, Kong's, Contour's, cloud load
// balancers', cert-manager's and external-dns's. Such an annotation may set
// configuration snippets (arbitrary proxy configuration), serve another
// tool's host (server-alias), use another namespace's middleware or
// transport (Traefik's router.middlewares, service.serverstransport), bind
// another entry point (router.entrypoints), or publish or certify another
// name. Only the allow-lists below pass; annotations of other prefixes
// (kubectl's, the tool's own) mean nothing to the proxy and pass too.
const controllerAnnotations = `^(.*\.)?(ingress\.kubernetes\.io|traefik\.io|traefik\.containo\.us|haproxy\.org|haproxy\.router\.openshift\.io|konghq\.com|projectcontour\.io|cert-manager\.io|external-dns\.alpha\.kubernetes\.io|service\.beta\.kubernetes\.io)$|^traefik\.`

// IngressAnnotations are the controller annotations a tool's Ingress may
// set: how its own requests are routed and proxied, nothing that reaches
// another host, namespace, entry point or the proxy's configuration.
var IngressAnnotations = []string{
	"nginx.ingress.kubernetes.io/app-root",
	"nginx.ingress.kubernetes.io/cors-allow-credentials",
	"nginx.ingress.kubernetes.io/cors-allow-headers",
	"nginx.ingress.kubernetes.io/cors-allow-methods",
	"nginx.ingress.kubernetes.io/cors-allow-origin",
	"nginx.ingress.kubernetes.io/cors-expose-headers",
	"nginx.ingress.kubernetes.io/cors-max-age",
	"nginx.ingress.kubernetes.io/enable-cors",
	"nginx.ingress.kubernetes.io/force-ssl-redirect",
	"nginx.ingress.kubernetes.io/proxy-body-size",
	"nginx.ingress.kubernetes.io/proxy-buffering",
	"nginx.ingress.kubernetes.io/proxy-connect-timeout",
	"nginx.ingress.kubernetes.io/proxy-read-timeout",
	"nginx.ingress.kubernetes.io/proxy-send-timeout",
	"nginx.ingress.kubernetes.io/rewrite-target",
	"nginx.ingress.kubernetes.io/ssl-redirect",
	"nginx.ingress.kubernetes.io/use-regex",
	"traefik.ingress.kubernetes.io/router.pathmatcher",
}

// ServiceAnnotations are the controller annotations a tool's Service may
// set (Traefik reads some from the Service): sticky sessions and the
// scheme to its own pods.
var ServiceAnnotations = []string{
	"traefik.ingress.kubernetes.io/service.serversscheme",
	"traefik.ingress.kubernetes.io/service.sticky.cookie",
	"traefik.ingress.kubernetes.io/service.sticky.cookie.httponly",
	"traefik.ingress.kubernetes.io/service.sticky.cookie.name",
	"traefik.ingress.kubernetes.io/service.sticky.cookie.samesite",
	"traefik.ingress.kubernetes.io/service.sticky.cookie.secure",
}

// celDeniedAnnotations lists (CEL) the object's controller annotations that
// are not in allowed.
func celDeniedAnnotations(allowed []string) string {
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	return `object.metadata.?annotations.orValue({}).filter(k, k.contains('/') && k.substring(0, k.indexOf('/')).matches(` + strconv.Quote(controllerAnnotations) + `) && !(k in [` + strings.Join(quoted, ", ") + `]))`
}

func policy(name string, match admissionregistrationv1.RuleWithOperations, paramKind *admissionregistrationv1.ParamKind,
	vars []admissionregistrationv1.Variable, validations []admissionregistrationv1.Validation) *admissionregistrationv1.ValidatingAdmissionPolicy {
	for i := range validations {
		validations[i].Reason = ptr.To(metav1.StatusReasonForbidden)
	}
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: managedLabels()},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind: paramKind,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{},
				ObjectSelector:    &metav1.LabelSelector{},
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: match,
				}},
				MatchPolicy: ptr.To(admissionregistrationv1.Equivalent),
			},
			Variables:     vars,
			Validations:   validations,
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
		},
	}
}

// binding applies a policy in tool namespaces only, denying what fails.
func binding(policyName, paramsNS string, withParams bool) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policyName, Labels: managedLabels()},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: policyName,
			MatchResources: &admissionregistrationv1.MatchResources{
				NamespaceSelector: toolNamespaces(),
				ObjectSelector:    &metav1.LabelSelector{},
				MatchPolicy:       ptr.To(admissionregistrationv1.Equivalent),
			},
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	if withParams {
		// Without its parameters the policy refuses: fail closed.
		b.Spec.ParamRef = &admissionregistrationv1.ParamRef{
			Name: ParamsConfigMap, Namespace: paramsNS,
			ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction),
		}
	}
	return b
}
