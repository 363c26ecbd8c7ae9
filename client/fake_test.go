package client

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
)

// seen is one request as the fake server received it.
type seen struct {
	Method   string
	Path     string // escaped path
	RawQuery string
	Header   http.Header
	Body     string
}

// reply is one scripted answer; hijack closes the connection instead.
type reply struct {
	status int
	header map[string]string
	body   string
	hijack bool
}

// fakeServer answers with the scripted replies in order (the last one
// repeats) and records every request.
type fakeServer struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex // guards reqs and next
	reqs    []seen
	replies []reply
	next    int
}

func newFake(t *testing.T, replies ...reply) *fakeServer {
	t.Helper()
	if len(replies) == 0 {
		replies = []reply{{status: http.StatusNoContent}}
	}
	f := &fakeServer{t: t, replies: replies}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: string(b)})
	rp := f.replies[min(f.next, len(f.replies)-1)]
	f.next++
	f.mu.Unlock()
	if rp.hijack {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	if rp.body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rp.status)
	io.WriteString(w, rp.body)
}

func (f *fakeServer) client(opts ...Option) *Client { return New(f.srv.URL, opts...) }

func (f *fakeServer) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// only returns the single request the server got.
func (f *fakeServer) only() seen {
	f.t.Helper()
	rs := f.requests()
	if len(rs) != 1 {
		f.t.Fatalf("server got %d requests, want 1: %+v", len(rs), rs)
	}
	return rs[0]
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// want checks method, path, raw query and the exact body of a request, and
// that Content-Type and Idempotency-Key are present exactly when expected.
func (s seen) want(t *testing.T, method, path, rawQuery, body string) {
	t.Helper()
	if s.Method != method || s.Path != path || s.RawQuery != rawQuery {
		t.Errorf("request = %s %s?%s, want %s %s?%s", s.Method, s.Path, s.RawQuery, method, path, rawQuery)
	}
	if s.Body != body {
		t.Errorf("body = %q, want %q", s.Body, body)
	}
	if body == "" && s.Header.Get("Content-Type") != "" {
		t.Errorf("Content-Type %q sent without a body", s.Header.Get("Content-Type"))
	}
	if body != "" && s.Header.Get("Content-Type") == "" {
		t.Errorf("no Content-Type sent with a body")
	}
	key := s.Header.Get(HeaderIdempotencyKey)
	if write := method != http.MethodGet; write != (key != "") {
		t.Errorf("%s with Idempotency-Key %q", method, key)
	}
	if key != "" && !uuidV4.MatchString(key) {
		t.Errorf("Idempotency-Key %q is not a UUID v4", key)
	}
}
