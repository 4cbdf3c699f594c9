package addons

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// Traefik's identity: a ServiceAccount, since its Kubernetes provider
// authenticates with a bearer token only.
const (
	IngressNamespace      = "kube-system"
	IngressServiceAccount = "devcluster-ingress"
	IngressTokenSecret    = "devcluster-ingress-token"
	// IngressClass is the cluster's default class, served by Traefik.
	IngressClass = "traefik"
)

// IngressManifest is what Traefik needs in the cluster: its identity and
// read access to what routes traffic (and write access to ingresses'
// status, where it publishes its address), and the default IngressClass.
func IngressManifest() string {
	return fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: %[1]s, namespace: %[2]s}
---
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: %[3]s
  namespace: %[2]s
  annotations: {kubernetes.io/service-account.name: %[1]s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "devcluster:ingress"}
rules:
- apiGroups: [""]
  resources: [services, secrets, nodes, namespaces, endpoints]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io, extensions]
  resources: [ingresses, ingressclasses]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io, extensions]
  resources: [ingresses/status]
  verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "devcluster:ingress"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "devcluster:ingress"}
subjects:
- {kind: ServiceAccount, name: %[1]s, namespace: %[2]s}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: %[4]s
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec:
  controller: traefik.io/ingress-controller
`, IngressServiceAccount, IngressNamespace, IngressTokenSecret, IngressClass)
}

// TraefikConfig is Traefik's static configuration: one HTTP entry point on
// loopback, Ingresses from the API server, a ping endpoint for readiness,
// access logs, and nothing that phones home.
func TraefikConfig(listen, pingAddr, apiServer, caFile, token string) ([]byte, error) {
	cfg := map[string]any{
		"global": map[string]any{"checkNewVersion": false, "sendAnonymousUsage": false},
		"entryPoints": map[string]any{
			"web":  map[string]any{"address": listen},
			"ping": map[string]any{"address": pingAddr},
		},
		"ping": map[string]any{"entryPoint": "ping"},
		"providers": map[string]any{
			"kubernetesIngress": map[string]any{
				"endpoint":         apiServer,
				"token":            token,
				"certAuthFilePath": caFile,
				"ingressEndpoint":  map[string]any{"ip": "127.0.0.1"},
				"throttleDuration": "0s",
			},
		},
		"log":       map[string]any{"level": "INFO"},
		"accessLog": map[string]any{},
	}
	return yaml.Marshal(cfg)
}
