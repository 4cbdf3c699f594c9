package admission

import (
	"sort"
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
	ParamsConfigMap = "toolforge-admission-params"
	// paramDomains lists the domains, comma-separated; paramHostsPrefix +
	// <tool> the further hosts a tool may serve.
	paramDomains     = "domains"
	paramHostsPrefix = "hosts."
)

// params is the parameter ConfigMap: the settings as the CEL policies read
// them (CEL cannot parse the YAML settings).
func params(ns string, s *Effective) *corev1.ConfigMap {
	data := map[string]string{paramDomains: strings.Join(s.Domains, ",")}
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
		webhookRule(createOrUpdate, "networking.k8s.io", "ingresses").Rule,
		&admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
		[]admissionregistrationv1.Variable{
			{Name: "tool", Expression: `has(namespaceObject.metadata.labels) && '` + tenancy.LabelTool + `' in namespaceObject.metadata.labels ? namespaceObject.metadata.labels['` + tenancy.LabelTool + `'] : ''`},
			{Name: "data", Expression: `has(params.data) ? params.data : {}`},
			{Name: "allowed", Expression: `('` + paramDomains + `' in variables.data ? variables.data['` + paramDomains + `'].split(',') : []).filter(d, d != '').map(d, variables.tool + '.' + d) + ` +
				`(('` + paramHostsPrefix + `' + variables.tool) in variables.data ? variables.data['` + paramHostsPrefix + `' + variables.tool].split(',') : []).filter(h, h != '')`},
			{Name: "rules", Expression: `has(object.spec.rules) ? object.spec.rules : []`},
			{Name: "tlsHosts", Expression: `has(object.spec.tls) ? object.spec.tls.filter(t, has(t.hosts)).map(t, t.hosts.filter(h, !(h in variables.allowed))).filter(l, size(l) > 0) : []`},
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
		webhookRule(createOrUpdate, "", "services").Rule,
		nil, nil,
		[]admissionregistrationv1.Validation{
			{
				Expression:        `!has(object.spec.type) || !(object.spec.type in ['NodePort', 'LoadBalancer'])`,
				Message:           "services: this spec.type is not allowed (allowed: ClusterIP, ExternalName); tools are reached through their Ingress",
				MessageExpression: `'services: spec.type ' + object.spec.type + ' is not allowed (allowed: ClusterIP, ExternalName); use a ClusterIP Service, tools are reached from outside through their Ingress'`,
			},
			{
				Expression: `!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0`,
				Message:    "services: spec.externalIPs is not allowed: a Service may not capture traffic for other addresses; remove it",
			},
		})
}

func policy(name string, match admissionregistrationv1.Rule, paramKind *admissionregistrationv1.ParamKind,
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
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: createOrUpdate, Rule: match},
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
