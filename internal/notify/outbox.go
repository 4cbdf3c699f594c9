package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// notifier watches the jobs' pods, keeps what is to be told in the
// cluster (state.go) and mails it. It runs on the leader only: one
// notifier writes the state and sends. Its informer's handlers only pass
// what they see to one loop, which owns the state: it records events
// (within a second), sends each tool's message every interval, and
// retries what the SMTP server did not take, with backoff.
type notifier struct {
	kube    kubernetes.Interface
	opts    Options
	server  string
	store   *stateStore
	log     *slog.Logger
	metrics *metrics
	send    func(addr, from string, to []string, msg []byte) error
	now     func() time.Time

	mu    sync.Mutex
	inbox []observation
	kick  chan struct{}

	// The loop's own.
	since time.Time
	tools map[string]*stored
}

// observation is what a handler saw: an event of a job of tool, or (gone)
// that a pod of tool is gone, or (exists) the pods of every tool at start.
type observation struct {
	tool   string
	q      queued
	gone   string
	exists map[string]map[string]bool
}

func (n *notifier) NeedLeaderElection() bool { return true }

// persistRetry is how soon a state that could not be written is tried
// again.
const persistRetry = 2 * time.Second

func (n *notifier) Start(ctx context.Context) error {
	n.kick = make(chan struct{}, 1)
	if !n.retry(ctx, "read the notifier's state", func() (err error) {
		if n.since, err = n.store.since(ctx, n.now()); err != nil {
			return err
		}
		n.tools, err = n.store.load(ctx)
		return err
	}) {
		return nil
	}
	pending := 0
	for _, st := range n.tools {
		pending += len(st.state.Pending)
	}
	n.log.Info("pending notifications read from the cluster", "tools", len(n.tools), "events", pending, "since", n.since)

	factory := informers.NewSharedInformerFactoryWithOptions(n.kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector() }))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		// Pods found at start are looked at too: what happened while no
		// notifier ran is told now (runs that ended before the first
		// notifier started are not; see since).
		AddFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				n.observe(p)
			}
		},
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				n.observe(p)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				if tool, ok := tenancy.ToolOfNamespace(p.Namespace); ok {
					n.post(observation{tool: tool, gone: p.Name})
				}
			}
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil
	}
	// The memory of pods deleted while no notifier ran goes.
	exists := map[string]map[string]bool{}
	for _, obj := range inf.GetStore().List() {
		p := obj.(*corev1.Pod)
		if tool, ok := tenancy.ToolOfNamespace(p.Namespace); ok {
			if exists[tool] == nil {
				exists[tool] = map[string]bool{}
			}
			exists[tool][p.Name] = true
		}
	}
	n.post(observation{exists: exists})
	n.log.Info("watching jobs for notifications", "smtp", n.server, "interval", n.opts.Interval)

	tick := time.NewTicker(n.opts.Interval)
	defer tick.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			// What was seen is recorded before stopping; what is pending
			// waits in the cluster for the next leader.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			n.drain()
			n.persist(final)
			cancel()
			return nil
		case <-n.kick:
		case <-tick.C:
			n.drain()
			if n.persist(ctx) {
				n.flush(ctx)
			}
		case <-retry:
		}
		n.drain()
		retry = nil
		if !n.persist(ctx) {
			retry = time.After(persistRetry)
		}
		n.metrics.pending.Set(float64(n.pendingEvents()))
	}
}

// retry runs f until it works or ctx ends (false).
func (n *notifier) retry(ctx context.Context, what string, f func() error) bool {
	for delay := time.Second; ; delay = min(2*delay, time.Minute) {
		err := f()
		if err == nil {
			return true
		}
		n.log.Error(what+"; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
}

// observe passes a pod's state to the loop if its job wants to hear of it.
func (n *notifier) observe(p *corev1.Pod) {
	tool, ok := tenancy.ToolOfNamespace(p.Namespace)
	if !ok || p.DeletionTimestamp != nil || p.Labels[tenancy.LabelToolforge] != tenancy.ToolforgeTool || p.Labels[tenancy.LabelCreatedBy] != tool {
		return
	}
	emails := p.Labels[tenancy.EmailsLabel]
	e := eventOf(p)
	if !relevant(emails, e) || eventTime(e, p).Before(n.since) {
		return
	}
	n.post(observation{tool: tool, q: queued{Job: p.Labels[tenancy.LabelAppName], Type: jobType(p), Emails: emails, Event: e}})
}

func (n *notifier) post(o observation) {
	n.mu.Lock()
	n.inbox = append(n.inbox, o)
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// drain applies what the handlers saw to the state.
func (n *notifier) drain() {
	n.mu.Lock()
	inbox := n.inbox
	n.inbox = nil
	n.mu.Unlock()
	for _, o := range inbox {
		switch {
		case o.exists != nil:
			for tool, st := range n.tools {
				kept := st.state.Seen[:0]
				for _, k := range st.state.Seen {
					if o.exists[tool][podOfKey(k)] {
						kept = append(kept, k)
					}
				}
				if len(kept) != len(st.state.Seen) {
					st.state.Seen, st.dirty = kept, true
				}
			}
		case o.gone != "":
			if st := n.tools[o.tool]; st != nil {
				kept := st.state.Seen[:0]
				for _, k := range st.state.Seen {
					if podOfKey(k) != o.gone {
						kept = append(kept, k)
					}
				}
				if len(kept) != len(st.state.Seen) {
					st.state.Seen, st.dirty = kept, true
				}
			}
		default:
			st := n.tools[o.tool]
			if st == nil {
				st = &stored{}
				n.tools[o.tool] = st
			}
			key := o.q.Event.key()
			if st.state.seen(key) {
				continue
			}
			st.state.Seen = append(st.state.Seen, key)
			st.state.queue(o.q)
			st.dirty = true
			n.metrics.events.Inc()
			n.log.Debug("job event queued", "tool", o.tool, "pod", o.q.Event.Pod, "state", o.q.Event.State, "exit_code", o.q.Event.ExitCode)
		}
	}
}

// podOfKey is the pod of an event key (event.key).
func podOfKey(k string) string {
	pod, _, _ := strings.Cut(k, "/")
	return pod
}

// persist writes every changed tool's state; false when some could not be.
func (n *notifier) persist(ctx context.Context) bool {
	ok := true
	for _, tool := range n.sortedTools() {
		st := n.tools[tool]
		if st.dirty && !n.save(ctx, tool, st) {
			ok = false
		}
	}
	return ok
}

// save writes one tool's state. A conflict means another process wrote
// it (a leader that has not noticed it no longer leads): its state is
// taken, and what only this one saw added to it.
func (n *notifier) save(ctx context.Context, tool string, st *stored) bool {
	err := n.store.save(ctx, tool, st)
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		theirs, rerr := n.store.reload(ctx, tool)
		if rerr != nil {
			n.log.Error("pending notifications not written; retrying", "tool", tool, "err", rerr)
			return false
		}
		merge(&theirs.state, &st.state)
		*st = *theirs
		err = n.store.save(ctx, tool, st)
	}
	if err != nil {
		n.log.Error("pending notifications not written; retrying", "tool", tool, "err", err)
		return false
	}
	st.dirty = false
	if st.state.empty() {
		delete(n.tools, tool)
	}
	return true
}

// merge adds to theirs what ours saw and they did not.
func merge(theirs, ours *toolState) {
	for _, q := range ours.Pending {
		if key := q.Event.key(); !theirs.seen(key) {
			theirs.Seen = append(theirs.Seen, key)
			theirs.queue(q)
		}
	}
}

func (n *notifier) sortedTools() []string {
	tools := make([]string, 0, len(n.tools))
	for t := range n.tools {
		tools = append(tools, t)
	}
	sort.Strings(tools)
	return tools
}

func (n *notifier) pendingEvents() int {
	total := 0
	for _, st := range n.tools {
		total += len(st.state.Pending)
	}
	return total
}

// flush sends each tool's due message. When the SMTP server cannot be
// reached the round ends: the others wait for the next.
func (n *notifier) flush(ctx context.Context) {
	for _, tool := range n.sortedTools() {
		st := n.tools[tool]
		if len(st.state.Pending) == 0 || n.now().Before(st.state.Next) {
			continue
		}
		err := n.sendOne(ctx, tool, st)
		var netErr net.Error
		if errors.As(err, &netErr) || errors.Is(err, errUnrecorded) {
			return
		}
	}
}

// errUnrecorded is a message not sent because the record of its sending
// could not be written first.
var errUnrecorded = errors.New("the sending could not be recorded")

// sendOne sends tool's pending events as one message. The sending is
// recorded first (what is sent, under which Message-ID); the events leave
// the state once the server has taken it. A failed attempt keeps both, so
// that the retry sends the same events under the same Message-ID.
func (n *notifier) sendOne(ctx context.Context, tool string, st *stored) error {
	if st.state.Sending == nil {
		st.state.Sending = &sending{MessageID: messageID(n.opts.From), Events: len(st.state.Pending), Since: n.now().UTC()}
		st.dirty = true
		if !n.save(ctx, tool, st) {
			st.state.Sending = nil
			return errUnrecorded
		}
	}
	s := st.state.Sending
	events := st.state.Pending[:min(s.Events, len(st.state.Pending))]
	jobs := group(events)
	to := strings.ReplaceAll(n.opts.To, "{tool}", tool)
	msg := message(n.opts.From, to, subject(tool, jobs), body(tool, jobs, st.state.Dropped), s.MessageID, n.now())
	if err := n.send(n.server, n.opts.From, []string{to}, msg); err != nil {
		st.state.Failures++
		wait := n.backoff(st.state.Failures)
		st.state.Next = n.now().Add(wait).UTC()
		st.dirty = true
		n.metrics.failed.Inc()
		n.log.Error("job notification not sent; it will be tried again", "tool", tool, "to", to, "smtp", n.server, "events", len(events), "failures", st.state.Failures, "next_in", wait, "err", err)
		return err
	}
	st.state.Pending = append([]queued(nil), st.state.Pending[len(events):]...)
	st.state.Sending, st.state.Failures, st.state.Next, st.state.Dropped = nil, 0, time.Time{}, 0
	st.dirty = true
	n.metrics.sent.Inc()
	n.log.Info("job notification sent", "tool", tool, "to", to, "jobs", len(jobs), "events", len(events), "message_id", s.MessageID)
	// Recorded now, or by the loop's retries: until then a successor
	// would send it again (under the same Message-ID).
	n.save(ctx, tool, st)
	return nil
}

// backoff is the wait after the failures-th failure in a row: the
// interval, doubling, up to RetryMax.
func (n *notifier) backoff(failures int) time.Duration {
	wait := n.opts.Interval
	for i := 1; i < failures && wait < n.opts.RetryMax; i++ {
		wait *= 2
	}
	return min(wait, n.opts.RetryMax)
}

// messageID is a new, unique Message-ID in the sender's domain.
func messageID(from string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	domain := from[strings.LastIndex(from, "@")+1:]
	return "<" + hex.EncodeToString(b) + ".notify@" + domain + ">"
}

// eventTime is when e happened, as near as the pod says.
func eventTime(e event, p *corev1.Pod) time.Time {
	switch {
	case !e.Finished.IsZero():
		return e.Finished
	case !e.Started.IsZero():
		return e.Started
	}
	return p.CreationTimestamp.Time
}
