// Package pagestest is a pages.Source over a fixed set of objects, for
// tests of the pages and of the server without a cluster.
package pagestest

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/toolforge-go/toolforge/internal/images"
)

// Source holds objects; zero value is an empty cluster.
type Source struct {
	PodList        []*corev1.Pod
	NodeList       []*corev1.Node
	NamespaceList  []*corev1.Namespace
	QuotaList      []*corev1.ResourceQuota
	DeploymentList []*appsv1.Deployment
	JobList        []*batchv1.Job
	CronJobList    []*batchv1.CronJob
	IngressList    []*networkingv1.Ingress
	Cat            *images.Catalogue
	KubeVersion    string
	// PublishedWebURL is the platform's web URL template ("" the default).
	PublishedWebURL string
	// UsedCPU and UsedMemory are the metrics API's, when HasUsage.
	UsedCPU, UsedMemory float64
	HasUsage            bool
}

func inNS[T interface{ GetNamespace() string }](all []T, ns string) []T {
	var out []T
	for _, o := range all {
		if ns == "" || o.GetNamespace() == ns {
			out = append(out, o)
		}
	}
	return out
}

func (s *Source) Pods(ns string) []*corev1.Pod { return inNS(s.PodList, ns) }

func (s *Source) PodsOnNode(node string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range s.PodList {
		if p.Spec.NodeName == node {
			out = append(out, p)
		}
	}
	return out
}

func (s *Source) Pod(ns, name string) (*corev1.Pod, bool) {
	for _, p := range s.PodList {
		if p.Namespace == ns && p.Name == name {
			return p, true
		}
	}
	return nil, false
}

func (s *Source) Nodes() []*corev1.Node { return s.NodeList }

func (s *Source) Node(name string) (*corev1.Node, bool) {
	for _, n := range s.NodeList {
		if n.Name == name {
			return n, true
		}
	}
	return nil, false
}

func (s *Source) Namespaces() []*corev1.Namespace { return s.NamespaceList }

func (s *Source) Namespace(name string) (*corev1.Namespace, bool) {
	for _, n := range s.NamespaceList {
		if n.Name == name {
			return n, true
		}
	}
	return nil, false
}

func (s *Source) Quotas(ns string) []*corev1.ResourceQuota { return inNS(s.QuotaList, ns) }

func (s *Source) Deployments(ns string) []*appsv1.Deployment { return inNS(s.DeploymentList, ns) }

func (s *Source) Jobs(ns string) []*batchv1.Job { return inNS(s.JobList, ns) }

func (s *Source) CronJobs(ns string) []*batchv1.CronJob { return inNS(s.CronJobList, ns) }

func (s *Source) Ingresses(ns string) []*networkingv1.Ingress { return inNS(s.IngressList, ns) }

func (s *Source) Catalogue() *images.Catalogue {
	if s.Cat == nil {
		return images.Builtin()
	}
	return s.Cat
}

func (s *Source) Version() string { return s.KubeVersion }

func (s *Source) WebURL() string { return s.PublishedWebURL }

func (s *Source) Usage() (cpu, memory float64, ok bool) { return s.UsedCPU, s.UsedMemory, s.HasUsage }
