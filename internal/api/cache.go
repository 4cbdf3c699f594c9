package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jobsserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// The API's cache holds what its handlers read, and nothing else. Objects
// are watched cluster-wide (one watch per kind, as the API server likes
// it), but only those of tool namespaces are kept: a namespace is a tool's
// by its tenancy label, which only the accounts controller sets (tools may
// not write namespaces), while the framework's labels on an object are
// anyone's to set. Of what is kept, the transforms below keep only the
// fields the handlers read: a tool's annotations (256 KiB each object),
// environment, volumes and termination messages never reach memory past
// the decoder.

// CachedKinds are the kinds the API reads from its cache.
func CachedKinds() []client.Object {
	return []client.Object{&batchv1.Job{}, &batchv1.CronJob{}, &appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{},
		&corev1.Pod{}, &corev1.LimitRange{}, &corev1.ResourceQuota{}, &corev1.Namespace{}}
}

// newCache watches what the API reads: the framework's objects and pods
// (by label), limits and quotas, in tool namespaces only.
func newCache(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, mapper meta.RESTMapper) (cache.Cache, error) {
	owned := labels.SelectorFromSet(labels.Set{tenancy.LabelManagedBy: tenancy.ManagedByJobs})
	tools := &toolNamespaces{set: make(chan struct{})}
	byObject := map[client.Object]cache.ByObject{
		&batchv1.Job{}:          {Label: owned},
		&batchv1.CronJob{}:      {Label: owned},
		&appsv1.Deployment{}:    {Label: owned},
		&corev1.Service{}:       {Label: owned},
		&networkingv1.Ingress{}: {Label: owned},
		&corev1.Pod{}:           {Label: owned},
		&corev1.LimitRange{}:    {},
		&corev1.ResourceQuota{}: {},
		&corev1.Namespace{}:     {Label: labels.SelectorFromSet(labels.Set{tenancy.LabelTenancy: tenancy.TenancyTool})},
	}
	c, err := cache.New(cfg, cache.Options{
		Scheme:                       scheme,
		Mapper:                       mapper,
		ByObject:                     byObject,
		DefaultTransform:             strip,
		DefaultUnsafeDisableDeepCopy: ptr.To(true),
		NewInformer:                  tools.newInformer,
	})
	if err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	// Namespaces first: every other informer waits for them.
	for _, obj := range CachedKinds() {
		if _, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return nil, fmt.Errorf("informer for %T: %w", obj, err)
		}
	}
	return c, nil
}

// toolNamespaces filters what the informers of namespaced kinds list and
// watch by the namespaces informer's view of the tool namespaces.
type toolNamespaces struct {
	once   sync.Once
	set    chan struct{} // closed once namespaces is
	ns     toolscache.SharedIndexInformer
	synced bool
	mu     sync.Mutex
}

// newInformer is cache.Options.NewInformer: the namespaces informer as
// usual (it is the filter), every other one behind the filter.
func (t *toolNamespaces) newInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	if _, ok := obj.(*corev1.Namespace); ok {
		inf := toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
		t.once.Do(func() { t.ns = inf; close(t.set) })
		return inf
	}
	inner := toolscache.ToListerWatcherWithContext(lw)
	filtered := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			if err := t.wait(ctx); err != nil {
				return nil, err
			}
			list, err := inner.ListWithContext(ctx, opts)
			if err != nil {
				return nil, err
			}
			return list, t.filterList(list)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			if err := t.wait(ctx); err != nil {
				return nil, err
			}
			w, err := inner.WatchWithContext(ctx, opts)
			if err != nil {
				return nil, err
			}
			return watch.Filter(w, t.keepEvent), nil
		},
	}
	return toolscache.NewSharedIndexInformer(filtered, obj, resync, indexers)
}

// wait returns once the tool namespaces are known.
func (t *toolNamespaces) wait(ctx context.Context) error {
	select {
	case <-t.set:
	case <-ctx.Done():
		return ctx.Err()
	}
	t.mu.Lock()
	synced := t.synced
	t.mu.Unlock()
	if synced {
		return nil
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), t.ns.HasSynced) {
		return fmt.Errorf("tool namespaces not known: %w", context.Cause(ctx))
	}
	t.mu.Lock()
	t.synced = true
	t.mu.Unlock()
	return nil
}

// isTool says whether ns is a tool's namespace now. A namespace that
// becomes a tool's later has its objects cached from their next change.
func (t *toolNamespaces) isTool(ns string) bool {
	_, exists, err := t.ns.GetIndexer().GetByKey(ns)
	return err == nil && exists
}

func (t *toolNamespaces) filterList(list runtime.Object) error {
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	kept := items[:0]
	for _, it := range items {
		if o, ok := it.(metav1.Object); ok && t.isTool(o.GetNamespace()) {
			kept = append(kept, it)
		}
	}
	return meta.SetList(list, kept)
}

// keepEvent drops additions and changes of objects outside tool
// namespaces. Deletions always pass: an object cached while its namespace
// was a tool's must go when it goes.
func (t *toolNamespaces) keepEvent(e watch.Event) (watch.Event, bool) {
	if e.Type != watch.Added && e.Type != watch.Modified {
		return e, true
	}
	o, ok := e.Object.(metav1.Object)
	return e, !ok || t.isTool(o.GetNamespace())
}

// strip keeps of each object what the handlers read (internal/jobs/server:
// listing, status, drift, read-your-writes by resource version). It must
// be idempotent: client-go may hand it an object it already stripped.
func strip(obj any) (any, error) {
	switch o := obj.(type) {
	case *batchv1.Job:
		return &batchv1.Job{
			ObjectMeta: stripMeta(o.ObjectMeta, true),
			Spec:       batchv1.JobSpec{Suspend: o.Spec.Suspend, Template: stripTemplate(o.Spec.Template)},
			Status: batchv1.JobStatus{
				Conditions: o.Status.Conditions, Active: o.Status.Active, Failed: o.Status.Failed, Succeeded: o.Status.Succeeded,
				StartTime: o.Status.StartTime, CompletionTime: o.Status.CompletionTime,
			},
		}, nil
	case *batchv1.CronJob:
		out := &batchv1.CronJob{
			ObjectMeta: stripMeta(o.ObjectMeta, true),
			Spec: batchv1.CronJobSpec{
				Schedule: o.Spec.Schedule, Suspend: o.Spec.Suspend,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: stripTemplate(o.Spec.JobTemplate.Spec.Template)}},
			},
			Status: batchv1.CronJobStatus{LastScheduleTime: o.Status.LastScheduleTime, LastSuccessfulTime: o.Status.LastSuccessfulTime},
		}
		for _, a := range o.Status.Active {
			out.Status.Active = append(out.Status.Active, corev1.ObjectReference{Name: a.Name})
		}
		return out, nil
	case *appsv1.Deployment:
		out := &appsv1.Deployment{
			ObjectMeta: stripMeta(o.ObjectMeta, true),
			Spec:       appsv1.DeploymentSpec{Replicas: o.Spec.Replicas, Template: stripTemplate(o.Spec.Template)},
			// What a components deployment's rollout check reads too
			// (jobsserver.Store.Rollout).
			Status: appsv1.DeploymentStatus{ReadyReplicas: o.Status.ReadyReplicas, ObservedGeneration: o.Status.ObservedGeneration,
				Replicas: o.Status.Replicas, UpdatedReplicas: o.Status.UpdatedReplicas, AvailableReplicas: o.Status.AvailableReplicas},
		}
		out.Generation = o.Generation
		for _, c := range o.Status.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure || (c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse) {
				out.Status.Conditions = append(out.Status.Conditions, appsv1.DeploymentCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
			}
		}
		return out, nil
	case *corev1.Service:
		return &corev1.Service{ObjectMeta: stripMeta(o.ObjectMeta, false), Spec: corev1.ServiceSpec{Ports: o.Spec.Ports}}, nil
	case *networkingv1.Ingress:
		// A published job's route is its first rule.
		out := &networkingv1.Ingress{ObjectMeta: stripMeta(o.ObjectMeta, false)}
		if len(o.Spec.Rules) > 0 {
			out.Spec.Rules = o.Spec.Rules[:1:1]
		}
		return out, nil
	case *corev1.Pod:
		return stripPod(o), nil
	case *corev1.Namespace:
		m := stripMeta(o.ObjectMeta, false)
		m.Labels = pickLabels(o.Labels, tenancy.LabelTenancy, tenancy.LabelTool, tenancy.LabelUID)
		// The admins' quota overrides (toolforge-admin quota set): the
		// build service reads the registry's storage there. Tools cannot
		// write namespaces.
		if q, ok := o.Annotations[tenancy.AnnotationQuota]; ok {
			m.Annotations = map[string]string{tenancy.AnnotationQuota: q}
		}
		return &corev1.Namespace{ObjectMeta: m}, nil
	case *corev1.LimitRange:
		return &corev1.LimitRange{ObjectMeta: stripMeta(o.ObjectMeta, false), Spec: o.Spec}, nil
	case *corev1.ResourceQuota:
		return &corev1.ResourceQuota{
			ObjectMeta: stripMeta(o.ObjectMeta, false),
			Spec:       corev1.ResourceQuotaSpec{Hard: o.Spec.Hard},
			Status:     corev1.ResourceQuotaStatus{Hard: o.Status.Hard, Used: o.Status.Used},
		}, nil
	}
	return obj, nil
}

// frameworkLabels are the labels the handlers select and read by.
var frameworkLabels = []string{
	tenancy.LabelToolforge, tenancy.LabelManagedBy, tenancy.LabelCreatedBy, tenancy.LabelComponent, tenancy.LabelAppName,
}

// stripMeta keeps identity, version, times and the framework's labels;
// of annotations, a job's stored definition when definition is set.
func stripMeta(m metav1.ObjectMeta, definition bool) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
		Labels: pickLabels(m.Labels, frameworkLabels...),
	}
	if d, ok := m.Annotations[jobsserver.AnnotationDefinition]; ok && definition {
		out.Annotations = map[string]string{jobsserver.AnnotationDefinition: d}
	}
	return out
}

func pickLabels(l map[string]string, keys ...string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := l[k]; ok {
			if out == nil {
				out = make(map[string]string, len(keys))
			}
			out[k] = v
		}
	}
	return out
}

// stripTemplate keeps what drift and a recovered definition read of the
// containers: name, image, command, arguments and limits.
func stripTemplate(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	out := corev1.PodTemplateSpec{}
	for _, c := range t.Spec.Containers {
		out.Spec.Containers = append(out.Spec.Containers, corev1.Container{
			Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args,
			Resources: corev1.ResourceRequirements{Limits: c.Resources.Limits},
		})
	}
	return out
}

// stripPod keeps a pod's phase and its containers' states: what status,
// hints and exit codes are made of; of its spec, only the containers'
// limits (the LimitRange fills them in on the pod, not on its template),
// which usage is measured against.
func stripPod(p *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{ObjectMeta: stripMeta(p.ObjectMeta, false), Status: corev1.PodStatus{Phase: p.Status.Phase}}
	for _, c := range p.Spec.Containers {
		out.Spec.Containers = append(out.Spec.Containers, corev1.Container{
			Name: c.Name, Resources: corev1.ResourceRequirements{Limits: c.Resources.Limits},
		})
	}
	for _, cs := range p.Status.ContainerStatuses {
		out.Status.ContainerStatuses = append(out.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: cs.Name, RestartCount: cs.RestartCount,
			State: stripState(cs.State), LastTerminationState: stripState(cs.LastTerminationState),
		})
	}
	return out
}

// stripState drops a terminated container's message: what it wrote to its
// termination log, which is anything it likes.
func stripState(s corev1.ContainerState) corev1.ContainerState {
	var out corev1.ContainerState
	if w := s.Waiting; w != nil {
		out.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
	}
	if r := s.Running; r != nil {
		out.Running = &corev1.ContainerStateRunning{StartedAt: r.StartedAt}
	}
	if t := s.Terminated; t != nil {
		out.Terminated = &corev1.ContainerStateTerminated{Reason: t.Reason, ExitCode: t.ExitCode, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
	}
	return out
}
