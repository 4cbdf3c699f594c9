package wire

import "time"

// ToolList is /tools/: every tool, active first.
type ToolList struct {
	Page
	// Query is the search (?q=) the list was filtered by.
	Query  string        `json:"query,omitempty"`
	Active []ToolSummary `json:"active"`
	Idle   []ToolSummary `json:"idle"`
}

// ToolSummary is a tool in the list.
type ToolSummary struct {
	Name       string `json:"name"`
	WebService bool   `json:"webService"`
	Jobs       int    `json:"jobs"`
	Pods       int    `json:"pods"`
	Problems   int    `json:"problems"`
}

// Tool is /tools/<t>/.
type Tool struct {
	Page
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Active    bool   `json:"active"`
	// WebService is nil when the tool runs none.
	WebService   *WebService `json:"webService"`
	Jobs         []Job       `json:"jobs"`
	Pods         []Pod       `json:"pods"`
	Quota        []Quota     `json:"quota"`
	IngressHosts []string    `json:"ingressHosts"`
	// Events are the platform's last events about the tool's jobs and web
	// service, newest first, when the platform keeps logs (EventsKept).
	Events     []Event `json:"events,omitempty"`
	EventsKept bool    `json:"eventsKept"`
}

// Event is one of the platform's events about a tool's workload.
type Event struct {
	Time time.Time `json:"time"`
	// Of and Name are the workload: job or webservice, and its name.
	Of    string `json:"of"`
	Name  string `json:"name"`
	Event string `json:"event"`
	// Message is the platform's words (what a container's health check
	// said is not shown on this public page).
	Message string `json:"message"`
}

// WebService is a tool's web service.
type WebService struct {
	Type     string `json:"type"`
	URL      string `json:"url,omitempty"`
	State    string `json:"state"`
	Replicas int32  `json:"replicas"`
	Ready    int32  `json:"ready"`
}

// Job types.
const (
	JobOneOff     = "one-off"
	JobScheduled  = "scheduled"
	JobContinuous = "continuous"
)

// Job is a jobs-framework job.
type Job struct {
	Name     string     `json:"name"`
	Type     string     `json:"type"`
	Schedule string     `json:"schedule,omitempty"`
	Command  string     `json:"command"`
	Image    string     `json:"image"`
	State    string     `json:"state"`
	LastRun  *time.Time `json:"lastRun,omitempty"`
	Restarts int32      `json:"restarts"`
}

// Pod is a pod in a tool's list.
type Pod struct {
	Name string `json:"name"`
	// Owner is what runs it: "webservice", "job <name>", or empty.
	Owner    string    `json:"owner,omitempty"`
	Phase    string    `json:"phase"`
	Ready    string    `json:"ready"`
	Restarts int32     `json:"restarts"`
	Created  time.Time `json:"created"`
	Image    string    `json:"image"`
	Node     string    `json:"node,omitempty"`
}

// Quota is one resource of a tool's quota: used of hard, as the quota
// reports them, and their ratio for the bar (0 when hard is zero).
type Quota struct {
	Resource string  `json:"resource"`
	Used     string  `json:"used"`
	Hard     string  `json:"hard"`
	Fraction float64 `json:"fraction"`
}

// PodDetail is /tools/<t>/pods/<pod>/.
type PodDetail struct {
	Page
	Tool           string      `json:"tool"`
	Name           string      `json:"name"`
	Phase          string      `json:"phase"`
	Reason         string      `json:"reason,omitempty"`
	Node           string      `json:"node,omitempty"`
	Created        time.Time   `json:"created"`
	Started        *time.Time  `json:"started,omitempty"`
	Owner          string      `json:"owner,omitempty"`
	InitContainers []Container `json:"initContainers,omitempty"`
	Containers     []Container `json:"containers"`
}

// Container of a pod: never its environment.
type Container struct {
	Name      string            `json:"name"`
	Image     string            `json:"image"`
	Ready     bool              `json:"ready"`
	Restarts  int32             `json:"restarts"`
	State     ContainerState    `json:"state"`
	LastState *ContainerState   `json:"lastState,omitempty"`
	Requests  map[string]string `json:"requests,omitempty"`
	Limits    map[string]string `json:"limits,omitempty"`
	Mounts    []Mount           `json:"mounts,omitempty"`
}

// ContainerState is running, waiting or terminated, with why.
type ContainerState struct {
	State    string     `json:"state"`
	Reason   string     `json:"reason,omitempty"`
	ExitCode *int32     `json:"exitCode,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
}

// Mount is a volume mount.
type Mount struct {
	Volume   string `json:"volume"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly"`
}
