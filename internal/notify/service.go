package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
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
	// RetryMax caps the wait between attempts at a tool's message the
	// SMTP server did not take (it doubles from Interval).
	RetryMax time.Duration
}

// Service is `toolforged notifier`.
type Service struct{ opts Options }

// NewService returns the notifier with the original's defaults: mail from
// root@toolforge.org to tools.<tool>@tools.wmflabs.org (the tool's
// maintainers' alias), composed every 150 s.
func NewService() *Service {
	return &Service{opts: Options{From: "root@toolforge.org", To: "tools.{tool}@tools.wmflabs.org", Interval: 150 * time.Second, RetryMax: 20 * time.Minute}}
}

func (s *Service) Name() string { return "notifier" }

func (s *Service) Short() string {
	return "Mail tools about their jobs' runs (--emails), one batched message per tool per interval"
}

func (s *Service) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.opts.From, "mail-from", s.opts.From, "sender of job notifications")
	fs.StringVar(&s.opts.To, "mail-to", s.opts.To, "recipient of a tool's job notifications; {tool} is the tool's name")
	fs.DurationVar(&s.opts.Interval, "mail-interval", s.opts.Interval, "how often each tool's pending notifications are sent, as one message")
	fs.DurationVar(&s.opts.RetryMax, "mail-retry-max", s.opts.RetryMax, "longest wait before trying again a message the SMTP server did not take (waits double from --mail-interval)")
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
	if s.opts.RetryMax < s.opts.Interval {
		return daemon.Usagef("--mail-retry-max %s is shorter than --mail-interval %s", s.opts.RetryMax, s.opts.Interval)
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
		store: &stateStore{kube: kube, ns: env.Common.PlatformNamespace},
		log:   env.Log.With("service", "notifier"), metrics: newMetrics(),
		send: func(addr, from string, to []string, msg []byte) error {
			return sendMail(addr, from, to, msg, smtpTimeout)
		},
		now: time.Now,
	}
	return mgr.Add(n)
}

// smtpTimeout bounds one message's conversation with the SMTP server.
const smtpTimeout = 30 * time.Second

// sendMail is net/smtp's SendMail with a deadline on the whole
// conversation.
func sendMail(addr, from string, to []string, msg []byte, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	// The server has taken the message once it answers the end of data:
	// what fails after that does not make it untaken.
	if err := w.Close(); err != nil {
		return err
	}
	_ = c.Quit()
	return nil
}

// selector picks the pods of jobs that asked for notifications.
func selector() string {
	managed, _ := labels.NewRequirement(tenancy.LabelManagedBy, selection.Equals, []string{tenancy.ManagedByJobs})
	emails, _ := labels.NewRequirement(tenancy.EmailsLabel, selection.In, []string{emailsAll, emailsOnFinish, emailsOnFailure})
	return labels.NewSelector().Add(*managed, *emails).String()
}

// message is an RFC 5322 plain text message.
func message(from, to, subject, body, id string, now time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, to, subject, now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: %s\r\n", id)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

type metrics struct {
	events, sent, failed prometheus.Counter
	pending              prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		events:  prometheus.NewCounter(prometheus.CounterOpts{Name: "toolforge_notifier_events_total", Help: "Job events queued for notification."}),
		sent:    prometheus.NewCounter(prometheus.CounterOpts{Name: "toolforge_notifier_emails_sent_total", Help: "Notification messages the SMTP server took."}),
		failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "toolforge_notifier_emails_failed_total", Help: "Attempts at a notification message the SMTP server did not take (each is tried again)."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "toolforge_notifier_pending_events", Help: "Job events waiting to be mailed, kept in the cluster."}),
	}
	for _, c := range []prometheus.Collector{m.events, m.sent, m.failed, m.pending} {
		_ = ctrlmetrics.Registry.Register(c)
	}
	return m
}
