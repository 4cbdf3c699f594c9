package wire

import "time"

// Overview is the cluster page (/).
type Overview struct {
	Page
	KubernetesVersion string       `json:"kubernetesVersion"`
	Nodes             NodeCounts   `json:"nodes"`
	CPU               Capacity     `json:"cpu"`
	Memory            Capacity     `json:"memory"`
	PodsByPhase       []PhaseCount `json:"podsByPhase"`
	Tools             ToolCounts   `json:"tools"`
	// ActiveTools are the tools with running workloads.
	ActiveTools []ToolRef `json:"activeTools"`
	// Platform are the namespaces that are not tools (the platform's own,
	// kube-system), shown apart.
	Platform []Namespace `json:"platform"`
	// Problems are pods in trouble: crash loops, OOM kills, image pull
	// errors, pending pods. At most MaxProblems; ProblemsTotal counts all.
	Problems      []Problem `json:"problems"`
	ProblemsTotal int       `json:"problemsTotal"`
}

// MaxProblems bounds the problems listed on the overview.
const MaxProblems = 100

// NodeCounts counts nodes.
type NodeCounts struct {
	Total    int         `json:"total"`
	Ready    int         `json:"ready"`
	Cordoned int         `json:"cordoned"`
	ByRole   []RoleCount `json:"byRole"`
}

// RoleCount counts the nodes of one role (node-role.kubernetes.io/<role>;
// "worker" for nodes without one).
type RoleCount struct {
	Role  string `json:"role"`
	Total int    `json:"total"`
	Ready int    `json:"ready"`
}

// Capacity of one resource over the schedulable nodes: what they offer
// (allocatable), what pods request, and what is used where a metrics API
// reports it. CPU is in cores, memory in bytes.
type Capacity struct {
	Allocatable float64  `json:"allocatable"`
	Requested   float64  `json:"requested"`
	Used        *float64 `json:"used,omitempty"`
}

// PhaseCount counts pods in one phase.
type PhaseCount struct {
	Phase string `json:"phase"`
	Count int    `json:"count"`
}

// ToolCounts counts tools.
type ToolCounts struct {
	Total  int `json:"total"`
	Active int `json:"active"`
}

// Namespace is a namespace that is not a tool's.
type Namespace struct {
	Name     string `json:"name"`
	Pods     int    `json:"pods"`
	Running  int    `json:"running"`
	Problems int    `json:"problems"`
}

// Problem is a pod in trouble.
type Problem struct {
	Pod       PodRef     `json:"pod"`
	Container string     `json:"container,omitempty"`
	Reason    string     `json:"reason"`
	Since     *time.Time `json:"since,omitempty"`
}

// NodeList is /nodes/.
type NodeList struct {
	Page
	Nodes []NodeSummary `json:"nodes"`
}

// NodeSummary is a node in the list.
type NodeSummary struct {
	Name     string   `json:"name"`
	Roles    []string `json:"roles"`
	Ready    bool     `json:"ready"`
	Cordoned bool     `json:"cordoned"`
	Kubelet  string   `json:"kubeletVersion"`
	Pods     int      `json:"pods"`
	CPU      Capacity `json:"cpu"`
	Memory   Capacity `json:"memory"`
}

// Node is /nodes/<n>/.
type Node struct {
	Page
	NodeSummary
	Labels     map[string]string `json:"labels"`
	Taints     []Taint           `json:"taints"`
	Conditions []Condition       `json:"conditions"`
	PodList    []PodRef          `json:"podList"`
}

// Taint on a node.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// Condition of a node.
type Condition struct {
	Type    string    `json:"type"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Since   time.Time `json:"since,omitempty"`
}

// Images is /images/: which images run, by tool.
type Images struct {
	Page
	// Catalogue are the image catalogue's images, used or not.
	Catalogue []ImageUse `json:"catalogue"`
	// Other are images in use that the catalogue does not have.
	Other []ImageUse `json:"other"`
}

// ImageUse is one image and how many tools and pods use it. Name is the
// catalogue name (empty outside the catalogue).
type ImageUse struct {
	Name  string `json:"name,omitempty"`
	Ref   string `json:"ref"`
	State string `json:"state,omitempty"`
	Tools int    `json:"tools"`
	Pods  int    `json:"pods"`
}
