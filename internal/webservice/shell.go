package webservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/utils/ptr"
)

// ShellIO is the terminal a shell is attached to.
type ShellIO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// TTY asks for a terminal in the pod; Sizes reports the local
	// terminal's size (nil without one).
	TTY   bool
	Sizes remotecommand.TerminalSizeQueue
	// Command runs instead of a login shell (webservice shell -- CMD...).
	Command []string
}

// Shell starts an interactive pod of the web service's image, attaches the
// terminal to it, and deletes it when the session ends, fails, or ctx is
// cancelled (an interrupt).
func (c *Client) Shell(ctx context.Context, o Options, sio ShellIO) error {
	p, err := c.prepare(ctx, o, true)
	if err != nil {
		return err
	}
	podSpec := p.spec.ShellPod(sio.TTY, sio.Command...)
	if len(sio.Command) > 0 && !sio.TTY {
		// Nothing to type into: the command's output is read from its
		// start (an attach would miss what a quick command prints before
		// it), and its exit status is the container's.
		podSpec.Spec.Containers[0].Stdin, podSpec.Spec.Containers[0].StdinOnce = false, false
	}
	pod, err := c.Kube.CoreV1().Pods(c.Namespace).Create(ctx, podSpec, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create shell pod in %s: %w", c.Namespace, err)
	}
	defer c.removeShell(pod.Name)
	if len(sio.Command) > 0 && !sio.TTY {
		return c.runInPod(ctx, pod.Name, sio.Out)
	}
	fmt.Fprintf(c.ErrOut, "Starting a %s shell in pod %s; it is removed when you leave.\n", p.settings.Type, pod.Name)
	if err := c.waitShell(ctx, pod.Name); err != nil {
		return err
	}
	return c.attach(ctx, pod.Name, sio)
}

// runInPod follows the output of a command pod from its start to its end
// and returns its exit status: nil for 0, else a utilexec.ExitError.
func (c *Client) runInPod(ctx context.Context, name string, out io.Writer) error {
	var pod *corev1.Pod
	started := func(ctx context.Context) (bool, error) {
		var err error
		if pod, err = c.Kube.CoreV1().Pods(c.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, fmt.Errorf("get pod %s: %w", name, err)
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.State.Running != nil || cs.State.Terminated != nil {
				return true, nil
			}
			if w := cs.State.Waiting; w != nil && failedToStart(w.Reason) {
				return false, fmt.Errorf("pod %s cannot start: %s", name, podProblem(*pod))
			}
		}
		return false, nil
	}
	if err := c.until(ctx, started); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && pod != nil {
			return fmt.Errorf("pod %s did not start within %s: %s", name, c.timeout(), podProblem(*pod))
		}
		return err
	}
	logs, err := c.Kube.CoreV1().Pods(c.Namespace).GetLogs(name, &corev1.PodLogOptions{Container: ShellContainerName, Follow: true}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("output of pod %s: %w", name, err)
	}
	_, err = io.Copy(out, logs)
	logs.Close()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("output of pod %s: %w", name, err)
	}
	var code int32
	ended := func(ctx context.Context) (bool, error) {
		var err error
		if pod, err = c.Kube.CoreV1().Pods(c.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, fmt.Errorf("get pod %s: %w", name, err)
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil {
				code = t.ExitCode
				return true, nil
			}
		}
		return false, nil
	}
	if err := c.until(ctx, ended); err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("the command exited with code %d", code), Code: int(code)}
	}
	return nil
}

// failedToStart says whether a waiting container's reason means it will
// not run without a change (a missing image, a bad command).
func failedToStart(reason string) bool {
	switch reason {
	case "InvalidImageName", "CreateContainerError", "CreateContainerConfigError", "RunContainerError":
		return true
	}
	return false
}

// removeShell deletes a shell pod with a context of its own: the caller's
// may be the one an interrupt cancelled.
func (c *Client) removeShell(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Kube.CoreV1().Pods(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(1))})
	if err != nil && !apierrors.IsNotFound(err) {
		fmt.Fprintf(c.ErrOut, "warning: could not remove shell pod %s (remove it with `kubectl delete pod %s`): %v\n", name, name, err)
	}
}

// waitShell waits until the shell pod runs.
func (c *Client) waitShell(ctx context.Context, name string) error {
	var pod *corev1.Pod
	err := c.until(ctx, func(ctx context.Context) (bool, error) {
		var err error
		if pod, err = c.Kube.CoreV1().Pods(c.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, fmt.Errorf("get shell pod %s: %w", name, err)
		}
		switch pod.Status.Phase {
		case corev1.PodRunning:
			return true, nil
		case corev1.PodSucceeded, corev1.PodFailed:
			return false, fmt.Errorf("shell pod %s ended before it could be attached: %s", name, podProblem(*pod))
		}
		return false, nil
	})
	if errors.Is(err, context.DeadlineExceeded) && pod != nil {
		return fmt.Errorf("shell pod %s did not start within %s: %s", name, c.timeout(), podProblem(*pod))
	}
	return err
}

// attach connects the terminal to the shell pod's container, over
// WebSocket, or SPDY where a proxy or old server cannot upgrade to it (as
// kubectl does).
func (c *Client) attach(ctx context.Context, name string, sio ShellIO) error {
	if c.Config == nil {
		return errors.New("attach: no API credentials")
	}
	req := c.Kube.CoreV1().RESTClient().Post().Namespace(c.Namespace).Resource("pods").Name(name).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{
			Container: ShellContainerName, Stdin: true, Stdout: true, Stderr: !sio.TTY, TTY: sio.TTY,
		}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return fmt.Errorf("attach to %s: %w", name, err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", req.URL().String())
	if err != nil {
		return fmt.Errorf("attach to %s: %w", name, err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return fmt.Errorf("attach to %s: %w", name, err)
	}
	opts := remotecommand.StreamOptions{Stdin: sio.In, Stdout: sio.Out, Tty: sio.TTY, TerminalSizeQueue: sio.Sizes}
	if !sio.TTY {
		opts.Stderr = sio.ErrOut
	}
	if err := exec.StreamWithContext(ctx, opts); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("attach to %s: %w", name, err)
	}
	return nil
}
