package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/toolforge-go/toolforge/internal/logs/store"
	"github.com/toolforge-go/toolforge/internal/route"
)

// serve calls the route of path's template for tool with query.
func serve(t *testing.T, s *Server, template, query string) *httptest.ResponseRecorder {
	t.Helper()
	for _, rt := range s.Routes() {
		if rt.Path != template {
			continue
		}
		req := httptest.NewRequest(http.MethodGet, "/x?"+query, nil)
		rec := httptest.NewRecorder()
		r := &route.Request{Request: req, Tool: "a", Params: map[string]string{"tool": "a", "name": "backup"}}
		if err := rt.Handle(rec, r); err != nil {
			route.WriteError(rec, err)
		}
		return rec
	}
	t.Fatalf("no route %s", template)
	return nil
}

const jobLogs = "/logs/v1/tool/{tool}/job/{name}/logs"

func TestBadWindowsAreRefusedInTheOriginalsWords(t *testing.T) {
	// A store nobody answers at: refusals come before it is asked.
	s := &Server{Store: mustStore(t, "http://127.0.0.1:1"), Retention: 14 * 24 * time.Hour, Log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct{ query, msg string }{
		{"start=invalid", "is not a duration ago (30s, 10m, 2h, 3d, 1w"},
		{"end=yesterday", "Invalid end time"},
		{"start=10s&end=20s", "Start time must be before end time"},
		{"start=30d", "further back than the log store keeps lines (14d)"},
		{"lines=-1", "want a number of lines from 0 to 100000"},
		{"lines=100001", "want a number of lines"},
		{"follow=maybe", "want true or false"},
	} {
		rec := serve(t, s, jobLogs, tc.query)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.msg) {
			t.Errorf("?%s: %d %s", tc.query, rec.Code, rec.Body)
		}
	}
}

func TestAStoreThatIsDownIsSaidAtOnce(t *testing.T) {
	// A port nothing listens on, and a platform without a store.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for name, s := range map[string]*Server{
		"down":     {Store: mustStore(t, "http://"+addr), Retention: 24 * time.Hour, Log: slog.New(slog.DiscardHandler)},
		"no store": {Retention: 24 * time.Hour, Log: slog.New(slog.DiscardHandler)},
	} {
		start := time.Now()
		rec := serve(t, s, jobLogs, "lines=10")
		if took := time.Since(start); rec.Code != http.StatusServiceUnavailable || took > store.ConnectTimeout+time.Second {
			t.Errorf("%s: %d %s after %s", name, rec.Code, rec.Body, took)
		}
	}
}

func mustStore(t *testing.T, url string) *store.Client {
	t.Helper()
	c, err := store.New(url)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
