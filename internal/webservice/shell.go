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
}

// Shell starts an interactive pod of the web service's image, attaches the
// terminal to it, and deletes it when the session ends, fails, or ctx is
// cancelled (an interrupt).
func (c *Client) Shell(ctx context.Context, o Options, sio ShellIO) error {
	p, err := c.prepare(ctx, o, true)
	if err != nil {
		return err
	}
	pod, err := c.Kube.CoreV1().Pods(c.Namespace).Create(ctx, p.spec.ShellPod(sio.TTY), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create shell pod in %s: %w", c.Namespace, err)
	}
	defer c.removeShell(pod.Name)
	fmt.Fprintf(c.ErrOut, "Starting a %s shell in pod %s; it is removed when you leave.\n", p.settings.Type, pod.Name)
	if err := c.waitShell(ctx, pod.Name); err != nil {
		return err
	}
	return c.attach(ctx, pod.Name, sio)
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
