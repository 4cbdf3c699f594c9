package pages

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/toolforge-go/toolforge/internal/status/wire"
)

const rolePrefix = "node-role.kubernetes.io/"

// phases are listed in this order, every one even when no pod is in it.
var phases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}

// Overview is /.
func (b *Builder) Overview() wire.Overview {
	out := wire.Overview{
		Page: b.page(), KubernetesVersion: b.Src.Version(),
		ActiveTools: []wire.ToolRef{}, Platform: []wire.Namespace{}, Problems: []wire.Problem{},
	}
	roles := map[string]*wire.RoleCount{}
	for _, n := range b.Src.Nodes() {
		ready := nodeReady(n)
		out.Nodes.Total++
		if ready {
			out.Nodes.Ready++
			if !n.Spec.Unschedulable {
				out.CPU.Allocatable += quantity(n.Status.Allocatable, corev1.ResourceCPU)
				out.Memory.Allocatable += quantity(n.Status.Allocatable, corev1.ResourceMemory)
			}
		}
		if n.Spec.Unschedulable {
			out.Nodes.Cordoned++
		}
		for _, r := range nodeRoles(n) {
			rc := roles[r]
			if rc == nil {
				rc = &wire.RoleCount{Role: r}
				roles[r] = rc
			}
			rc.Total++
			if ready {
				rc.Ready++
			}
		}
	}
	out.Nodes.ByRole = []wire.RoleCount{}
	for _, rc := range roles {
		out.Nodes.ByRole = append(out.Nodes.ByRole, *rc)
	}
	sort.Slice(out.Nodes.ByRole, func(i, j int) bool { return out.Nodes.ByRole[i].Role < out.Nodes.ByRole[j].Role })

	if cpu, mem, ok := b.Src.Usage(); ok {
		out.CPU.Used, out.Memory.Used = &cpu, &mem
	}
	pods := b.Src.Pods("")
	out.CPU.Requested, out.Memory.Requested = requests(pods)
	byPhase := map[corev1.PodPhase]int{}
	platform := map[string]*wire.Namespace{}
	tools := map[string]string{} // namespace → tool
	for _, ns := range b.Src.Namespaces() {
		if t, ok := toolOf(ns); ok {
			tools[ns.Name] = t
			out.Tools.Total++
		} else {
			platform[ns.Name] = &wire.Namespace{Name: ns.Name}
		}
	}
	activeNS := map[string]bool{}
	for _, p := range pods {
		byPhase[p.Status.Phase]++
		tool := tools[p.Namespace]
		probs := problems(p, tool)
		out.ProblemsTotal += len(probs)
		out.Problems = append(out.Problems, probs...)
		if ns := platform[p.Namespace]; ns != nil {
			ns.Pods++
			if p.Status.Phase == corev1.PodRunning {
				ns.Running++
			}
			ns.Problems += len(probs)
		}
		if tool != "" && !finished(p) {
			activeNS[p.Namespace] = true
		}
	}
	for _, c := range b.Src.CronJobs("") {
		if _, ok := tools[c.Namespace]; ok && (c.Spec.Suspend == nil || !*c.Spec.Suspend) {
			activeNS[c.Namespace] = true
		}
	}
	for ns := range activeNS {
		out.ActiveTools = append(out.ActiveTools, wire.ToolRef{Name: tools[ns]})
	}
	sort.Slice(out.ActiveTools, func(i, j int) bool { return out.ActiveTools[i].Name < out.ActiveTools[j].Name })
	out.Tools.Active = len(out.ActiveTools)
	for _, ph := range phases {
		out.PodsByPhase = append(out.PodsByPhase, wire.PhaseCount{Phase: string(ph), Count: byPhase[ph]})
	}
	for _, ns := range platform {
		out.Platform = append(out.Platform, *ns)
	}
	sort.Slice(out.Platform, func(i, j int) bool { return out.Platform[i].Name < out.Platform[j].Name })
	sort.Slice(out.Problems, func(i, j int) bool {
		a, b := out.Problems[i], out.Problems[j]
		if a.Pod.Namespace != b.Pod.Namespace {
			return a.Pod.Namespace < b.Pod.Namespace
		}
		return a.Pod.Name+"/"+a.Container < b.Pod.Name+"/"+b.Container
	})
	if len(out.Problems) > wire.MaxProblems {
		out.Problems = out.Problems[:wire.MaxProblems]
	}
	return out
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeRoles are a node's node-role.kubernetes.io/<role> labels; a node
// without one is a worker.
func nodeRoles(n *corev1.Node) []string {
	var out []string
	for k := range n.Labels {
		if r, ok := strings.CutPrefix(k, rolePrefix); ok && r != "" {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return []string{"worker"}
	}
	sort.Strings(out)
	return out
}

func nodeSummary(n *corev1.Node, pods []*corev1.Pod) wire.NodeSummary {
	s := wire.NodeSummary{
		Name: n.Name, Roles: nodeRoles(n), Ready: nodeReady(n), Cordoned: n.Spec.Unschedulable,
		Kubelet: n.Status.NodeInfo.KubeletVersion,
		CPU:     wire.Capacity{Allocatable: quantity(n.Status.Allocatable, corev1.ResourceCPU)},
		Memory:  wire.Capacity{Allocatable: quantity(n.Status.Allocatable, corev1.ResourceMemory)},
	}
	for _, p := range pods {
		if !finished(p) {
			s.Pods++
		}
	}
	s.CPU.Requested, s.Memory.Requested = requests(pods)
	return s
}

// NodeList is /nodes/.
func (b *Builder) NodeList() wire.NodeList {
	out := wire.NodeList{Page: b.page(), Nodes: []wire.NodeSummary{}}
	for _, n := range b.Src.Nodes() {
		out.Nodes = append(out.Nodes, nodeSummary(n, b.Src.PodsOnNode(n.Name)))
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Name < out.Nodes[j].Name })
	return out
}

// Node is /nodes/<n>/.
func (b *Builder) Node(name string) (wire.Node, error) {
	n, ok := b.Src.Node(name)
	if !ok {
		return wire.Node{}, &NotFoundError{Kind: "node", Name: name}
	}
	pods := b.Src.PodsOnNode(name)
	out := wire.Node{
		Page: b.page(), NodeSummary: nodeSummary(n, pods), Labels: map[string]string{},
		Taints: []wire.Taint{}, Conditions: []wire.Condition{}, PodList: []wire.PodRef{},
	}
	for k, v := range n.Labels {
		out.Labels[k] = v
	}
	for _, t := range n.Spec.Taints {
		out.Taints = append(out.Taints, wire.Taint{Key: t.Key, Value: t.Value, Effect: string(t.Effect)})
	}
	for _, c := range n.Status.Conditions {
		out.Conditions = append(out.Conditions, wire.Condition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.UTC()})
	}
	for _, p := range pods {
		out.PodList = append(out.PodList, podRef(p, b.toolOfNamespaceName(p.Namespace)))
	}
	sortPodRefs(out.PodList)
	return out, nil
}

// Images is /images/: the images of tools' running pods and scheduled
// jobs, by catalogue entry; images outside the catalogue apart.
func (b *Builder) Images() wire.Images {
	out := wire.Images{Page: b.page(), Catalogue: []wire.ImageUse{}, Other: []wire.ImageUse{}}
	cat := b.Src.Catalogue()
	type use struct {
		tools map[string]bool
		pods  int
	}
	uses := map[string]*use{} // by image reference
	add := func(ref, tool string, pod bool) {
		u := uses[ref]
		if u == nil {
			u = &use{tools: map[string]bool{}}
			uses[ref] = u
		}
		u.tools[tool] = true
		if pod {
			u.pods++
		}
	}
	for _, ns := range b.Src.Namespaces() {
		t, ok := toolOf(ns)
		if !ok {
			continue
		}
		for _, p := range b.Src.Pods(ns.Name) {
			if finished(p) {
				continue
			}
			for _, c := range p.Spec.Containers {
				add(c.Image, t, true)
			}
		}
		for _, c := range b.Src.CronJobs(ns.Name) {
			for _, ctr := range c.Spec.JobTemplate.Spec.Template.Spec.Containers {
				add(ctr.Image, t, false)
			}
		}
	}
	inCatalogue := map[string]bool{}
	for _, img := range cat.All() {
		for _, ref := range []string{img.Jobs, img.Web} {
			if ref == "" || inCatalogue[ref] {
				continue
			}
			inCatalogue[ref] = true
			iu := wire.ImageUse{Name: img.Name, Ref: ref, State: img.State}
			if u := uses[ref]; u != nil {
				iu.Tools, iu.Pods = len(u.tools), u.pods
			}
			out.Catalogue = append(out.Catalogue, iu)
		}
	}
	for ref, u := range uses {
		if !inCatalogue[ref] {
			out.Other = append(out.Other, wire.ImageUse{Ref: ref, Tools: len(u.tools), Pods: u.pods})
		}
	}
	sort.Slice(out.Other, func(i, j int) bool { return out.Other[i].Ref < out.Other[j].Ref })
	return out
}
