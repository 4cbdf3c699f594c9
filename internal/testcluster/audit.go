package testcluster

import (
	"bytes"
	"context"
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
