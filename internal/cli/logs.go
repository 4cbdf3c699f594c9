package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/toolforge-go/toolforge/internal/logs"
)

// logsOptions are the flags of `jobs logs` and `webservice logs`: the
// lines come from the platform's log store (every run within its
// retention), through the logs API.
type logsOptions struct {
	Follow bool
	Last   int64
	Since  string
	Until  string
	Events bool
}

func (o *logsOptions) addFlags(fs *pflag.FlagSet, events bool) {
	fs.BoolVarP(&o.Follow, "follow", "f", false, "keep showing new lines as they are written")
	fs.Int64VarP(&o.Last, "last", "l", 0, fmt.Sprintf("show the last N lines, whatever their age (default %d, or every line of the --since window)", logs.DefaultLines))
	fs.StringVar(&o.Since, "since", "", "show lines from then on: "+logs.TimeForms)
	fs.StringVar(&o.Until, "until", "", "show lines until then (default now): "+logs.TimeForms)
	if events {
		fs.BoolVar(&o.Events, "events", false, "show the platform's events instead: created, updated, deleted, each run's start and exit code, OOM kills, failed health checks")
	}
}

// check refuses bad flags before anything is asked (exit 2).
func (o *logsOptions) check() error {
	if o.Last < 0 || o.Last > logs.MaxLines {
		return Usagef("-l/--last %d: want a number of lines from 1 to %d", o.Last, logs.MaxLines)
	}
	now := time.Now()
	var since, until time.Time
	var err error
	if o.Since != "" {
		if since, err = logs.ParseTime(o.Since, now); err != nil {
			return Usagef("--since: %v", err)
		}
	}
	if o.Until != "" {
		if o.Follow {
			return Usagef("--until and --follow exclude each other: following shows lines as they come")
		}
		if until, err = logs.ParseTime(o.Until, now); err != nil {
			return Usagef("--until: %v", err)
		}
		if !since.IsZero() && !since.Before(until) {
			return Usagef("--since must be before --until")
		}
	}
	if o.Events && o.Follow {
		return Usagef("--events and --follow exclude each other")
	}
	return nil
}

// windowed says whether the lines were asked for by more than their
// number: the kubelet cannot answer that.
func (o *logsOptions) windowed() bool { return o.Since != "" || o.Until != "" || o.Events }

func (o *logsOptions) query() url.Values {
	q := url.Values{}
	if o.Last > 0 {
		q.Set(logs.ParamLines, strconv.FormatInt(o.Last, 10))
	}
	if o.Since != "" {
		q.Set(logs.ParamStart, o.Since)
	}
	if o.Until != "" {
		q.Set(logs.ParamEnd, o.Until)
	}
	if o.Follow {
		q.Set(logs.ParamFollow, "true")
	}
	return q
}

// errNoStoredLines: the store has none (the kubelet may, for lines not
// collected yet, and says why there are none otherwise).
var errNoStoredLines = errors.New("no stored lines")

// storeUnavailable is a store (or a platform without one) that cannot
// answer: the commands fall back to the kubelet, saying so once.
type storeUnavailable struct{ err error }

func (e *storeUnavailable) Error() string { return e.err.Error() }

// showStoredLogs prints what the logs API has at path (a source's logs or
// events route). A line is prefixed with its pod when the lines come from
// more than one; events show their time and what happened.
func showStoredLogs(ctx context.Context, s *IOStreams, c *apiClient, path string, o *logsOptions) error {
	if q := o.query(); len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.request(ctx, http.MethodGet, path, nil)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable:
		return &storeUnavailable{err}
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound && !o.windowed():
		return errNoStoredLines
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound && len(ae.Messages.Error) == 0:
		// An API server without the logs API (an older platform).
		return &storeUnavailable{err}
	case err != nil:
		return err
	}
	defer resp.Body.Close()
	p := &linePrinter{out: bufio.NewWriter(s.Out), events: o.Events}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	var batch []logs.Line
	// The lines there are come at once; with --follow the new ones come
	// one by one after a pause. The first lines are shown together, so
	// that prefixes are chosen knowing them all.
	n := 0
	for sc.Scan() {
		var l logs.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("the logs API's answer: %w", err)
		}
		n++
		if !o.Follow {
			batch = append(batch, l)
			continue
		}
		p.print(l)
		p.out.Flush()
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("log stream ended: %w", err)
	}
	p.printAll(batch)
	if err := p.out.Flush(); err != nil {
		return err
	}
	if o.Follow && ctx.Err() == nil {
		return errors.New("the log stream ended: the platform stopped sending lines")
	}
	if o.Last == 0 && o.Since == "" && n == logs.DefaultLines {
		fmt.Fprintf(s.ErrOut, "(the last %d lines; -l N or --since for more)\n", logs.DefaultLines)
	}
	return nil
}

// linePrinter writes lines as the container wrote them.
type linePrinter struct {
	out    *bufio.Writer
	events bool
	pods   map[string]bool
	prefix bool
}

func (p *linePrinter) printAll(ls []logs.Line) {
	if p.pods == nil {
		p.pods = map[string]bool{}
	}
	for _, l := range ls {
		p.pods[l.Pod] = true
	}
	p.prefix = len(p.pods) > 1
	for _, l := range ls {
		p.write(l)
	}
}

func (p *linePrinter) print(l logs.Line) {
	if p.pods == nil {
		p.pods = map[string]bool{}
	}
	p.pods[l.Pod] = true
	p.prefix = p.prefix || len(p.pods) > 1
	p.write(l)
}

func (p *linePrinter) write(l logs.Line) {
	switch {
	case p.events:
		fmt.Fprintf(p.out, "%s  %-10s %s\n", l.Time.Local().Format(time.RFC3339), l.Event, l.Message)
	case p.prefix && l.Pod != "":
		fmt.Fprintf(p.out, "[%s] %s\n", l.Pod, l.Message)
	default:
		fmt.Fprintln(p.out, l.Message)
	}
}

// warnFallback says once why the lines shown are only the kubelet's.
func warnFallback(w io.Writer, err error) {
	fmt.Fprintf(w, "warning: the log store cannot be reached (%v): showing what the kubelet keeps of the current pods only\n", err)
}
