// Package ingest is the platform's logs ingestion (`toolforged
// logs-ingest`): every node's collector (vlagent) sends it the lines of the
// node's containers, and it files each line under its tool's tenant in the
// log store, as the line of a job, web service, build or other pod,
// keeping each tool within its rate. It answers a block of lines only once
// the store has every line of it, so a store that is down makes the
// collector keep the block (on its disk) and send it again: nothing is
// lost.
package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/toolforge-go/toolforge/internal/logs/store"
)

// Path is where collectors send lines (vlagent's remote write with
// -remoteWrite.format=jsonline).
const Path = "/insert/jsonline"

// maxBody bounds a block once decompressed (vlagent's blocks are 8 MiB
// before compression).
const maxBody = 64 << 20

// Ingester files collected lines into the store.
type Ingester struct {
	Store   *store.Client
	Log     *slog.Logger
	limit   *limiter
	metrics *metrics
	sent    *sentParts
	now     func() time.Time
}

// New is an ingester keeping each tool within perSecond lines (bursts of
// burst); perSecond 0 is no limit.
func New(st *store.Client, perSecond float64, burst int, m *metrics, log *slog.Logger) *Ingester {
	return &Ingester{Store: st, Log: log, limit: newLimiter(perSecond, burst), metrics: m, sent: &sentParts{m: map[[32]byte]time.Time{}}, now: time.Now}
}

func (g *Ingester) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.Error(w, "not found: lines go to "+Path, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST lines here", http.StatusMethodNotAllowed)
		return
	}
	body, err := decode(r)
	if err != nil {
		// 400: vlagent drops a block it cannot send rather than retrying
		// it for ever.
		g.Log.Error("unreadable block of lines", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	parts := g.file(body)
	if err := g.forward(r.Context(), parts); err != nil {
		g.Log.Warn("the log store did not take a block; the collector sends it again", "err", err)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func decode(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	switch r.Header.Get("Content-Encoding") {
	case "zstd":
		d, err := zstd.NewReader(r.Body, zstd.WithDecoderMaxMemory(maxBody))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		rd = d
	case "gzip":
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer z.Close()
		rd = z
	case "", "identity":
	default:
		return nil, fmt.Errorf("content encoding %q: want zstd, gzip or none", r.Header.Get("Content-Encoding"))
	}
	body, err := io.ReadAll(io.LimitReader(rd, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read the block: %w", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("a block larger than %d bytes", maxBody)
	}
	return body, nil
}

// file turns a block into the store's lines, by tenant.
func (g *Ingester) file(body []byte) map[store.Tenant]*bytes.Buffer {
	parts := map[store.Tenant]*bytes.Buffer{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		g.metrics.received.Inc()
		c, err := parseCollected(line)
		if err != nil {
			g.metrics.malformed.Inc()
			continue
		}
		src, ok := classify(c)
		if !ok {
			g.metrics.ignored.Inc()
			continue
		}
		t := store.TenantOf(src.tool)
		buf := parts[t]
		if buf == nil {
			buf = &bytes.Buffer{}
			parts[t] = buf
		}
		switch g.limit.admit(src) {
		case dropTell:
			writeRow(buf, c.time, g.limit.notice(), src)
			fallthrough
		case drop:
			g.metrics.dropped.WithLabelValues(src.tool).Inc()
			continue
		}
		msg := c.message()
		if msg == "" {
			continue
		}
		writeRow(buf, c.time, msg, src)
		g.metrics.filed.Inc()
	}
	g.limit.forget(10 * time.Minute)
	return parts
}

// writeRow appends one line of the store.
func writeRow(b *bytes.Buffer, t, msg string, s source) {
	b.WriteString(`{"_time":`)
	writeString(b, t)
	for _, f := range [...]struct{ k, v string }{
		{store.FieldMsg, msg}, {store.FieldKind, s.kind}, {store.FieldName, s.name}, {store.FieldPod, s.pod}, {store.FieldContainer, s.container},
	} {
		b.WriteByte(',')
		writeString(b, f.k)
		b.WriteByte(':')
		writeString(b, f.v)
	}
	b.WriteString("}\n")
}

func writeString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// forward stores every tenant's part. A part the store took is remembered
// for a while, so that when a block is sent again after a part failed,
// the parts already stored are not stored twice.
func (g *Ingester) forward(ctx context.Context, parts map[store.Tenant]*bytes.Buffer) error {
	tenants := make([]store.Tenant, 0, len(parts))
	for t, b := range parts {
		if b.Len() > 0 {
			tenants = append(tenants, t)
		}
	}
	slices.SortFunc(tenants, func(a, b store.Tenant) int {
		if a.Account != b.Account {
			return int(int64(a.Account) - int64(b.Account))
		}
		return int(int64(a.Project) - int64(b.Project))
	})
	for _, t := range tenants {
		body := parts[t].Bytes()
		sum := sha256.Sum256(append([]byte(t.String()+"\n"), body...))
		if g.sent.has(sum) {
			continue
		}
		start := time.Now()
		if err := g.Store.Insert(ctx, t, body); err != nil {
			g.metrics.storeErrors.Inc()
			return err
		}
		g.metrics.storeLatency.Observe(time.Since(start).Seconds())
		g.sent.add(sum, g.now())
	}
	return nil
}

// sentParts remembers the parts the store took in the last minutes.
type sentParts struct {
	mu   sync.Mutex
	m    map[[32]byte]time.Time
	adds int
}

const sentTTL = 10 * time.Minute

func (s *sentParts) has(k [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[k]
	return ok
}

func (s *sentParts) add(k [32]byte, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = now
	if s.adds++; s.adds%1024 == 0 {
		for k, t := range s.m {
			if now.Sub(t) > sentTTL {
				delete(s.m, k)
			}
		}
	}
}
