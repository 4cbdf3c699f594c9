// Package v1alpha1 is the components service's state in a tool's
// namespace: its ComponentConfig (the components file, one per tool,
// named config) and its ComponentDeployments (one per deployment, the
// newest 25 kept), custom resources of toolforge.org, so that `kubectl get
// componentdeployments` shows them and a migration or backup of the
// namespace carries them. The deploy token is a Secret beside them.
package v1alpha1

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/toolforge-go/toolforge/internal/components"
)

// Group and version of the platform's CRDs.
const (
	Group   = "toolforge.org"
	Version = "v1alpha1"
)

// GroupVersion is this package's API group and version.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// ConfigName names a tool's one ComponentConfig; TokenSecret its deploy
// token's Secret.
const (
	ConfigName  = "config"
	TokenSecret = "toolforge-components-deploy-token"
	// LabelTool marks a deployment's tool.
	LabelTool = "toolforge.org/tool"
)

// Phases of a deployment (the original's statuses).
const (
	PhasePending    = components.StatusPending
	PhaseRunning    = components.StatusRunning
	PhaseSuccessful = components.StatusSuccessful
	PhaseFailed     = components.StatusFailed
)

// ComponentConfig is a tool's components file.
type ComponentConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              components.Config `json:"spec"`
}

// ComponentConfigList is a list of configs.
type ComponentConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ComponentConfig `json:"items"`
}

// ComponentDeployment is one deployment of a tool's components.
type ComponentDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              DeploymentSpec   `json:"spec"`
	Status            DeploymentStatus `json:"status,omitempty"`
}

// DeploymentSpec is what was asked: the file as it was then, and the
// options.
type DeploymentSpec struct {
	Tool       string            `json:"tool"`
	Config     components.Config `json:"config"`
	ForceBuild bool              `json:"forceBuild,omitempty"`
	ForceRun   bool              `json:"forceRun,omitempty"`
	Prune      bool              `json:"prune,omitempty"`
}

// DeploymentStatus is how far the deployment got.
type DeploymentStatus struct {
	Phase          string                     `json:"phase,omitempty"`
	Message        string                     `json:"message,omitempty"`
	StartTime      *metav1.Time               `json:"startTime,omitempty"`
	CompletionTime *metav1.Time               `json:"completionTime,omitempty"`
	Components     map[string]ComponentStatus `json:"components,omitempty"`
}

// ComponentStatus is one component's build and run steps.
type ComponentStatus struct {
	// Commit is what the component's ref named when the deployment
	// started: the build is of it.
	Commit       string `json:"commit,omitempty"`
	BuildID      string `json:"buildID,omitempty"`
	BuildStatus  string `json:"buildStatus,omitempty"`
	BuildMessage string `json:"buildMessage,omitempty"`
	Image        string `json:"image,omitempty"`
	RunStatus    string `json:"runStatus,omitempty"`
	RunMessage   string `json:"runMessage,omitempty"`
}

// Finished says whether the deployment has ended.
func (s DeploymentStatus) Finished() bool {
	return s.Phase == PhaseSuccessful || s.Phase == PhaseFailed
}

// ComponentDeploymentList is a list of deployments.
type ComponentDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ComponentDeployment `json:"items"`
}

// AddToScheme registers the types.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ComponentConfig{}, &ComponentConfigList{}, &ComponentDeployment{}, &ComponentDeploymentList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// deepCopy copies a value through its JSON form: every field of these
// types is JSON, and the file's nested maps and pointers are copied whole.
func deepCopy[T any](in *T) *T {
	if in == nil {
		return nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// DeepCopy copies c.
func (c *ComponentConfig) DeepCopy() *ComponentConfig { return deepCopy(c) }

// DeepCopyObject implements runtime.Object.
func (c *ComponentConfig) DeepCopyObject() runtime.Object { return c.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (l *ComponentConfigList) DeepCopyObject() runtime.Object { return deepCopy(l) }

// DeepCopy copies d.
func (d *ComponentDeployment) DeepCopy() *ComponentDeployment { return deepCopy(d) }

// DeepCopyObject implements runtime.Object.
func (d *ComponentDeployment) DeepCopyObject() runtime.Object { return d.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (l *ComponentDeploymentList) DeepCopyObject() runtime.Object { return deepCopy(l) }
