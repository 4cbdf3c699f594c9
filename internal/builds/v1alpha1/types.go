// Package v1alpha1 is the build service's own state: the Build custom
// resource (builds.toolforge.org) in the image-build namespace, one per
// build, so that `kubectl get builds -n image-build` shows them and a
// restart of the platform loses nothing. The API server creates a Build;
// the builds controller runs it (a Kubernetes Job) and writes its status.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and version of the platform's CRDs.
const (
	Group   = "toolforge.org"
	Version = "v1alpha1"
)

// GroupVersion is this package's API group and version.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// Namespace is where builds, their Jobs and pods live; tools can neither
// read nor write there.
const Namespace = "image-build"

// Labels every build object (the Build, its Job, pod and token Secret)
// carries, so that a tool's builds are found by label.
const (
	LabelTool  = "toolforge.org/tool"
	LabelBuild = "toolforge.org/build"
)

// Phases of a build.
const (
	PhasePending   = "Pending"
	PhaseRunning   = "Running"
	PhaseSucceeded = "Succeeded"
	PhaseFailed    = "Failed"
	PhaseCancelled = "Cancelled"
	PhaseTimedOut  = "TimedOut"
)

// Build is one build of a tool's git repository into its image.
type Build struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BuildSpec   `json:"spec"`
	Status            BuildStatus `json:"status,omitempty"`
}

// BuildSpec is what was asked.
type BuildSpec struct {
	Tool      string `json:"tool"`
	SourceURL string `json:"sourceURL"`
	Ref       string `json:"ref,omitempty"`
	// ImageName is the repository's last component: the image is
	// <registry>/tool-<tool>/<imageName>.
	ImageName         string            `json:"imageName"`
	Envvars           map[string]string `json:"envvars,omitempty"`
	UseLatestVersions bool              `json:"useLatestVersions,omitempty"`
	// Cancelled asks the controller to stop the build.
	Cancelled bool `json:"cancelled,omitempty"`
}

// BuildStatus is what happened.
type BuildStatus struct {
	Phase   string `json:"phase,omitempty"`
	Message string `json:"message,omitempty"`
	// Image is the tag the build pushes; Digest is the manifest digest
	// it pushed, once it has.
	Image          string       `json:"image,omitempty"`
	Digest         string       `json:"digest,omitempty"`
	StartTime      *metav1.Time `json:"startTime,omitempty"`
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Job is the Job running the build; its pod keeps the log.
	Job string `json:"job,omitempty"`
	// Size is the bytes of the image's blobs (config and layers).
	Size int64 `json:"size,omitempty"`
}

// Finished says whether the build has ended.
func (s BuildStatus) Finished() bool {
	switch s.Phase {
	case PhaseSucceeded, PhaseFailed, PhaseCancelled, PhaseTimedOut:
		return true
	}
	return false
}

// BuildList is a list of builds.
type BuildList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Build `json:"items"`
}

// AddToScheme registers the types.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Build{}, &BuildList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// DeepCopyInto copies s into out.
func (s *BuildSpec) DeepCopyInto(out *BuildSpec) {
	*out = *s
	if s.Envvars != nil {
		out.Envvars = make(map[string]string, len(s.Envvars))
		for k, v := range s.Envvars {
			out.Envvars[k] = v
		}
	}
}

// DeepCopyInto copies s into out.
func (s *BuildStatus) DeepCopyInto(out *BuildStatus) {
	*out = *s
	if s.StartTime != nil {
		out.StartTime = s.StartTime.DeepCopy()
	}
	if s.CompletionTime != nil {
		out.CompletionTime = s.CompletionTime.DeepCopy()
	}
}

// DeepCopyInto copies b into out.
func (b *Build) DeepCopyInto(out *Build) {
	out.TypeMeta = b.TypeMeta
	b.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	b.Spec.DeepCopyInto(&out.Spec)
	b.Status.DeepCopyInto(&out.Status)
}

// DeepCopy copies b.
func (b *Build) DeepCopy() *Build {
	if b == nil {
		return nil
	}
	out := new(Build)
	b.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (b *Build) DeepCopyObject() runtime.Object { return b.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (l *BuildList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &BuildList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]Build, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}

// DeepCopy copies s.
func (s *BuildStatus) DeepCopy() *BuildStatus {
	out := new(BuildStatus)
	s.DeepCopyInto(out)
	return out
}
