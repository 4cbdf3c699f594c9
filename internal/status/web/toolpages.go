package web

import (
	"bytes"
	"fmt"
	"html/template"
	"maps"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/toolforge-go/toolforge/internal/status/wire"
)

// toolPages keeps each tool's page rendered. Executing the template costs
// several times what building the page's data does (html/template escapes
// every value through reflection), and a tool's data rarely changes
// between two requests; what does change with every request is the time:
// the footer's observation time and the pods' ages. So a tool's page is
// rendered once with holes where those go, and each request builds the
// data (cheap, from the watch caches), compares it with the data the
// cached page was rendered from, and fills the holes. The data itself is
// the version: whatever the page shows (the caches' objects, the
// published web URL, the log store's events) changes it, so a cached page
// cannot outlive what it shows.
type toolPages struct {
	tmpl *template.Template // the tool page, with the holes' functions

	mu    sync.RWMutex
	pages map[string]*toolPage
}

// maxToolPages bounds the cache (pages of deleted tools are only dropped
// when asked for): well above the tools of a cluster, and a few kilobytes
// each.
const maxToolPages = 20000

// toolPage is a rendered page and what it was rendered from.
type toolPage struct {
	data           wire.Tool // ObservedAt zero
	title, jsonURL string
	parts          []part
}

// part is literal HTML and the hole after it (none after the last).
type part struct {
	lit  []byte
	hole byte // holeAge, holeObservedISO, holeObservedWhen, or 0
	t    time.Time
}

// Holes are written as "&!" kind [seconds "." nanoseconds] "!": no value
// from the data can print that, as html/template writes a data "&" as
// "&amp;" (or %26 in a URL) in every context the pages use, and the
// templates' own text has no "&!".
const (
	holeMark         = "&!"
	holeAge          = 'a'
	holeObservedISO  = 'i'
	holeObservedWhen = 'w'
)

// hole is typed HTML so that the escaper leaves its "&" as it is; it holds
// only the mark, a kind letter and digits, never anything from the data.
func hole(kind byte, t time.Time) template.HTML {
	s := holeMark + string(kind)
	if !t.IsZero() {
		s += strconv.FormatInt(t.Unix(), 10) + "." + strconv.Itoa(t.Nanosecond())
	}
	return template.HTML(s + "!") //nolint:gosec // G203: a mark, a letter and digits of our own (see above)
}

func newToolPages() (*toolPages, error) {
	fm := maps.Clone(funcs)
	fm["age"] = func(t, _ time.Time) template.HTML { return hole(holeAge, t) }
	fm["observedISO"] = func(time.Time) template.HTML { return hole(holeObservedISO, time.Time{}) }
	fm["observedWhen"] = func(time.Time) template.HTML { return hole(holeObservedWhen, time.Time{}) }
	t, err := parsePage("tool", fm)
	if err != nil {
		return nil, err
	}
	return &toolPages{tmpl: t, pages: map[string]*toolPage{}}, nil
}

// render writes tool t's page (v, whose Data is t) to buf.
func (c *toolPages) render(buf *bytes.Buffer, v view, t wire.Tool) error {
	data := t
	data.ObservedAt = time.Time{}
	c.mu.RLock()
	p := c.pages[t.Name]
	c.mu.RUnlock()
	if p == nil || p.title != v.Title || p.jsonURL != v.JSONURL || !reflect.DeepEqual(p.data, data) {
		var err error
		if p, err = c.fill(v, data); err != nil {
			return err
		}
		c.mu.Lock()
		if len(c.pages) >= maxToolPages {
			clear(c.pages)
		}
		c.pages[t.Name] = p
		c.mu.Unlock()
	}
	p.write(buf, v.Observed)
	return nil
}

// forget drops a tool's page (the tool is gone).
func (c *toolPages) forget(tool string) {
	c.mu.Lock()
	delete(c.pages, tool)
	c.mu.Unlock()
}

// fill renders the page with holes.
func (c *toolPages) fill(v view, data wire.Tool) (*toolPage, error) {
	var out bytes.Buffer
	v.Data = data
	if err := c.tmpl.ExecuteTemplate(&out, "layout", v); err != nil {
		return nil, err
	}
	// Kept for as long as the tool's data holds: without the buffer's
	// spare capacity.
	parts, err := split(bytes.Clone(out.Bytes()))
	if err != nil {
		return nil, err
	}
	return &toolPage{data: data, title: v.Title, jsonURL: v.JSONURL, parts: parts}, nil
}

// split cuts a rendered page at its holes.
func split(b []byte) ([]part, error) {
	var parts []part
	for {
		i := bytes.Index(b, []byte(holeMark))
		if i < 0 {
			return append(parts, part{lit: b}), nil
		}
		p := part{lit: b[:i]}
		rest := b[i+len(holeMark):]
		end := bytes.IndexByte(rest, '!')
		if end < 1 {
			return nil, fmt.Errorf("tool page: a hole without its end at %d", i)
		}
		p.hole = rest[0]
		if spec := string(rest[1:end]); spec != "" {
			sec, nsec, ok := holeTime(spec)
			if !ok {
				return nil, fmt.Errorf("tool page: hole %q", spec)
			}
			p.t = time.Unix(sec, nsec)
		}
		parts = append(parts, p)
		b = rest[end+1:]
	}
}

func holeTime(spec string) (sec, nsec int64, ok bool) {
	for i := range len(spec) {
		if spec[i] != '.' {
			continue
		}
		s, err1 := strconv.ParseInt(spec[:i], 10, 64)
		n, err2 := strconv.ParseInt(spec[i+1:], 10, 64)
		return s, n, err1 == nil && err2 == nil
	}
	return 0, 0, false
}

// write fills the holes for a page observed at now: what the template's
// functions would have written (digits, letters, ':' and '-', which no
// context escapes).
func (p *toolPage) write(buf *bytes.Buffer, now time.Time) {
	for _, part := range p.parts {
		buf.Write(part.lit)
		switch part.hole {
		case holeAge:
			buf.WriteString(age(part.t, now))
		case holeObservedISO:
			buf.Write(now.UTC().AppendFormat(buf.AvailableBuffer(), time.RFC3339))
		case holeObservedWhen:
			buf.Write(now.UTC().AppendFormat(buf.AvailableBuffer(), "2006-01-02 15:04:05 UTC"))
		}
	}
}
