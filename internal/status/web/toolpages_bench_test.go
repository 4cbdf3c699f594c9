package web_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/toolforge-go/toolforge/internal/status/pages"
	"github.com/toolforge-go/toolforge/internal/status/pages/pagestest"
	"github.com/toolforge-go/toolforge/internal/status/web"
)

// benchPage measures one page in process (the build, the render, no
// network): `go test -bench . ./internal/status/web`. The status page's
// goals are `make bench status`'s.
func benchPage(b *testing.B, path string) {
	s, err := web.New(web.Options{Pages: &pages.Builder{Src: pagestest.Demo()}, Ready: func() bool { return true }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", path, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkToolHTML(b *testing.B) { benchPage(b, "/tools/demo/") }
func BenchmarkToolJSON(b *testing.B) { benchPage(b, "/tools/demo/?format=json") }
