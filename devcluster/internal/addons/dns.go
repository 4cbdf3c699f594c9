package addons

import (
	"fmt"
	"net"
)

// DNSUser is the identity CoreDNS uses (a client certificate).
const DNSUser = "system:devcluster:coredns"

// Corefile is CoreDNS's configuration: the cluster's names from the API,
// anything else forwarded to the host's resolver. It listens on the nodes'
// gateway, where the kube-dns Service's endpoint points.
func Corefile(listen net.IP, healthAddr, readyAddr, kubeconfig, domain string) string {
	return fmt.Sprintf(`.:53 {
    bind %s
    errors
    health %s
    ready %s
    kubernetes %s in-addr.arpa ip6.arpa {
        kubeconfig %s devcluster
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    forward . /etc/resolv.conf
    cache 5
    loadbalance
}
`, listen, healthAddr, readyAddr, domain, kubeconfig)
}

// DNSManifest is what CoreDNS needs in the cluster: read access for its
// identity, and the kube-dns Service (the address kubelet gives pods)
// whose only endpoint is CoreDNS on the gateway. The EndpointSlice is
// ours, not the endpoint controller's: the Service has no selector.
func DNSManifest(serviceIP string, gateway net.IP) string {
	return fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: %[1]s
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: %[1]s
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[1]s}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: %[1]s}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: %[2]s
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-devcluster
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: devcluster
addressType: IPv4
endpoints:
- addresses: [%[3]q]
  conditions: {ready: true}
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
`, DNSUser, serviceIP, gateway.String())
}
