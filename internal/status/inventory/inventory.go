// Package inventory is the cluster as the status page sees it: one watch
// cache (informer) per kind the pages show, each object stripped by a
// transform to what the pages use, and indexes to find a namespace's or a
// node's objects without scanning. Reading it never calls the API server.
package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	networkinginformers "k8s.io/client-go/informers/networking/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// nodeIndex finds the pods on a node.
const nodeIndex = "node"

// Inventory holds the caches. Objects it returns are shared with the
// caches: callers must not change them.
type Inventory struct {
	kube       kubernetes.Interface
	metrics    rest.Interface
	log        *slog.Logger
	platformNS string

	pods, nodes, namespaces, quotas, deployments, jobs, cronjobs, ingresses, catalogue, published cache.SharedIndexInformer

	version atomic.Pointer[string]
	usage   atomic.Pointer[Usage]
	synced  atomic.Bool

	catMu  sync.Mutex
	catRV  string
	catVal *images.Catalogue
}

// New makes the caches (not yet running) reading with cfg.
func New(cfg *rest.Config, platformNS string, log *slog.Logger) (*Inventory, error) {
	plain, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("status caches: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	// Protobuf is cheaper to decode than JSON for the thousands of pods
	// listed at start.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("status caches: %w", err)
	}
	// The metrics API is read as JSON, whatever its provider.
	inv := &Inventory{kube: kube, metrics: plain.Discovery().RESTClient(), log: log, platformNS: platformNS}
	ns := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	all := metav1.NamespaceAll
	// Only the platform's workloads are shown; hand-made Deployments, Jobs
	// and CronJobs of tools are neither cached nor listed.
	managed, err := labels.NewRequirement(tenancy.LabelManagedBy, selection.In, []string{tenancy.ManagedByWeb, tenancy.ManagedByJobs})
	if err != nil {
		return nil, err
	}
	byManaged := func(o *metav1.ListOptions) { o.LabelSelector = labels.NewSelector().Add(*managed).String() }
	byName := func(name string) func(*metav1.ListOptions) {
		return func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}
	}
	inv.pods = coreinformers.NewPodInformer(kube, all, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc, nodeIndex: podNode})
	inv.nodes = coreinformers.NewNodeInformer(kube, 0, cache.Indexers{})
	inv.namespaces = coreinformers.NewNamespaceInformer(kube, 0, cache.Indexers{})
	inv.quotas = coreinformers.NewResourceQuotaInformer(kube, all, 0, ns)
	inv.deployments = appsinformers.NewFilteredDeploymentInformer(kube, all, 0, ns, byManaged)
	inv.jobs = batchinformers.NewFilteredJobInformer(kube, all, 0, ns, byManaged)
	inv.cronjobs = batchinformers.NewFilteredCronJobInformer(kube, all, 0, ns, byManaged)
	inv.ingresses = networkinginformers.NewIngressInformer(kube, all, 0, ns)
	inv.catalogue = coreinformers.NewFilteredConfigMapInformer(kube, platformNS, 0, cache.Indexers{}, byName(tenancy.ImagesConfigMap))
	// What the platform publishes to tools (its web URL template), read as
	// the CLI reads it.
	inv.published = coreinformers.NewFilteredConfigMapInformer(kube, platformNS, 0, cache.Indexers{}, byName(tenancy.APIConfigMap))
	tr := newTransformer()
	for _, inf := range inv.informers() {
		if err := inf.SetTransform(tr.transform); err != nil {
			return nil, fmt.Errorf("status caches: %w", err)
		}
	}
	return inv, nil
}

func (inv *Inventory) informers() []cache.SharedIndexInformer {
	return []cache.SharedIndexInformer{inv.pods, inv.nodes, inv.namespaces, inv.quotas, inv.deployments, inv.jobs, inv.cronjobs, inv.ingresses, inv.catalogue, inv.published}
}

func podNode(obj any) ([]string, error) {
	if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
		return []string{p.Spec.NodeName}, nil
	}
	return nil, nil
}

// Start runs the caches until ctx ends (a manager.Runnable). It returns
// an error if they cannot fill within a few minutes (no permission to
// list a kind, an unreachable API server).
func (inv *Inventory) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	go inv.refreshVersion(ctx)
	go inv.refreshUsage(ctx)
	syncCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var synced []cache.InformerSynced
	for _, inf := range inv.informers() {
		wg.Go(func() { inf.Run(ctx.Done()) })
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(syncCtx.Done(), synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("status caches did not fill in 5 minutes (see the log for the failing list)")
	}
	// Filling the caches decoded every object whole before the transforms
	// kept a sliver of it: give that garbage back to the system now rather
	// than over the next minutes.
	debug.FreeOSMemory()
	inv.synced.Store(true)
	inv.log.Info("status caches synced")
	<-ctx.Done()
	return nil
}

// NeedLeaderElection is false: every replica serves the page.
func (inv *Inventory) NeedLeaderElection() bool { return false }

// Synced says whether every cache has filled.
func (inv *Inventory) Synced() bool { return inv.synced.Load() }

// refreshVersion reads the API server's version now and then (it changes
// only on upgrades).
func (inv *Inventory) refreshVersion(ctx context.Context) {
	for {
		if v, err := inv.kube.Discovery().ServerVersion(); err == nil {
			s := v.GitVersion
			inv.version.Store(&s)
		} else {
			inv.log.Warn("read the Kubernetes version", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Minute):
		}
	}
}

// Version is the API server's version (empty until read).
func (inv *Inventory) Version() string {
	if v := inv.version.Load(); v != nil {
		return *v
	}
	return ""
}

// Catalogue is the image catalogue: the ConfigMap's, or the built-in one
// when there is none (or it does not parse).
func (inv *Inventory) Catalogue() *images.Catalogue {
	objs := inv.catalogue.GetStore().List()
	if len(objs) == 0 {
		return images.Builtin()
	}
	cm := objs[0].(*corev1.ConfigMap)
	inv.catMu.Lock()
	defer inv.catMu.Unlock()
	if inv.catVal != nil && inv.catRV == cm.ResourceVersion {
		return inv.catVal
	}
	cat, err := images.Parse([]byte(cm.Data[images.ConfigMapKey]))
	if err != nil {
		inv.log.Warn("image catalogue ConfigMap does not parse; showing the built-in one", "err", err)
		cat = images.Builtin()
	}
	inv.catRV, inv.catVal = cm.ResourceVersion, cat
	return cat
}

// WebURL is the template of a web service's public URL ({host}) that the
// platform publishes to tools; "" when nothing is published (the default).
func (inv *Inventory) WebURL() string {
	cm, ok := get[corev1.ConfigMap](inv.published, key(inv.platformNS, tenancy.APIConfigMap))
	if !ok {
		return ""
	}
	return cm.Data[tenancy.APIConfigWebURL]
}

func byIndex[T any](inf cache.SharedIndexInformer, index, value string) []*T {
	objs, err := inf.GetIndexer().ByIndex(index, value)
	if err != nil {
		return nil // only for an index that does not exist: a bug caught by tests
	}
	return typed[T](objs)
}

func typed[T any](objs []any) []*T {
	out := make([]*T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(*T); ok {
			out = append(out, t)
		}
	}
	return out
}

func get[T any](inf cache.SharedIndexInformer, key string) (*T, bool) {
	obj, ok, err := inf.GetStore().GetByKey(key)
	if err != nil || !ok {
		return nil, false
	}
	t, ok := obj.(*T)
	return t, ok
}

func key(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// Pods of a namespace; all pods for "".
func (inv *Inventory) Pods(ns string) []*corev1.Pod {
	if ns == "" {
		return typed[corev1.Pod](inv.pods.GetStore().List())
	}
	return byIndex[corev1.Pod](inv.pods, cache.NamespaceIndex, ns)
}

// PodsOnNode are the pods bound to a node.
func (inv *Inventory) PodsOnNode(node string) []*corev1.Pod {
	return byIndex[corev1.Pod](inv.pods, nodeIndex, node)
}

// Pod finds a pod.
func (inv *Inventory) Pod(ns, name string) (*corev1.Pod, bool) {
	return get[corev1.Pod](inv.pods, key(ns, name))
}

// Nodes are every node.
func (inv *Inventory) Nodes() []*corev1.Node { return typed[corev1.Node](inv.nodes.GetStore().List()) }

// Node finds a node.
func (inv *Inventory) Node(name string) (*corev1.Node, bool) {
	return get[corev1.Node](inv.nodes, name)
}

// Namespaces are every namespace.
func (inv *Inventory) Namespaces() []*corev1.Namespace {
	return typed[corev1.Namespace](inv.namespaces.GetStore().List())
}

// Namespace finds a namespace.
func (inv *Inventory) Namespace(name string) (*corev1.Namespace, bool) {
	return get[corev1.Namespace](inv.namespaces, name)
}

// Quotas of a namespace.
func (inv *Inventory) Quotas(ns string) []*corev1.ResourceQuota {
	return byIndex[corev1.ResourceQuota](inv.quotas, cache.NamespaceIndex, ns)
}

// Deployments of the platform (web services, continuous jobs) in a
// namespace; all for "".
func (inv *Inventory) Deployments(ns string) []*appsv1.Deployment {
	if ns == "" {
		return typed[appsv1.Deployment](inv.deployments.GetStore().List())
	}
	return byIndex[appsv1.Deployment](inv.deployments, cache.NamespaceIndex, ns)
}

// Jobs of the jobs framework in a namespace.
func (inv *Inventory) Jobs(ns string) []*batchv1.Job {
	return byIndex[batchv1.Job](inv.jobs, cache.NamespaceIndex, ns)
}

// CronJobs of the jobs framework in a namespace; all for "".
func (inv *Inventory) CronJobs(ns string) []*batchv1.CronJob {
	if ns == "" {
		return typed[batchv1.CronJob](inv.cronjobs.GetStore().List())
	}
	return byIndex[batchv1.CronJob](inv.cronjobs, cache.NamespaceIndex, ns)
}

// Ingresses of a namespace.
func (inv *Inventory) Ingresses(ns string) []*networkingv1.Ingress {
	return byIndex[networkingv1.Ingress](inv.ingresses, cache.NamespaceIndex, ns)
}
