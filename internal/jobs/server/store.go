package server

import (
	"context"
	"fmt"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Store keeps a tool's jobs as Kubernetes objects in its namespace. It
// reads from an informer cache (fast, and no load on the API server) and
// writes directly; after a write it waits until the cache has seen it, so
// a client that creates a job and then lists its jobs finds it.
type Store struct {
	Reader client.Reader
	Writer client.Client
	// Kube streams pod logs.
	Kube   kubernetes.Interface
	Images func(ctx context.Context) (*images.Catalogue, error)
	// BuiltRegistry is the registry host of tools' built images ("": the
	// platform builds none); BuiltImages lists a tool's own images for
	// `jobs images`.
	BuiltRegistry string
	BuiltImages   func(ctx context.Context, tool string) ([]jobs.ImageInfo, error)
	Log           *slog.Logger
	// CacheWait bounds the wait for the cache to catch up with a write.
	CacheWait time.Duration
	// Domain is what published jobs are routed under: <tool>.<Domain>.
	Domain string
	// WebURL is how the public reaches a published job ({host}: its
	// host); empty is HTTPS on the default port.
	WebURL string
	// Mail says whether the platform sends job notifications (a notifier
	// with an SMTP server runs); without it --emails other than none is
	// refused, not silently ignored.
	Mail bool

	changes changes
	listMu  sync.Mutex
	lists   map[string]*cachedList // by namespace

	pendMu  sync.Mutex
	pending map[string][]pendingWrite // by namespace
}

// pendingWrite is a write the cache may not have seen yet.
type pendingWrite struct {
	obj  client.Object
	gone bool
}

// cachedList is a tool's encoded job list, valid while its namespace's
// generation and the image catalogue are those it was made from.
type cachedList struct {
	gen  uint64
	cat  *images.Catalogue
	body []byte
}

// toolSelector picks every object of the framework in a tool's namespace.
func toolSelector(tool string) client.MatchingLabels {
	return client.MatchingLabels{tenancy.LabelManagedBy: tenancy.ManagedByJobs, tenancy.LabelCreatedBy: tool}
}

// entry is one job found in the namespace: its top object, Service and
// Ingress.
type entry struct {
	def     *jobs.Job
	stored  bool
	obj     client.Object
	service *corev1.Service
	ingress *networkingv1.Ingress
}

// list finds the tool's jobs in the cache, by name.
func (s *Store) list(ctx context.Context, tool string) (map[string]*entry, error) {
	ns := tenancy.Namespace(tool)
	s.fence(ctx, ns)
	sel := toolSelector(tool)
	out := map[string]*entry{}
	add := func(obj client.Object) {
		def, ok := Definition(obj)
		if !ok {
			def = recovered(obj)
		}
		out[def.Name] = &entry{def: def, stored: ok, obj: obj}
	}
	var jl batchv1.JobList
	if err := s.Reader.List(ctx, &jl, client.InNamespace(ns), sel, client.MatchingLabels{tenancy.LabelComponent: componentJobs}); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	for i := range jl.Items {
		add(&jl.Items[i])
	}
	var cl batchv1.CronJobList
	if err := s.Reader.List(ctx, &cl, client.InNamespace(ns), sel); err != nil {
		return nil, fmt.Errorf("list cronjobs: %w", err)
	}
	for i := range cl.Items {
		add(&cl.Items[i])
	}
	var dl appsv1.DeploymentList
	if err := s.Reader.List(ctx, &dl, client.InNamespace(ns), sel); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	for i := range dl.Items {
		add(&dl.Items[i])
	}
	var sl corev1.ServiceList
	if err := s.Reader.List(ctx, &sl, client.InNamespace(ns), sel); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	for i := range sl.Items {
		if e, ok := out[sl.Items[i].Labels[tenancy.LabelAppName]]; ok {
			e.service = &sl.Items[i]
		}
	}
	var il networkingv1.IngressList
	if err := s.Reader.List(ctx, &il, client.InNamespace(ns), sel); err != nil {
		return nil, fmt.Errorf("list ingresses: %w", err)
	}
	for i := range il.Items {
		if e, ok := out[il.Items[i].Labels[tenancy.LabelAppName]]; ok {
			e.ingress = &il.Items[i]
		}
	}
	return out, nil
}

// find is the job name of tool, or nil.
func (s *Store) find(ctx context.Context, tool, name string) (*entry, error) {
	ns := tenancy.Namespace(tool)
	s.fence(ctx, ns)
	key := client.ObjectKey{Namespace: ns, Name: name}
	candidates := []client.Object{&batchv1.Job{}, &batchv1.CronJob{}, &appsv1.Deployment{}}
	for _, obj := range candidates {
		err := s.Reader.Get(ctx, key, obj)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read job %q: %w", name, err)
		}
		l := obj.GetLabels()
		if l[tenancy.LabelManagedBy] != tenancy.ManagedByJobs || l[tenancy.LabelCreatedBy] != tool {
			continue
		}
		if _, isJob := obj.(*batchv1.Job); isJob && l[tenancy.LabelComponent] != componentJobs {
			continue // a run of a scheduled job
		}
		def, ok := Definition(obj)
		if !ok {
			def = recovered(obj)
		}
		e := &entry{def: def, stored: ok, obj: obj}
		var svc corev1.Service
		if err := s.Reader.Get(ctx, key, &svc); err == nil && svc.Labels[tenancy.LabelManagedBy] == tenancy.ManagedByJobs {
			e.service = &svc
		}
		var ing networkingv1.Ingress
		if err := s.Reader.Get(ctx, key, &ing); err == nil && ing.Labels[tenancy.LabelManagedBy] == tenancy.ManagedByJobs {
			e.ingress = &ing
		}
		return e, nil
	}
	return nil, nil
}

// pods are the pods of job name, oldest first.
func (s *Store) pods(ctx context.Context, tool, name string) ([]*corev1.Pod, error) {
	var pl corev1.PodList
	if err := s.Reader.List(ctx, &pl, client.InNamespace(tenancy.Namespace(tool)), toolSelector(tool), client.MatchingLabels{tenancy.LabelAppName: name}); err != nil {
		return nil, fmt.Errorf("list pods of job %q: %w", name, err)
	}
	out := make([]*corev1.Pod, len(pl.Items))
	for i := range pl.Items {
		out[i] = &pl.Items[i]
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].CreationTimestamp, out[j].CreationTimestamp
		if a.Equal(&b) {
			return out[i].Name < out[j].Name
		}
		return a.Before(&b)
	})
	return out, nil
}

// target is what building a tool's objects needs from the cluster.
func (s *Store) target(ctx context.Context, tool string) (Target, error) {
	t := Target{Tool: tool, Domain: s.domain()}
	ns := tenancy.Namespace(tool)
	var nsObj corev1.Namespace
	if err := s.Reader.Get(ctx, client.ObjectKey{Name: ns}, &nsObj); err != nil {
		if apierrors.IsNotFound(err) {
			return t, fmt.Errorf("the namespace of tool %q does not exist (is the tool provisioned?)", tool)
		}
		return t, fmt.Errorf("read namespace %q: %w", ns, err)
	}
	t.UID, _ = strconv.ParseInt(nsObj.Labels[tenancy.LabelUID], 10, 64)
	var lrs corev1.LimitRangeList
	if err := s.Reader.List(ctx, &lrs, client.InNamespace(ns)); err != nil {
		return t, fmt.Errorf("read limit ranges: %w", err)
	}
	if lr := pick(lrs.Items, ns); lr != nil {
		t.Limits.LimitRange = lr
	}
	var rqs corev1.ResourceQuotaList
	if err := s.Reader.List(ctx, &rqs, client.InNamespace(ns)); err != nil {
		return t, fmt.Errorf("read resource quotas: %w", err)
	}
	if rq := pick(rqs.Items, ns); rq != nil {
		t.Limits.Quota = rq
	}
	return t, nil
}

func (s *Store) domain() string {
	if s.Domain == "" {
		return tenancy.DefaultDomain
	}
	return s.Domain
}

// pick prefers the object the accounts controller makes (named after the
// namespace) and otherwise takes the first by name.
func pick[T any, PT interface {
	*T
	client.Object
}](items []T, name string) PT {
	var first PT
	for i := range items {
		p := PT(&items[i])
		if p.GetName() == name {
			return p
		}
		if first == nil || p.GetName() < first.GetName() {
			first = p
		}
	}
	return first
}

// written records a write: the next read of the namespace waits until the
// cache has it (read-your-writes), but the writer's client need not wait
// for the watch to deliver it.
func (s *Store) written(obj client.Object, gone bool) {
	ns := obj.GetNamespace()
	w := pendingWrite{obj: obj.DeepCopyObject().(client.Object), gone: gone}
	s.pendMu.Lock()
	if s.pending == nil {
		s.pending = map[string][]pendingWrite{}
	}
	keep := s.pending[ns][:0]
	for _, p := range s.pending[ns] {
		if !s.cached(context.Background(), p) {
			keep = append(keep, p)
		}
	}
	s.pending[ns] = append(keep, w)
	s.pendMu.Unlock()
	s.changed(ns)
}

// fence waits until the cache has every write recorded for ns.
func (s *Store) fence(ctx context.Context, ns string) {
	s.pendMu.Lock()
	list := append([]pendingWrite(nil), s.pending[ns]...)
	s.pendMu.Unlock()
	if len(list) == 0 {
		return
	}
	for _, p := range list {
		s.waitCached(ctx, p)
	}
	s.pendMu.Lock()
	keep := s.pending[ns][:0]
	for _, p := range s.pending[ns] {
		if !s.cached(ctx, p) {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		delete(s.pending, ns)
	} else {
		s.pending[ns] = keep
	}
	s.pendMu.Unlock()
	s.changed(ns)
}

// cached says whether the cache holds the write: the object at (at least)
// the version written, or, for a deletion, no object of its UID.
func (s *Store) cached(ctx context.Context, w pendingWrite) bool {
	probe := w.obj.DeepCopyObject().(client.Object)
	err := s.Reader.Get(ctx, client.ObjectKeyFromObject(w.obj), probe)
	if w.gone {
		return apierrors.IsNotFound(err) || (err == nil && probe.GetUID() != w.obj.GetUID())
	}
	if err != nil {
		return false
	}
	want, _ := strconv.ParseUint(w.obj.GetResourceVersion(), 10, 64)
	got, _ := strconv.ParseUint(probe.GetResourceVersion(), 10, 64)
	return got >= want
}

// waitCached waits until the cache has write w, waking on the namespace's
// watch events.
func (s *Store) waitCached(ctx context.Context, w pendingWrite) {
	ns := w.obj.GetNamespace()
	wait := s.CacheWait
	if wait == 0 {
		wait = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		_, next := s.changes.current(ns)
		if s.cached(ctx, w) {
			return
		}
		select {
		case <-ctx.Done():
			s.Log.Warn("cache did not catch up with a write", "namespace", ns, "name", w.obj.GetName(), "gone", w.gone)
			return
		case <-next:
		case <-time.After(20 * time.Millisecond): // an event may precede the store's update
		}
	}
}
