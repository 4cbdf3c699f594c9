// Package pages builds the status page's views (the structs of package
// wire) from the watch caches: one function per page, reading objects the
// caches already hold and never the API server.
package pages

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/status/wire"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Source is what the pages read: the inventory's caches (or a test's
// objects). Returned objects are shared and never changed.
type Source interface {
	Pods(ns string) []*corev1.Pod
	PodsOnNode(node string) []*corev1.Pod
	Pod(ns, name string) (*corev1.Pod, bool)
	Nodes() []*corev1.Node
	Node(name string) (*corev1.Node, bool)
	Namespaces() []*corev1.Namespace
	Namespace(name string) (*corev1.Namespace, bool)
	Quotas(ns string) []*corev1.ResourceQuota
	Deployments(ns string) []*appsv1.Deployment
	Jobs(ns string) []*batchv1.Job
	CronJobs(ns string) []*batchv1.CronJob
	Ingresses(ns string) []*networkingv1.Ingress
	Catalogue() *images.Catalogue
	// WebURL is the published template of a web service's public URL
	// ({host}); "" is the default.
	WebURL() string
	Version() string
	// Usage is the CPU (cores) and memory (bytes) in use on the nodes;
	// ok is false when the cluster has no metrics API.
	Usage() (cpu, memory float64, ok bool)
}

// Builder builds pages from Src; Now is the observation time (time.Now
// when nil).
type Builder struct {
	Src Source
	Now func() time.Time
	// Events are a tool's last events from the log store; nil when the
	// platform keeps no logs.
	Events func(tool string) []wire.Event
}

// NotFoundError names what a page asked for and the cluster lacks.
type NotFoundError struct{ Kind, Name string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.Kind, e.Name) }

func (b *Builder) page() wire.Page {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	return wire.Page{ObservedAt: now().UTC().Truncate(time.Second)}
}

// toolOf says which tool a namespace belongs to, by its labels (the
// accounts controller's), so that a namespace merely named tool-x is not
// taken for one.
func toolOf(ns *corev1.Namespace) (string, bool) {
	if ns.Labels[tenancy.LabelTenancy] != tenancy.TenancyTool {
		return "", false
	}
	if t := ns.Labels[tenancy.LabelTool]; t != "" {
		return t, true
	}
	return tenancy.ToolOfNamespace(ns.Name)
}

// toolNamespace finds tool t's namespace, or a NotFoundError.
func (b *Builder) toolNamespace(t string) (*corev1.Namespace, error) {
	if tenancy.ValidateName(t) == nil {
		if ns, ok := b.Src.Namespace(tenancy.Namespace(t)); ok {
			if got, ok := toolOf(ns); ok && got == t {
				return ns, nil
			}
		}
	}
	return nil, &NotFoundError{Kind: "tool", Name: t}
}

// finished pods hold no resources and are not "running workloads".
func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// active says whether a namespace runs anything: a pod that has not
// finished, or a scheduled job that will run.
func (b *Builder) active(ns string) bool {
	for _, p := range b.Src.Pods(ns) {
		if !finished(p) {
			return true
		}
	}
	for _, c := range b.Src.CronJobs(ns) {
		if c.Spec.Suspend == nil || !*c.Spec.Suspend {
			return true
		}
	}
	return false
}

func podRef(p *corev1.Pod, tool string) wire.PodRef {
	return wire.PodRef{Namespace: p.Namespace, Name: p.Name, Tool: tool, Phase: string(p.Status.Phase)}
}

// toolOfNamespaceName is the tool of a namespace by name, when it is a
// tool's namespace.
func (b *Builder) toolOfNamespaceName(name string) string {
	if ns, ok := b.Src.Namespace(name); ok {
		if t, ok := toolOf(ns); ok {
			return t
		}
	}
	return ""
}

func sortPodRefs(refs []wire.PodRef) {
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].Namespace != refs[j].Namespace {
			return refs[i].Namespace < refs[j].Namespace
		}
		return refs[i].Name < refs[j].Name
	})
}

func matches(name, query string) bool {
	return query == "" || strings.Contains(name, strings.ToLower(query))
}
