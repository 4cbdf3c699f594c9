package webservice

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// LogOptions choose which log lines `webservice logs` prints.
type LogOptions struct {
	Follow bool
	// Last is how many lines from the end of each pod's log; 0 means all.
	Last int64
}

// Logs prints the web service's pods' logs (through the API server, as
// kubectl logs does). With more than one pod, each line is prefixed with
// its pod's name.
func (c *Client) Logs(ctx context.Context, o LogOptions, out io.Writer) error {
	pods, err := c.pods(ctx)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return errors.New("webservice is not running: it has no pods to show the logs of")
	}
	opts := &corev1.PodLogOptions{Container: ContainerName, Follow: o.Follow}
	if o.Last > 0 {
		opts.TailLines = &o.Last
	}
	var mu sync.Mutex
	copyLog := func(pod string, prefix bool) error {
		stream, err := c.Kube.CoreV1().Pods(c.Namespace).GetLogs(pod, opts).Stream(ctx)
		// A pod that went between the list and now (a restart's old
		// one) has no log left to show: the others are the service's.
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("logs of pod %s: %w", pod, err)
		}
		defer stream.Close()
		r := bufio.NewReader(stream)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				mu.Lock()
				if prefix {
					fmt.Fprintf(out, "[%s] ", pod)
				}
				_, werr := io.WriteString(out, line)
				mu.Unlock()
				if werr != nil {
					return fmt.Errorf("write logs: %w", werr)
				}
			}
			if errors.Is(err, io.EOF) || (err != nil && ctx.Err() != nil) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("logs of pod %s: %w", pod, err)
			}
		}
	}
	prefix := len(pods) > 1
	if !o.Follow {
		for _, p := range pods {
			if err := copyLog(p.Name, prefix); err != nil {
				return err
			}
		}
		return nil
	}
	// Following waits on every pod at once.
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() { errs[i] = copyLog(p.Name, prefix) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
