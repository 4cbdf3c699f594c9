package cluster

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// RestartNode reboots a real node of the running cluster in dir: its
// sandbox ends (and with it containerd, kubelet, kube-proxy and every
// container, as a reboot would), the supervisor starts it again, and this
// returns once the node is Ready again with new processes.
func RestartNode(ctx context.Context, dir, name string, timeout time.Duration, msgs io.Writer) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	l := Layout{Dir: abs}
	if !running(l) {
		return fmt.Errorf("devcluster in %s is not running", abs)
	}
	st, err := l.readState()
	if err != nil {
		return err
	}
	old := sandboxPID(st, name)
	if old == 0 || !isOurs(old, abs) {
		return UsageError{fmt.Sprintf("no real node %q in %s (real nodes: node-1 … node-%d)", name, abs, st.Nodes)}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig())
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(msgs, "restarting node %s (sandbox pid %d)\n", name, old)
	// Heartbeats have a resolution of a second: one after this is the
	// new kubelet's.
	since := time.Now().Truncate(time.Second).Add(time.Second)
	if err := syscall.Kill(old, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop node %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if st, err := l.readState(); err == nil {
			if pid := sandboxPID(st, name); pid != 0 && pid != old && nodeReadySince(ctx, client, name, since) {
				fmt.Fprintf(msgs, "node %s is Ready again (sandbox pid %d)\n", name, pid)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready again after %s (logs in %s)", name, timeout, l.LogDir())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sandboxPID(st State, node string) int {
	for _, p := range st.Procs {
		if p.Name == node+"/sandbox" {
			return p.PID
		}
	}
	return 0
}

// nodeReadySince says whether the node's kubelet reported it Ready at or
// after since.
func nodeReadySince(ctx context.Context, c kubernetes.Interface, name string, since time.Time) bool {
	n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue && !cond.LastHeartbeatTime.Time.Before(since)
		}
	}
	return false
}
