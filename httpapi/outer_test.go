package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gorilla/mux"

	"github.com/herald-mq/herald/fsm"
)

// logLines decodes the JSON log lines in buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// accessLogs returns the access log records ("request") in buf.
func accessLogs(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range logLines(t, buf) {
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// TestAccessLog: every request is logged at debug level with its id,
// method, path and status; server errors at warn level, so that an info
// logger sees only those.
func TestAccessLog(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf bytes.Buffer
		fb := &fakeBackend{applyFn: func(context.Context, *fsm.Command) (*fsm.Result, error) {
			return nil, errors.New("disk on fire")
		}}
		log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
		h, err := New(Config{Backend: fb, Ops: fakeOps{}, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, h: h, fake: fb}
		ok := e.get("/v2/queues/q/stats").expect(200)
		failed := e.delete("/v2/queues/q").expect(503)
		logs := accessLogs(t, &buf)
		var want []*resp
		if level == slog.LevelDebug {
			want = append(want, ok)
		}
		want = append(want, failed)
		if len(logs) != len(want) {
			t.Fatalf("level %v: %d access log records, want %d: %s", level, len(logs), len(want), buf.String())
		}
		for i, r := range want {
			l := logs[i]
			if l["request_id"] != r.header.Get(headerRequestID) || l["status"] != float64(r.status) ||
				l["path"] == "" || l["method"] == "" {
				t.Fatalf("access log %v for answer %d %v", l, r.status, r.header)
			}
		}
		if logs[len(logs)-1]["level"] != "WARN" {
			t.Fatalf("a 503 is logged at %v", logs[len(logs)-1]["level"])
		}
	}
}

// TestPanicIsLogged: a panicking handler answers Zaqar's 500 with the
// request id, and the panic is logged.
func TestPanicIsLogged(t *testing.T) {
	var buf bytes.Buffer
	fb := &fakeBackend{applyFn: func(context.Context, *fsm.Command) (*fsm.Result, error) { panic("boom") }}
	h, err := New(Config{Backend: fb, Ops: fakeOps{}, Log: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h, fake: fb}
	r := e.delete("/v2/queues/q").expectErr(500, titleInternal, "unexpected error")
	found := false
	for _, l := range logLines(t, &buf) {
		if l["msg"] == "panic serving request" && l["request_id"] == r.header.Get(headerRequestID) && l["panic"] == "boom" {
			found = true
		}
	}
	if !found {
		t.Fatalf("panic not logged: %s", buf.String())
	}
}

// TestDispatchWithoutOuter: a route handler served by mux directly (not
// through outer) takes its variables from mux and still answers.
func TestDispatchWithoutOuter(t *testing.T) {
	e := newFSMEnv(t)
	e.postIDs("q", `{"messages": [{"body": 1}]}`)
	s := &server{backend: e.fsmB, ops: fakeOps{}, log: slog.New(slog.DiscardHandler), now: e.clock.Now}
	var stats route
	for _, rt := range s.routes() {
		if rt.path == "/v2/queues/{queue_name}/stats" {
			stats = rt
		}
	}
	r := httptest.NewRequest("GET", "/v2/queues/q/stats", nil)
	r.Header.Set("Client-ID", testClient)
	r.Header.Set("X-Project-ID", testProject)
	r = mux.SetURLVars(r, map[string]string{"queue_name": "q"})
	w := httptest.NewRecorder()
	s.dispatch(stats).ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"total":1`) {
		t.Fatalf("stats without outer: %d %s", w.Code, w.Body.String())
	}
}

// TestReadAllMatchesIOReadAll: readAll returns what io.ReadAll does
// whatever size is declared.
func TestReadAllMatchesIOReadAll(t *testing.T) {
	errBoom := errors.New("boom")
	for _, data := range []string{"", "x", strings.Repeat("y", 511), strings.Repeat("z", 512), strings.Repeat("w", 5000)} {
		readers := map[string]func() io.Reader{
			"plain":   func() io.Reader { return strings.NewReader(data) },
			"onebyte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(data)) },
			"dataerr": func() io.Reader { return iotest.DataErrReader(strings.NewReader(data)) },
			"failing": func() io.Reader { return io.MultiReader(strings.NewReader(data), iotest.ErrReader(errBoom)) },
		}
		for name, rd := range readers {
			want, wantErr := io.ReadAll(rd())
			for _, size := range []int64{-1, 0, 1, int64(len(data)) - 1, int64(len(data)), int64(len(data)) + 7} {
				got, err := readAll(rd(), size)
				if !bytes.Equal(got, want) || !errors.Is(err, wantErr) && err != wantErr {
					t.Fatalf("%s %d bytes, size %d: %d bytes, %v; io.ReadAll %d bytes, %v",
						name, len(data), size, len(got), err, len(want), wantErr)
				}
			}
		}
	}
}

// TestRequestIDFormat: request ids are "req-" and a version 4 UUID, and
// each request gets its own.
func TestRequestIDFormat(t *testing.T) {
	re := regexp.MustCompile(`^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	e := newFSMEnv(t)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		id := e.get("/v2/queues/q/stats").expect(200).header.Get(headerRequestID)
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("request id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}
