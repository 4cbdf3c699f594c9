package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/smtp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/toolforge-go/toolforge/internal/daemon"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Options are the notifier's own flags; the SMTP server is the platform's
// (--smtp-server, shared with the API, which refuses --emails without it).
type Options struct {
	From     string
	To       string
	Interval time.Duration
}

// Service is `toolforged notifier`.
type Service struct{ opts Options }

// NewService returns the notifier with the original's defaults: mail from
// root@toolforge.org to tools.<tool>@tools.wmflabs.org (the tool's
// maintainers' alias), composed every 150 s.
func NewService() *Service {
	return &Service{opts: Options{From: "root@toolforge.org", To: "tools.{tool}@tools.wmflabs.org", Interval: 150 * time.Second}}
}

func (s *Service) Name() string { return "notifier" }

func (s *Service) Short() string {
	return "Mail tools about their jobs' runs (--emails), one batched message per tool per interval"
}

func (s *Service) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.opts.From, "mail-from", s.opts.From, "sender of job notifications")
	fs.StringVar(&s.opts.To, "mail-to", s.opts.To, "recipient of a tool's job notifications; {tool} is the tool's name")
	fs.DurationVar(&s.opts.Interval, "mail-interval", s.opts.Interval, "how often each tool's pending notifications are sent, as one message")
}

// Setup starts the notifier when the platform has an SMTP server; in
// `toolforged all` without one there is nothing to do (and the API refuses
// --emails other than none).
func (s *Service) Setup(ctx context.Context, mgr manager.Manager, env *daemon.Env) error {
	if env.Common.SMTPServer == "" {
		if env.Standalone {
			return daemon.Usagef("toolforged notifier needs --smtp-server host:port")
		}
		env.Log.Info("no --smtp-server: job notifications are off", "service", "notifier")
		return nil
	}
	if s.opts.Interval < time.Second {
		return daemon.Usagef("--mail-interval must be at least 1s (got %s)", s.opts.Interval)
	}
	if !strings.Contains(s.opts.To, "{tool}") {
		return daemon.Usagef("--mail-to %q must name the tool with {tool}", s.opts.To)
	}
	kube, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	n := &notifier{
		kube: kube, opts: s.opts, server: env.Common.SMTPServer,
		log: env.Log.With("service", "notifier"), batch: newBatch(), metrics: newMetrics(),
		send: smtp.SendMail,
	}
	return mgr.Add(n)
}

// notifier watches the jobs' pods and sends the batches. Only the leader
// runs it, so each event is mailed once.
type notifier struct {
	kube    kubernetes.Interface
	opts    Options
	server  string
	log     *slog.Logger
	batch   *batch
	metrics *metrics
	send    func(addr string, a smtp.Auth, from string, to []string, msg []byte) error
}

func (n *notifier) NeedLeaderElection() bool { return true }

// selector picks the pods of jobs that asked for notifications.
func selector() string {
	managed, _ := labels.NewRequirement(tenancy.LabelManagedBy, selection.Equals, []string{tenancy.ManagedByJobs})
	emails, _ := labels.NewRequirement(tenancy.EmailsLabel, selection.In, []string{emailsAll, emailsOnFinish, emailsOnFailure})
	return labels.NewSelector().Add(*managed, *emails).String()
}

func (n *notifier) Start(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(n.kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector() }))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		// As the original, only changes seen while running count: pods
		// that were already there when it started were told of before.
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
					n.batch.forget(tool, p.Name)
				}
			}
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	n.log.Info("watching jobs for notifications", "smtp", n.server, "interval", n.opts.Interval)
	tick := time.NewTicker(n.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// What is pending goes out before stopping.
			n.flush()
			return nil
		case <-tick.C:
			n.flush()
		}
	}
}

// observe records a pod's state if its job wants to hear of it.
func (n *notifier) observe(p *corev1.Pod) {
	tool, ok := tenancy.ToolOfNamespace(p.Namespace)
	if !ok || p.DeletionTimestamp != nil || p.Labels[tenancy.LabelToolforge] != tenancy.ToolforgeTool || p.Labels[tenancy.LabelCreatedBy] != tool {
		return
	}
	emails := p.Labels[tenancy.EmailsLabel]
	e := eventOf(p)
	if !relevant(emails, e) {
		return
	}
	if n.batch.add(tool, p.Labels[tenancy.LabelAppName], jobType(p), emails, e) {
		n.metrics.events.Inc()
		n.log.Debug("job event queued", "tool", tool, "pod", p.Name, "state", e.State, "exit_code", e.ExitCode)
	}
}

// flush sends one message per tool with pending events.
func (n *notifier) flush() {
	for tool, jobs := range n.batch.take() {
		to := strings.ReplaceAll(n.opts.To, "{tool}", tool)
		msg := message(n.opts.From, to, subject(tool, jobs), body(tool, jobs), time.Now())
		if err := n.send(n.server, nil, n.opts.From, []string{to}, msg); err != nil {
			n.metrics.failed.Inc()
			n.log.Error("job notification not sent", "tool", tool, "to", to, "smtp", n.server, "err", err)
			continue
		}
		n.metrics.sent.Inc()
		n.log.Info("job notification sent", "tool", tool, "to", to, "jobs", len(jobs))
	}
}

// message is an RFC 5322 plain text message.
func message(from, to, subject, body string, now time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, to, subject, now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%d.%s>\r\n", now.UnixNano(), strings.TrimPrefix(from[strings.LastIndex(from, "@")+1:], "@"))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

type metrics struct{ events, sent, failed prometheus.Counter }

func newMetrics() *metrics {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "toolforge_notifier_events_total", Help: "Job events queued for notification."}),
		sent:   prometheus.NewCounter(prometheus.CounterOpts{Name: "toolforge_notifier_emails_sent_total", Help: "Notification messages sent."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "toolforge_notifier_emails_failed_total", Help: "Notification messages the SMTP server did not take."}),
	}
	for _, c := range []prometheus.Collector{m.events, m.sent, m.failed} {
		_ = ctrlmetrics.Registry.Register(c)
	}
	return m
}
