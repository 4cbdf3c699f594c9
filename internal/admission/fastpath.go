package admission

import (
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// The fast path. Calling a webhook and applying its patch costs the API
// server some 60% more CPU than the rest of a pod's creation, so the pods
// webhook is not called for a pod that is already complete and
// valid: it carries everything the mutation would add, runs as its tool's
// uid, and takes its images from the allowed registries. The webhook's
// match condition decides, in the API server, from what the installer
// knows: the uid of every tool namespace, the platform claims, the
// settings. Every other pod goes to the webhook, which reviews and
// completes it; Pod Security "restricted" refuses privilege, escalation,
// root, added capabilities, host namespaces, ports and paths for every pod
// either way. Nothing a pod says about itself lets it through: a pod that
// is not complete, or runs as anyone else, is reviewed like any other.
//
// The uid and registry checks are in the match condition itself, not in a
// ValidatingAdmissionPolicy: the API server converts the whole pod, managed
// fields included, for every policy that applies to it, which costs a
// quarter of a pod creation even for a policy that checks nothing; with
// one, complete pods cost 1.5 times and more the CPU of pods without
// admission (see docs/admission.md). The match condition, evaluated before
// the managed fields exist, costs half as much.

// fastPath is what the match condition is generated from.
type fastPath struct {
	// UIDs are the tools' uids by namespace, for the namespaces whose pods
	// may take the fast path: valid tool labels and Pod Security
	// restricted enforced.
	UIDs map[string]int64
	// Registries are the registries every tool may use (exceptions take
	// the webhook).
	Registries []string
	Storage    []storageTemplate
}

// fastPathNamespaces are the uids of the tool namespaces whose pods may
// take the fast path.
func fastPathNamespaces(list []corev1.Namespace) map[string]int64 {
	out := map[string]int64{}
	for _, n := range list {
		tool := n.Labels[tenancy.LabelTool]
		uid, err := strconv.ParseInt(n.Labels[tenancy.LabelUID], 10, 64)
		if n.DeletionTimestamp != nil || tool == "" || n.Name != tenancy.Namespace(tool) || err != nil || uid <= 0 ||
			n.Labels[podSecurityEnforce] != "restricted" {
			continue
		}
		out[n.Name] = uid
	}
	return out
}

// podSecurityEnforce is the namespace label by which Pod Security
// Admission enforces a level.
const podSecurityEnforce = "pod-security.kubernetes.io/enforce"

// storageTemplate is a platform claim as the tools' pods mount it.
type storageTemplate struct {
	Claim string
	// Path is the mount path, {tool} standing for the tool's name; empty
	// when the tool namespaces disagree about it, and then no pod that
	// mounts storage counts as complete.
	Path     string
	ReadOnly bool
	Home     bool
}

// storageTemplates are the platform claims a complete pod mounts: those the
// mutation would mount (resolveClaims, from the settings and the claims'
// annotations), over every tool namespace, with the tool's name in a path
// made a placeholder. A home at tenancy.HomeMountPath is the tool's own; any
// other annotated path is the same for every tool (shared data).
func storageTemplates(pvcs []corev1.PersistentVolumeClaim, mounts []Mount) []storageTemplate {
	byTool := map[string][]corev1.PersistentVolumeClaim{}
	for _, p := range pvcs {
		if tool, ok := tenancy.ToolOfNamespace(p.Namespace); ok {
			byTool[tool] = append(byTool[tool], p)
		}
	}
	configured := map[string]string{}
	for _, m := range mounts {
		configured[m.Claim] = m.MountPath
	}
	byClaim := map[string]storageTemplate{}
	for tool, list := range byTool {
		for _, c := range resolveClaims(list, tool, mounts) {
			path := configured[c.Claim]
			if path == "" {
				path = c.MountPath
				if path == tenancy.HomeMountPath(tool) {
					path = tenancy.HomeMountPath(toolPlaceholder)
				}
			}
			t := storageTemplate{Claim: c.Claim, Path: path, ReadOnly: c.ReadOnly, Home: c.Home}
			if seen, ok := byClaim[c.Claim]; ok && seen != t {
				t.Path = ""
				// read-only for one tool is read-only for the condition
				t.ReadOnly = t.ReadOnly || seen.ReadOnly
			}
			byClaim[c.Claim] = t
		}
	}
	out := make([]storageTemplate, 0, len(byClaim))
	for _, t := range byClaim {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Claim < out[j].Claim })
	return out
}
