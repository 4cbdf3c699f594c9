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

func annotated[T metav1.Object](obj T, key, value string) T {
	obj.SetAnnotations(map[string]string{key: value})
	return obj
}

func withClass(ing *networkingv1.Ingress, class string) *networkingv1.Ingress {
	ing.Spec.IngressClassName = &class
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
		{"a server alias for another tool's host is refused", annotated(ingress("alpha.toolforge.org"), "nginx.ingress.kubernetes.io/server-alias", "beta.toolforge.org"),
			[]string{"ingress: annotation nginx.ingress.kubernetes.io/server-alias (metadata.annotations) is not allowed", "allowed: nginx.ingress.kubernetes.io/app-root,", "remove it"}},
		{"a configuration snippet is refused", annotated(ingress("alpha.toolforge.org"), "nginx.ingress.kubernetes.io/configuration-snippet", "proxy_pass http://kube-system;"),
			[]string{"ingress: annotation nginx.ingress.kubernetes.io/configuration-snippet (metadata.annotations) is not allowed"}},
		{"a server snippet is refused", annotated(ingress("alpha.toolforge.org"), "nginx.ingress.kubernetes.io/server-snippet", "location / {}"),
			[]string{"ingress: annotation nginx.ingress.kubernetes.io/server-snippet"}},
		{"another namespace's Traefik middleware is refused", annotated(ingress("alpha.toolforge.org"), "traefik.ingress.kubernetes.io/router.middlewares", "toolforge-system-auth@kubernetescrd"),
			[]string{"ingress: annotation traefik.ingress.kubernetes.io/router.middlewares (metadata.annotations) is not allowed"}},
		{"another Traefik entry point is refused", annotated(ingress("alpha.toolforge.org"), "traefik.ingress.kubernetes.io/router.entrypoints", "traefik"),
			[]string{"ingress: annotation traefik.ingress.kubernetes.io/router.entrypoints"}},
		{"a certificate for any name is refused", annotated(ingress("alpha.toolforge.org"), "cert-manager.io/cluster-issuer", "letsencrypt"),
			[]string{"ingress: annotation cert-manager.io/cluster-issuer"}},
		{"a DNS name of any host is refused", annotated(ingress("alpha.toolforge.org"), "external-dns.alpha.kubernetes.io/hostname", "beta.toolforge.org"),
			[]string{"ingress: annotation external-dns.alpha.kubernetes.io/hostname"}},
		{"an allowed annotation is admitted", annotated(ingress("alpha.toolforge.org"), "nginx.ingress.kubernetes.io/proxy-body-size", "10m"), nil},
		{"a path matcher for Traefik is admitted", annotated(ingress("alpha.toolforge.org"), "traefik.ingress.kubernetes.io/router.pathmatcher", "PathRegexp"), nil},
		{"an annotation no controller reads is admitted", annotated(ingress("alpha.toolforge.org"), "example.org/owner", "alice"), nil},
		{"the default ingress class is admitted", withClass(ingress("alpha.toolforge.org"), "traefik"), nil},
		{"another ingress class is refused", withClass(ingress("alpha.toolforge.org"), "internal"),
			[]string{`ingress: spec.ingressClassName "internal" is not allowed (allowed: traefik)`}},
		{"another ingress class by annotation is refused", annotated(ingress("alpha.toolforge.org"), "kubernetes.io/ingress.class", "internal"),
			[]string{`ingress: annotation kubernetes.io/ingress.class: class "internal" is not allowed (allowed: traefik)`}},
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
		{"a NodePort service is refused", service(corev1.ServiceTypeNodePort), []string{"services: spec.type NodePort is not allowed (allowed: ClusterIP)"}},
		{"an ExternalName service for another tool's service is refused", func() *corev1.Service {
			svc := service(corev1.ServiceTypeExternalName)
			svc.Spec.ExternalName, svc.Spec.Selector, svc.Spec.Ports = "beta.tool-beta.svc.cluster.local", nil, nil
			return svc
		}(), []string{"services: spec.type ExternalName is not allowed (allowed: ClusterIP); an ExternalName Service would send the tool's traffic"}},
		{"another namespace's Traefik transport is refused", annotated(service(corev1.ServiceTypeClusterIP), "traefik.ingress.kubernetes.io/service.serverstransport", "toolforge-system-mtls@kubernetescrd"),
			[]string{"services: annotation traefik.ingress.kubernetes.io/service.serverstransport (metadata.annotations) is not allowed"}},
		{"a sticky session is admitted", annotated(service(corev1.ServiceTypeClusterIP), "traefik.ingress.kubernetes.io/service.sticky.cookie", "true"), nil},
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
	_, err = kubectlAs(ctx, f.alpha, "create", "service", "externalname", "steal", "--external-name=beta.tool-beta.svc.cluster.local", "--dry-run=server")
	wantDenied(t, err, "services: spec.type ExternalName is not allowed")
	_, err = kubectlAs(ctx, f.alpha, "create", "ingress", "alias", "--rule=alpha.toolforge.org/=web:8000", "--annotation=nginx.ingress.kubernetes.io/server-alias=beta.toolforge.org", "--dry-run=server")
	wantDenied(t, err, "ingress: annotation nginx.ingress.kubernetes.io/server-alias (metadata.annotations) is not allowed")
}
