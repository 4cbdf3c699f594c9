package server

import (
	"sync"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// changes counts, per namespace, the changes the cache has seen (a
// generation bumped by every watch event and by every write of this
// process) and wakes whoever waits for the next one. Lists are cached per
// generation; writes wait for the cache by it.
type changes struct {
	mu   sync.Mutex
	gen  map[string]uint64
	wake map[string]chan struct{}
}

// current is the namespace's generation and a channel closed at its next
// change.
func (c *changes) current(ns string) (uint64, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wake == nil {
		c.gen, c.wake = map[string]uint64{}, map[string]chan struct{}{}
	}
	ch, ok := c.wake[ns]
	if !ok {
		ch = make(chan struct{})
		c.wake[ns] = ch
	}
	return c.gen[ns], ch
}

func (c *changes) bump(ns string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wake == nil {
		c.gen, c.wake = map[string]uint64{}, map[string]chan struct{}{}
	}
	c.gen[ns]++
	if ch, ok := c.wake[ns]; ok {
		close(ch)
		delete(c.wake, ns)
	}
}

// EventHandler is to be registered on the informers whose objects a job
// list shows (jobs, cronjobs, deployments, services, limit ranges, quotas,
// namespaces): each event marks its namespace changed.
func (s *Store) EventHandler() toolscache.ResourceEventHandler {
	ns := func(obj any) string {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		o, ok := obj.(client.Object)
		if !ok {
			return ""
		}
		if o.GetNamespace() == "" {
			return o.GetName() // a Namespace changes its own
		}
		return o.GetNamespace()
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.changed(ns(obj)) },
		UpdateFunc: func(_, obj any) { s.changed(ns(obj)) },
		DeleteFunc: func(obj any) { s.changed(ns(obj)) },
	}
}

func (s *Store) changed(ns string) {
	if ns == "" {
		return
	}
	s.changes.bump(ns)
	s.listMu.Lock()
	delete(s.lists, ns)
	s.listMu.Unlock()
}
