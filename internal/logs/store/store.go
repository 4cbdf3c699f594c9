// Package store is the platform's client of its log store, VictoriaLogs
// (its HTTP API: /insert/jsonline, /select/logsql/query and tail). Every
// call names a tenant, and a tool's tenant is derived from its name alone
// (TenantOf), so a query built here can never read another tool's lines.
// Only the platform's processes use it: tools never reach the store.
package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tenant is a VictoriaLogs tenant (AccountID:ProjectID).
type Tenant struct{ Account, Project uint32 }

func (t Tenant) String() string { return fmt.Sprintf("%d:%d", t.Account, t.Project) }

// TenantOf is tool's tenant: 64 bits of a hash of its name, so that no
// table is needed and two tools' tenants never meet in practice (10,000
// tools collide with a chance of 3·10⁻¹²). 0:0, VictoriaLogs' default,
// is never a tool's.
func TenantOf(tool string) Tenant {
	sum := sha256.Sum256([]byte("toolforge-logs-tenant/" + tool))
	t := Tenant{Account: binary.BigEndian.Uint32(sum[0:4]), Project: binary.BigEndian.Uint32(sum[4:8])}
	if t == (Tenant{}) {
		t.Project = 1
	}
	return t
}

// Fields of a stored line, as the ingestion writes them. The stream fields
// identify where a line comes from; a query always selects by them.
const (
	FieldTime      = "_time"
	FieldMsg       = "_msg"
	FieldKind      = "kind"
	FieldOf        = "of"
	FieldName      = "name"
	FieldPod       = "pod"
	FieldContainer = "container"
	// FieldEvent is an event line's reason; FieldEventID makes writing an
	// event idempotent.
	FieldEvent   = "event"
	FieldEventID = "event_id"
)

// StreamFields are the stream fields of every stored line.
var StreamFields = []string{FieldKind, FieldOf, FieldName, FieldPod, FieldContainer}

// Record is a stored line: its fields.
type Record map[string]string

// Time is the record's time.
func (r Record) Time() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r[FieldTime])
	return t
}

// UnavailableError is a store that cannot be reached or does not answer
// well: callers fall back or retry.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "the log store is unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// IsUnavailable says whether err is (or wraps) an UnavailableError.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// Client talks to one store.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// ConnectTimeout bounds connecting to the store: a store that is down is
// said at once, never waited for.
const ConnectTimeout = 2 * time.Second

// New is a client of the store at rawURL (http://host:port).
func New(rawURL string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("log store URL %q: want http(s)://host:port", rawURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &Client{base: u, hc: &http.Client{Transport: tr}}, nil
}

// URL is the store's.
func (c *Client) URL() string { return c.base.String() }

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Client) do(req *http.Request, t Tenant) (*http.Response, error) {
	req.Header.Set("AccountID", strconv.FormatUint(uint64(t.Account), 10))
	req.Header.Set("ProjectID", strconv.FormatUint(uint64(t.Project), 10))
	resp, err := c.hc.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, err
		}
		return nil, &UnavailableError{err}
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		err := fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(body))
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return nil, &UnavailableError{err}
		}
		return nil, err
	}
	return resp, nil
}

// Insert stores lines (JSON objects, one a line: _time, _msg and the
// fields) in tenant t.
func (c *Client) Insert(ctx context.Context, t Tenant, ndjson []byte) error {
	q := url.Values{"_stream_fields": {strings.Join(StreamFields, ",")}, "_time_field": {FieldTime}, "_msg_field": {FieldMsg}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/insert/jsonline", q), bytes.NewReader(ndjson))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/stream+json")
	resp, err := c.do(req, t)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Query is a LogsQL query over a time window.
type Query struct {
	// LogsQL selects the lines (the caller builds it; see Stream).
	LogsQL     string
	Start, End time.Time
	// Limit returns only the newest Limit lines (0: all).
	Limit int
}

// Select returns the lines of q, oldest first.
func (c *Client) Select(ctx context.Context, t Tenant, q Query) ([]Record, error) {
	v := url.Values{"query": {q.LogsQL}}
	if !q.Start.IsZero() {
		v.Set("start", q.Start.UTC().Format(time.RFC3339Nano))
	}
	if !q.End.IsZero() {
		v.Set("end", q.End.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/select/logsql/query", nil), strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.do(req, t)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []Record
	err = readRecords(resp.Body, func(r Record) error { out = append(out, r); return nil })
	if err != nil {
		return nil, &UnavailableError{err}
	}
	SortByTime(out)
	return out, nil
}

// Tail calls fn with the lines of logsQL as they arrive, from startOffset
// before now, until ctx ends. Lines are delivered once the store's live
// tailing has them, lag behind now.
func (c *Client) Tail(ctx context.Context, t Tenant, logsQL string, startOffset, lag time.Duration, fn func(Record) error) error {
	v := url.Values{"query": {logsQL}, "start_offset": {startOffset.String()}, "offset": {lag.String()}, "refresh_interval": {"1s"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/select/logsql/tail", nil), strings.NewReader(v.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.do(req, t)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = readRecords(resp.Body, fn)
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		return &UnavailableError{errors.New("the store ended the live tail")}
	}
	return err
}

func readRecords(r io.Reader, fn func(Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("the store's answer: %w", err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return sc.Err()
}

// SortByTime orders records oldest first (stable: lines of one stream
// with the same time keep the store's order).
func SortByTime(rs []Record) {
	type keyed struct {
		t time.Time
		r Record
	}
	ks := make([]keyed, len(rs))
	for i, r := range rs {
		ks[i] = keyed{r.Time(), r}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return a.t.Compare(b.t) })
	for i := range ks {
		rs[i] = ks[i].r
	}
}

// Health checks that the store answers.
func (c *Client) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/health", nil), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &UnavailableError{err}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &UnavailableError{fmt.Errorf("health: %s", resp.Status)}
	}
	return nil
}

// Stream is the LogsQL stream filter selecting lines whose stream fields
// have the given values (field, value, field, value...).
func Stream(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+strconv.Quote(kv[i+1]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Exact is the LogsQL filter of lines whose field is exactly value.
func Exact(field, value string) string { return field + ":=" + strconv.Quote(value) }
