// Package nodeops is node maintenance for admins: list, cordon, uncordon,
// drain with the seeds' cookbook semantics, and the rolling reboot. Reads
// use the admin's own identity, writes (cordon, evictions) the
// impersonating one, so each write is the admin's in the audit log.
package nodeops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// Ops acts on nodes.
type Ops struct {
	Read, Write kubernetes.Interface
	// Progress gets a line for each step of long work (stderr).
	Progress io.Writer
	now      func() time.Time
}

// nodes reads nodes with the impersonating identity: an admin's own
// `view` does not cover them (cluster-scoped), as the seeds say of
// kubectl ("interacting with nodes or secrets will give you a permission
// error"), so reading them is sudo too.
func (o *Ops) nodes() typedcorev1.NodeInterface { return o.Write.CoreV1().Nodes() }

func (o *Ops) clock() time.Time {
	if o.now != nil {
		return o.now()
	}
	return time.Now()
}

func (o *Ops) say(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// Node is a node as `node list` shows it.
type Node struct {
	Name        string   `json:"name"`
	Ready       string   `json:"ready"` // True, False, Unknown
	Schedulable bool     `json:"schedulable"`
	Roles       []string `json:"roles,omitempty"`
	Type        string   `json:"type,omitempty"` // devcluster: real or kwok
	Pods        int      `json:"pods"`
	Kubelet     string   `json:"kubeletVersion"`
}

const roleLabelPrefix = "node-role.kubernetes.io/"

// List lists the nodes and how many pods each runs.
func (o *Ops) List(ctx context.Context) ([]Node, error) {
	nodes, err := o.nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := o.Read.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	count := map[string]int{}
	for _, p := range pods.Items {
		count[p.Spec.NodeName]++
	}
	out := make([]Node, 0, len(nodes.Items))
	for _, n := range nodes.Items {
		node := Node{Name: n.Name, Ready: string(corev1.ConditionUnknown), Schedulable: !n.Spec.Unschedulable, Type: n.Labels["type"], Pods: count[n.Name], Kubelet: n.Status.NodeInfo.KubeletVersion}
		if c := readyCondition(&n); c != nil {
			node.Ready = string(c.Status)
		}
		for k := range n.Labels {
			if role, ok := strings.CutPrefix(k, roleLabelPrefix); ok && role != "" {
				node.Roles = append(node.Roles, role)
			}
		}
		sort.Strings(node.Roles)
		out = append(out, node)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// SetSchedulable cordons (false) or uncordons (true) a node; it reports
// whether it changed anything (a second cordon writes nothing).
func (o *Ops) SetSchedulable(ctx context.Context, name string, schedulable bool) (bool, error) {
	n, err := o.nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("node %s: %w", name, err)
	}
	if n.Spec.Unschedulable == !schedulable {
		return false, nil
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": !schedulable}})
	if _, err := o.Write.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		verb := "cordon"
		if schedulable {
			verb = "uncordon"
		}
		return false, fmt.Errorf("%s node %s: %w", verb, name, err)
	}
	return true, nil
}

// podsOn lists the pods bound to a node.
func (o *Ops) podsOn(ctx context.Context, node string) ([]corev1.Pod, error) {
	list, err := o.Read.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return nil, fmt.Errorf("list pods on node %s: %w", node, err)
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].Namespace+"/"+list.Items[i].Name < list.Items[j].Namespace+"/"+list.Items[j].Name
	})
	return list.Items, nil
}

func nodeExists(ctx context.Context, c kubernetes.Interface, name string) error {
	if _, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("no node %q (toolforge-admin node list shows them)", name)
		}
		return fmt.Errorf("node %s: %w", name, err)
	}
	return nil
}
