package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/devcluster/internal/node"
)

// nodeLabel marks the simulated nodes a devcluster owns.
const nodeLabel = "devcluster.toolforge.org/node"

func nodeName(i int) string { return "kwok-node-" + strconv.Itoa(i) }

// nodeSpec is a node the cluster should have.
type nodeSpec struct {
	name string
	// podCIDR is a real node's pod range (nil for a simulated node).
	podCIDR *net.IPNet
}

func (s *supervisor) wantedNodes() []nodeSpec {
	var out []nodeSpec
	for i := 1; i <= s.o.Nodes; i++ {
		out = append(out, nodeSpec{name: realNodeName(i), podCIDR: s.plan.NodePodCIDR(i)})
	}
	for i := 1; i <= s.o.KwokNodes; i++ {
		out = append(out, nodeSpec{name: nodeName(i)})
	}
	return out
}

// ensureNodes makes the wanted nodes exist and removes the cluster's nodes
// beyond them (a restart with fewer nodes). Real nodes are made before
// their kubelet registers so that their pod range is theirs from the
// start (kubelet keeps a node it finds).
func ensureNodes(ctx context.Context, c kubernetes.Interface, wanted []nodeSpec) error {
	existing, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: nodeLabel})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	want := map[string]nodeSpec{}
	for _, n := range wanted {
		want[n.name] = n
	}
	for _, node := range existing.Items {
		if w, ok := want[node.Name]; ok && sameRange(w, &node) {
			delete(want, node.Name)
			continue
		}
		if err := c.CoreV1().Nodes().Delete(ctx, node.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete node %s: %w", node.Name, err)
		}
	}
	for _, n := range wanted {
		if _, ok := want[n.name]; !ok {
			continue
		}
		obj := simulatedNode(n.name)
		if n.podCIDR != nil {
			obj = realNodeObject(n.name, n.podCIDR)
		}
		if _, err := c.CoreV1().Nodes().Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", n.name, err)
		}
	}
	return nil
}

// sameRange says whether an existing node can stay: a real node keeps its
// pod range, a simulated one is simulated.
func sameRange(w nodeSpec, n *corev1.Node) bool {
	if w.podCIDR == nil {
		return n.Annotations["kwok.x-k8s.io/node"] == "fake"
	}
	return n.Spec.PodCIDR == w.podCIDR.String()
}

// realNodeObject is a node kubelet will register into, with its pod range.
func realNodeObject(name string, podCIDR *net.IPNet) *corev1.Node {
	labels := map[string]string{
		"kubernetes.io/hostname": name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
	}
	for k, v := range node.NodeLabels {
		labels[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR.String(), PodCIDRs: []string{podCIDR.String()}},
	}
}

// simulatedNode is a worker as kwok expects it: kwok fills in conditions,
// addresses and the kubelet endpoint (its own server) once it manages it.
func simulatedNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("16"),
		corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				nodeLabel:                "true",
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
			Annotations: map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

func nodesReady(ctx context.Context, c kubernetes.Interface, n int) error {
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: nodeLabel})
	if err != nil {
		return err
	}
	ready := 0
	for _, node := range nodes.Items {
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if ready < n {
		return fmt.Errorf("%d of %d nodes Ready", ready, n)
	}
	return nil
}

// defaultServiceAccount waits for the service-account controller: until it
// has run, pods cannot be created in the default namespace.
func defaultServiceAccount(ctx context.Context, c kubernetes.Interface) error {
	_, err := c.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("service account default/default: %w", err)
	}
	return nil
}

// httpsGetOK probes a component's self-signed health endpoint on loopback.
func httpsGetOK(ctx context.Context, url string) error {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	return getOK(ctx, client, url)
}

func getOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
