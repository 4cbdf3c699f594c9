package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/toolforge-go/toolforge/internal/migration"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// The old cluster stops answering while the new one refuses the web
// service's start: putting it back on the old cluster cannot work. The
// undo must give up within its bound, not wait for ever, and say what it
// could not undo and what to do. The old cluster is reached through a
// proxy that, once cut, holds every connection open and answers nothing
// (a stopped API server behind a live load balancer): the case a request
// never returns from.
func TestAnUndoOnAClusterThatStoppedAnsweringReturnsInTimeAndSaysWhatIsLeft(t *testing.T) {
	env(t)
	name := "ws-unreach"
	// The forced phase of the report's test (which runs first) switched
	// every tool to the new cluster: this one starts on the old.
	if r := kubectl(t, name, "config", "use-context", "default"); r.Code != 0 {
		t.Fatal(r)
	}
	ok(t, name, "webservice", "start")
	waitReady(t, old.Client, name)
	refuseDeployments(t, neu.Client, "tool-"+name)
	t.Cleanup(func() { unrefuseDeployments(t, neu.Client) })

	proxy := startProxy(t, strings.TrimPrefix(old.APIURL, "https://"))
	oldCfg := rest.CopyConfig(old.Config)
	oldCfg.Host = "https://" + proxy.addr()
	oldKube := kubernetes.NewForConfigOrDie(oldCfg)
	var out bytes.Buffer
	client := func(kube kubernetes.Interface, cfg *rest.Config) *webservice.Client {
		return &webservice.Client{
			Kube: kube, Config: cfg, Tool: name, Namespace: "tool-" + name, Domain: tenancy.DefaultDomain,
			PlatformNamespace: tenancy.PlatformNamespace, Out: &out, ErrOut: &out, WithoutHome: true,
		}
	}
	current := "default"
	const bound = 5 * time.Second
	refused := &cutFirst{Client: client(neu.Client, neu.Config), p: proxy}
	plan := &migration.Plan{
		Tool: name,
		From: migration.Side{Context: "default", Web: client(oldKube, oldCfg), Kube: oldKube, Namespace: "tool-" + name},
		// The new cluster refuses the start (its policy) just as the old
		// one stops answering.
		To: migration.Side{Context: "toolforge", Web: refused, Kube: neu.Client, Namespace: "tool-" + name},
		Switch: func(ctx string) (bool, error) {
			changed := current != ctx
			current = ctx
			return changed, nil
		},
		Out: &out, ErrOut: &out,
		UndoTimeout: bound,
	}
	_, err := migration.Run(bg(), plan)
	took := time.Since(refused.returned)
	t.Logf("undo took %s; output:\n%s\nerror: %v", took, out.String(), err)

	var undoErr *migration.UndoError
	if !errors.As(err, &undoErr) {
		t.Fatalf("err = %v, want what could not be undone", err)
	}
	// Undone: the context switch (local). Not undone: the start on the
	// old cluster, given up at its bound (at most as long again for a
	// call that does not stop). Without a bound, client-go gives up on
	// the dead connection after about a minute (its HTTP/2 health check)
	// and retries, for as long as the web service's waits last.
	if took > 2*bound+5*time.Second {
		t.Fatalf("the undo took %s", took)
	}
	if current != "default" {
		t.Errorf("current context %s, want default again", current)
	}
	msg := err.Error()
	for _, want := range []string{
		"start the webservice on toolforge",
		"putting everything back on default failed",
		"the webservice does not run on default (no answer within 5s",
		"start it there: `webservice --cpu 500m --mem 512Mi --replicas 1 php8.2 start` with default as your current context",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if len(undoErr.Left) != 1 {
		t.Errorf("%d steps left undone, want 1: %v", len(undoErr.Left), undoErr.Left)
	}
	// The report is true: nothing runs there.
	if n := webObjects(t, old.Client, name); n != 0 {
		t.Errorf("%d web service objects on the old cluster, which the undo could not reach", n)
	}
}

// cutFirst is the new cluster's web service, whose start first cuts the
// old cluster off; returned is when the start returned (and the undo
// began).
type cutFirst struct {
	*webservice.Client
	p        *proxy
	returned time.Time
}

func (c *cutFirst) StartSaying(ctx context.Context, o webservice.Options, line string) error {
	c.p.cut()
	err := c.Client.StartSaying(ctx, o, line)
	c.returned = time.Now()
	return err
}

// proxy forwards TCP to an address until cut; then it answers nothing,
// holding its connections open.
type proxy struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	isCut    bool
	upstream []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	var held []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range append(held, p.upstream...) {
			_ = c.Close()
		}
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			held = append(held, conn)
			cut := p.isCut
			p.mu.Unlock()
			if cut {
				go func() { _, _ = io.Copy(io.Discard, conn) }()
				continue
			}
			go p.forward(conn)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) forward(conn net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.upstream = append(p.upstream, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, conn) }()
	_, _ = io.Copy(conn, up)
	// Cut: the client's connection stays open, and whatever it sends is
	// read and dropped.
	_, _ = io.Copy(io.Discard, conn)
}

// cut stops forwarding: connections made before and after get no answer.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = true
	for _, c := range p.upstream {
		_ = c.Close()
	}
}
