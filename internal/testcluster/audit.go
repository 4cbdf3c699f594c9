package testcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AuditLogPath is the API server's audit log (Options.AuditLog).
func (c *Cluster) AuditLogPath() string { return filepath.Join(c.Dir, "logs", "audit.log") }

var sentinels atomic.Int64

// AuditSync returns once every API request that completed before it was
// called is in the audit log. It writes a sentinel (a ConfigMap of a unique
// name in default, made and deleted) and waits for the log to hold it: the
// API server writes its log in blocking mode, an event before its response,
// so whatever was answered before the sentinel was sent is logged before
// it. This is how tests wait for the log, never a fixed sleep.
func (c *Cluster) AuditSync(ctx context.Context) error {
	name := fmt.Sprintf("audit-sentinel-%d-%d", os.Getpid(), sentinels.Add(1))
	cms := c.Client.CoreV1().ConfigMaps(metav1.NamespaceDefault)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("audit sentinel: %w", err)
	}
	if err := cms.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("audit sentinel: %w", err)
	}
	needle := []byte(strconv.Quote(name))
	for {
		data, err := os.ReadFile(c.AuditLogPath())
		if err != nil {
			return fmt.Errorf("audit log (is Options.AuditLog set?): %w", err)
		}
		if bytes.Contains(data, needle) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the audit log never showed sentinel %s: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// AuditEvent is what the audit log (Metadata level) says of one write.
type AuditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	UserAgent string `json:"userAgent"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

func (e AuditEvent) String() string {
	r := e.ObjectRef.Resource
	if e.ObjectRef.Subresource != "" {
		r += "/" + e.ObjectRef.Subresource
	}
	return fmt.Sprintf("%s %s %s/%s by %s (%d)", e.Verb, r, e.ObjectRef.Namespace, e.ObjectRef.Name, e.User.Username, e.ResponseStatus.Code)
}

// AuditMark is a position in the audit log: the events after it are those
// of requests made after it was taken.
type AuditMark int64

// AuditMark is the audit log's end now.
func (c *Cluster) AuditMark(ctx context.Context) (AuditMark, error) {
	if err := c.AuditSync(ctx); err != nil {
		return 0, err
	}
	st, err := os.Stat(c.AuditLogPath())
	if err != nil {
		return 0, err
	}
	return AuditMark(st.Size()), nil
}

// AuditEventsSince are the writes logged after mark, every request
// completed before the call included (AuditSync), that keep says to keep.
func (c *Cluster) AuditEventsSince(ctx context.Context, mark AuditMark, keep func(AuditEvent) bool) ([]AuditEvent, error) {
	if err := c.AuditSync(ctx); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(c.AuditLogPath())
	if err != nil {
		return nil, err
	}
	var out []AuditEvent
	for _, line := range bytes.Split(data[min(int(mark), len(data)):], []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev AuditEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("audit log line %q: %w", line, err)
		}
		if keep == nil || keep(ev) {
			out = append(out, ev)
		}
	}
	return out, nil
}
