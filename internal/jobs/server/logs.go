package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// LogOptions choose which log lines to stream.
type LogOptions struct {
	Follow bool
	// Lines is the number of last lines per pod; 0 is all.
	Lines int64
}

// ErrNoLogs is a job without pods, or whose pods have said nothing.
func ErrNoLogs(name string) error {
	return route.NotFound("Job '%s' does not have any logs available", name)
}

// Logs streams the logs of job name's pods to w, through the Kubernetes
// API server. With several pods each line is prefixed by its pod's name.
// When following, the pods' streams are interleaved as lines arrive.
func (s *Store) Logs(ctx context.Context, tool, name string, o LogOptions, w io.Writer) error {
	e, err := s.find(ctx, tool, name)
	if err != nil {
		return err
	}
	if e == nil {
		return route.NotFound("Job '%s' does not exist", name)
	}
	if e.def.FileLogs() {
		// Its output goes to files in the tool's home, so its pods have
		// said nothing: the original answers as for any job without logs.
		return ErrNoLogs(name)
	}
	pods, err := s.pods(ctx, tool, name)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return ErrNoLogs(name)
	}
	out := &lineWriter{w: w}
	stream := func(p *corev1.Pod) error {
		prefix := ""
		if len(pods) > 1 {
			prefix = "[" + p.Name + "] "
		}
		return s.streamPod(ctx, tool, p, name, o, prefix, out)
	}
	var errs []error
	if !o.Follow {
		for _, p := range pods {
			errs = append(errs, stream(p))
		}
	} else {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, p := range pods {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := stream(p)
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	if out.n == 0 {
		if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
			s.Log.Info("no logs", "tool", tool, "job", name, "err", err)
		}
		return ErrNoLogs(name)
	}
	return nil
}

func (s *Store) streamPod(ctx context.Context, tool string, p *corev1.Pod, container string, o LogOptions, prefix string, out *lineWriter) error {
	opts := &corev1.PodLogOptions{Container: container, Follow: o.Follow}
	if o.Lines > 0 {
		opts.TailLines = &o.Lines
	}
	rc, err := s.Kube.CoreV1().Pods(tenancy.Namespace(tool)).GetLogs(p.Name, opts).Stream(ctx)
	if err != nil {
		return fmt.Errorf("logs of pod %s: %w", p.Name, err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if err := out.line(prefix, sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// lineWriter writes whole lines from concurrent streams, flushing each
// so a follower sees it at once.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (l *lineWriter) line(prefix string, b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if _, err := fmt.Fprintf(l.w, "%s%s\n", prefix, b); err != nil {
		return err
	}
	if f, ok := l.w.(interface{ Flush() }); ok {
		f.Flush()
	}
	return nil
}
