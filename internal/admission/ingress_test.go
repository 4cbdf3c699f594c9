package admission

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func ingress(hosts ...string) *networkingv1.Ingress {
	backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 8000}}}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	for _, h := range hosts {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: h, IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: backend,
			}}},
		}})
	}
	return ing
}

func TestAToolsIngressServesOnlyItsOwnHost(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for _, tc := range []struct {
		name    string
		ingress *networkingv1.Ingress
		want    []string // nil: admitted
	}{
		{"its own host is admitted", ingress("alpha.toolforge.org"), nil},
		{"another tool's host is refused", ingress("beta.toolforge.org"),
			[]string{`ingress: host "beta.toolforge.org" (spec.rules[].host) is not allowed for tool "alpha" (allowed: alpha.toolforge.org)`}},
		{"its host under another domain is refused", ingress("alpha.toolforge.org.evil.com"), []string{`ingress: host "alpha.toolforge.org.evil.com"`}},
		{"a longer name ending in its host is refused", ingress("xalpha.toolforge.org"), []string{`ingress: host "xalpha.toolforge.org"`}},
		{"a subdomain of its host is refused", ingress("www.alpha.toolforge.org"), []string{`ingress: host "www.alpha.toolforge.org"`}},
		{"a dot is not a wildcard", ingress("alphaxtoolforge.org"), []string{`ingress: host "alphaxtoolforge.org"`}},
		{"a wildcard host is refused", ingress("*.toolforge.org"), []string{`ingress: host "*.toolforge.org"`}},
		{"a second rule for another host is refused", ingress("alpha.toolforge.org", "beta.toolforge.org"), []string{`ingress: host "beta.toolforge.org"`}},
		{"a rule without a host is refused", ingress(""), []string{"ingress: every rule in spec.rules needs a host", "alpha.toolforge.org"}},
		{"a TLS entry for another host is refused", func() *networkingv1.Ingress {
			ing := ingress("alpha.toolforge.org")
			ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"beta.toolforge.org"}, SecretName: "cert"}}
			return ing
		}(), []string{`ingress: host "beta.toolforge.org" (spec.tls[].hosts) is not allowed for tool "alpha"`}},
		{"a default backend is refused", func() *networkingv1.Ingress {
			ing := ingress()
			ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 8000}}}
			return ing
		}(), []string{"ingress: spec.defaultBackend is not allowed", "alpha.toolforge.org"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.alphaKube.NetworkingV1().Ingresses(f.alpha.Namespace).Create(ctx, tc.ingress, dry)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantDenied(t, err, tc.want...)
		})
	}
	// The same rule with plain kubectl.
	_, err := kubectlAs(ctx, f.beta, "create", "ingress", "steal", "--rule=alpha.toolforge.org/=web:8000", "--dry-run=server")
	wantDenied(t, err, `ingress: host "alpha.toolforge.org" (spec.rules[].host) is not allowed for tool "beta" (allowed: beta.toolforge.org)`)
}

func TestAToolCannotExposeANodePortOrCaptureAddresses(t *testing.T) {
	f := setup(t)
	ctx := testContext(t)
	service := func(typ corev1.ServiceType, externalIPs ...string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.ServiceSpec{Type: typ, ExternalIPs: externalIPs, Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Port: 8000, TargetPort: intstr.FromInt32(8000)}}},
		}
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for _, tc := range []struct {
		name    string
		service *corev1.Service
		want    []string
	}{
		{"a ClusterIP service is admitted", service(corev1.ServiceTypeClusterIP), nil},
		{"a NodePort service is refused", service(corev1.ServiceTypeNodePort), []string{"services: spec.type NodePort is not allowed (allowed: ClusterIP, ExternalName)"}},
		{"a LoadBalancer service is refused", service(corev1.ServiceTypeLoadBalancer), []string{"services: spec.type LoadBalancer is not allowed"}},
		{"external IPs are refused", service(corev1.ServiceTypeClusterIP, "10.1.2.3"), []string{"services: spec.externalIPs is not allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.alphaKube.CoreV1().Services(f.alpha.Namespace).Create(ctx, tc.service, dry)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantDenied(t, err, tc.want...)
		})
	}
	_, err := kubectlAs(ctx, f.alpha, "create", "service", "nodeport", "web", "--tcp=8000", "--dry-run=server")
	wantDenied(t, err, "services: spec.type NodePort is not allowed")
}
