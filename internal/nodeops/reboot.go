package nodeops

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodePlaceholder in a reboot command stands for the node's name.
const NodePlaceholder = "{node}"

// RebootOptions are how the rolling reboot works.
type RebootOptions struct {
	// Command reboots one node (restarts its kubelet and container
	// runtime), run by sh -c with {node} replaced by the node's name
	// (shell-quoted): on devcluster `devcluster node restart --dir D
	// {node}`, in production whatever reboots a worker. It may return
	// once the node is back or right after starting the reboot.
	Command      string
	Drain        DrainOptions
	ReadyTimeout time.Duration
}

// RebootResult is one node's reboot.
type RebootResult struct {
	Node   string       `json:"node"`
	Done   bool         `json:"done"`
	Step   string       `json:"step,omitempty"` // where it stopped
	Error  string       `json:"error,omitempty"`
	Drain  *DrainReport `json:"drain,omitempty"`
	Took   string       `json:"took,omitempty"`
	BootID string       `json:"bootID,omitempty"`
}

// Workers are the nodes that are not control-plane nodes, matching
// selector (a label selector, "" for all), sorted by name.
func (o *Ops) Workers(ctx context.Context, selector string) ([]string, error) {
	list, err := o.nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []string
	for _, n := range list.Items {
		_, cp := n.Labels[roleLabelPrefix+"control-plane"]
		_, master := n.Labels[roleLabelPrefix+"master"]
		if !cp && !master {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("no worker nodes match %q", selector)
	}
	return out, nil
}

// ErrNoRebootCommand says how to configure the reboot step.
var ErrNoRebootCommand = errors.New("no reboot command: give --reboot-command, e.g. --reboot-command 'devcluster node restart --dir DIR {node}' on devcluster, or the command that reboots a worker in production ({node} is replaced by the node's name)")

// Reboot reboots nodes one at a time as the reboot cookbook does: drain,
// reboot, wait until the node is Ready again, uncordon; it stops at the
// first failure, leaving that node cordoned and the rest untouched.
func (o *Ops) Reboot(ctx context.Context, nodes []string, opts RebootOptions) ([]RebootResult, error) {
	if strings.TrimSpace(opts.Command) == "" {
		return nil, ErrNoRebootCommand
	}
	for _, n := range nodes {
		if err := nodeExists(ctx, o.Write, n); err != nil {
			return nil, err
		}
	}
	var results []RebootResult
	for i, n := range nodes {
		o.say("[%d/%d] rebooting node %s", i+1, len(nodes), n)
		res := o.rebootOne(ctx, n, opts)
		results = append(results, res)
		if !res.Done {
			rest := ""
			if i+1 < len(nodes) {
				rest = fmt.Sprintf("; not rebooted: %s", strings.Join(nodes[i+1:], ", "))
			}
			return results, fmt.Errorf("node %s: %s failed: %s; it stays cordoned%s", n, res.Step, res.Error, rest)
		}
	}
	return results, nil
}

func (o *Ops) rebootOne(ctx context.Context, node string, opts RebootOptions) RebootResult {
	start := o.clock()
	res := RebootResult{Node: node}
	fail := func(step string, err error) RebootResult {
		res.Step, res.Error = step, err.Error()
		return res
	}
	report, err := o.Drain(ctx, node, opts.Drain)
	res.Drain = &report
	if err != nil {
		return fail("drain", err)
	}
	before, err := o.nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return fail("reboot", err)
	}
	commandStart := metav1.Now().Rfc3339Copy() // heartbeats have a resolution of a second
	if err := o.runRebootCommand(ctx, node, opts.Command); err != nil {
		return fail("reboot", err)
	}
	bootID, err := o.waitRebooted(ctx, node, before.Status.NodeInfo.BootID, commandStart.Time, opts.ReadyTimeout)
	if err != nil {
		return fail("wait for Ready", err)
	}
	res.BootID = bootID
	if _, err := o.SetSchedulable(ctx, node, true); err != nil {
		return fail("uncordon", err)
	}
	res.Done = true
	res.Took = o.clock().Sub(start).Round(time.Second).String()
	o.say("node %s rebooted and uncordoned (%s)", node, res.Took)
	return res
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (o *Ops) runRebootCommand(ctx context.Context, node, command string) error {
	line := strings.ReplaceAll(command, NodePlaceholder, shellQuote(node))
	o.say("running: %s", line)
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Stdout, cmd.Stderr = o.Progress, o.Progress
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("reboot command %q: %w", line, err)
	}
	return nil
}

// waitRebooted waits for the node to be Ready after its reboot: Ready, and
// either a new boot id (a machine's reboot) or a status its kubelet posted
// after the command started (a restarted kubelet, as on devcluster, whose
// nodes share the host's boot id).
func (o *Ops) waitRebooted(ctx context.Context, node, oldBootID string, since time.Time, timeout time.Duration) (string, error) {
	o.say("waiting up to %s for node %s to be Ready again", timeout, node)
	deadline := o.clock().Add(timeout)
	var last string
	for {
		n, err := o.nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil {
			c := readyCondition(n)
			rebooted := n.Status.NodeInfo.BootID != oldBootID || (c != nil && !c.LastHeartbeatTime.Time.Before(since))
			switch {
			case c == nil:
				last = "no Ready condition"
			case c.Status != corev1.ConditionTrue:
				last = fmt.Sprintf("Ready=%s (%s)", c.Status, c.Reason)
			case !rebooted:
				last = "Ready, but its kubelet has not reported since the reboot"
			default:
				o.say("node %s is Ready", node)
				return n.Status.NodeInfo.BootID, nil
			}
		} else {
			last = err.Error()
		}
		if !o.clock().Before(deadline) {
			return "", fmt.Errorf("node %s not Ready again after %s: %s", node, timeout, last)
		}
		if err := wait(ctx, time.Second); err != nil {
			return "", err
		}
	}
}
