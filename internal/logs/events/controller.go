package events

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/logs/store"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// lookback is how far before it started leading the controller writes
// what it finds (after checking the store does not have it): older events
// were written by the leader of their time.
const lookback = 10 * time.Minute

// Controller watches tools' workloads, their pods and the Kubernetes
// events about them, and writes the events. Only the leader runs it.
type Controller struct {
	Kube  kubernetes.Interface
	Store *store.Client
	Log   *slog.Logger

	started time.Time
	queue   chan Event
	written *seen
	metrics *metrics
}

func (c *Controller) NeedLeaderElection() bool { return true }

// workloads are the platform's objects in tool namespaces.
func workloads() string {
	r, _ := labels.NewRequirement(tenancy.LabelManagedBy, selection.In, []string{tenancy.ManagedByJobs, tenancy.ManagedByWeb})
	return labels.NewSelector().Add(*r).String()
}

func (c *Controller) Start(ctx context.Context) error {
	c.started = time.Now()
	c.queue = make(chan Event, 10000)
	c.written = newSeen(100000)
	owned := informers.NewSharedInformerFactoryWithOptions(c.Kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = workloads() }))
	kubeEvents := informers.NewSharedInformerFactoryWithOptions(c.Kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "involvedObject.kind=Pod" }))
	pods := owned.Core().V1().Pods()
	handlers := map[toolscache.SharedIndexInformer]toolscache.ResourceEventHandler{
		pods.Informer(): toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.pod(obj) },
			UpdateFunc: func(_, obj any) { c.pod(obj) },
		},
		kubeEvents.Core().V1().Events().Informer(): toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.kubeEvent(obj, pods.Lister()) },
			UpdateFunc: func(_, obj any) { c.kubeEvent(obj, pods.Lister()) },
		},
	}
	for _, inf := range []toolscache.SharedIndexInformer{owned.Batch().V1().Jobs().Informer(), owned.Batch().V1().CronJobs().Informer(), owned.Apps().V1().Deployments().Informer()} {
		handlers[inf] = toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if m, ok := obj.(metav1.Object); ok {
					c.emit(created(m))
				}
			},
			UpdateFunc: func(old, obj any) {
				o, ok1 := old.(metav1.Object)
				m, ok2 := obj.(metav1.Object)
				if ok1 && ok2 {
					c.emit(updated(o, m, time.Now()))
				}
			},
			DeleteFunc: func(obj any) {
				if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				if m, ok := obj.(metav1.Object); ok {
					c.emit(deleted(m, time.Now()))
				}
			},
		}
	}
	for inf, h := range handlers {
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
	}
	owned.Start(ctx.Done())
	kubeEvents.Start(ctx.Done())
	defer owned.Shutdown()
	defer kubeEvents.Shutdown()
	c.Log.Info("writing tools' workload events to the log store", "store", c.Store.URL())
	c.write(ctx)
	return nil
}

func (c *Controller) pod(obj any) {
	if p, ok := obj.(*corev1.Pod); ok {
		for _, e := range runs(p) {
			c.emit(e, true)
		}
	}
}

func (c *Controller) kubeEvent(obj any, pods corelisters.PodLister) {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return
	}
	if _, ok := tenancy.ToolOfNamespace(ev.Namespace); !ok {
		return
	}
	p, err := pods.Pods(ev.Namespace).Get(ev.InvolvedObject.Name)
	if err != nil {
		return
	}
	c.emit(fromKubernetes(ev, p))
}

// emit queues an event (never blocking the informers: a full queue drops
// it, counted).
func (c *Controller) emit(e Event, ok bool) {
	if !ok || e.Time.Before(c.started.Add(-lookback)) {
		return
	}
	select {
	case c.queue <- e:
	default:
		c.metrics.dropped.Inc()
	}
}

// write writes queued events, in order, until ctx ends; a store that is
// down is waited for.
func (c *Controller) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-c.queue:
			for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
				err := c.writeOne(ctx, e)
				if err == nil || !store.IsUnavailable(err) {
					if err != nil {
						c.Log.Error("write an event", "tool", e.Tool, "id", e.ID, "err", err)
					}
					break
				}
				c.Log.Warn("the log store is unavailable; the event waits", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(delay):
				}
			}
		}
	}
}

func (c *Controller) writeOne(ctx context.Context, e Event) error {
	if c.written.has(e.ID) {
		return nil
	}
	t := store.TenantOf(e.Tool)
	if e.Time.Before(c.started) {
		// Perhaps written by an earlier leader.
		recs, err := c.Store.Select(ctx, t, store.Query{
			LogsQL: store.Stream(store.FieldKind, logs.KindEvent) + " " + store.Exact(store.FieldEventID, e.ID),
			Start:  e.Time.Add(-time.Minute), Limit: 1,
		})
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			c.written.add(e.ID)
			return nil
		}
	}
	if err := c.Store.Insert(ctx, t, line(e)); err != nil {
		return err
	}
	c.written.add(e.ID)
	c.metrics.written.WithLabelValues(e.Reason).Inc()
	return nil
}

// line is the event as the store keeps it.
func line(e Event) []byte {
	fields := map[string]string{
		store.FieldTime: e.Time.UTC().Format(time.RFC3339Nano), store.FieldMsg: e.Message,
		store.FieldKind: logs.KindEvent, store.FieldOf: e.Of, store.FieldName: e.Name,
		store.FieldEvent: e.Reason, store.FieldEventID: e.ID,
	}
	if e.Pod != "" {
		fields[store.FieldPod] = e.Pod
	}
	if e.Container != "" {
		fields[store.FieldContainer] = e.Container
	}
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(fields)
	return b.Bytes()
}

// seen remembers the ids written lately (a bounded set, the oldest
// forgotten first).
type seen struct {
	max   int
	ids   map[string]struct{}
	order []string
}

func newSeen(max int) *seen { return &seen{max: max, ids: map[string]struct{}{}} }

func (s *seen) has(id string) bool { _, ok := s.ids[id]; return ok }

func (s *seen) add(id string) {
	if s.has(id) {
		return
	}
	s.ids[id] = struct{}{}
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
}
