package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// Default identity of test requests.
const (
	testClient  = "3381af92-2b9e-11e3-b191-71861300734c"
	testClient2 = "7fd3c3a8-6f4e-4b1f-9f06-0e3f6a1a2b3c"
	testProject = "proj-a"
	testKey     = "test-secret-key"
)

// fakeBackend is a Backend with function fields (rqlite's MockStore
// style). Nil fields: Apply returns an empty result, Read returns nil
// without calling fn.
type fakeBackend struct {
	mu      sync.Mutex
	applyFn func(ctx context.Context, cmd *fsm.Command) (*fsm.Result, error)
	readFn  func(ctx context.Context, stale bool, fn func(*fsm.State)) error
	applied []*fsm.Command
	reads   []bool // stale flag of every Read
}

func (b *fakeBackend) Apply(ctx context.Context, cmd *fsm.Command) (*fsm.Result, error) {
	b.mu.Lock()
	b.applied = append(b.applied, cmd)
	fn := b.applyFn
	b.mu.Unlock()
	if fn == nil {
		return &fsm.Result{}, nil
	}
	return fn(ctx, cmd)
}

func (b *fakeBackend) Read(ctx context.Context, stale bool, fn func(*fsm.State)) error {
	b.mu.Lock()
	b.reads = append(b.reads, stale)
	rf := b.readFn
	b.mu.Unlock()
	if rf == nil {
		return nil
	}
	return rf(ctx, stale, fn)
}

func (b *fakeBackend) appliedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.applied)
}

// fakeClock is a settable clock shared by the FSM backend (command time)
// and the handler (reader time).
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fsmBackend applies commands to a real FSM at increasing indexes, stamping
// the fake clock's time as the leader would.
type fsmBackend struct {
	mu    sync.Mutex // serialises applies (raft's single apply goroutine)
	f     *fsm.FSM
	index uint64
	clock *fakeClock
}

func (b *fsmBackend) Apply(_ context.Context, cmd *fsm.Command) (*fsm.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := *cmd
	c.Now = b.clock.Now().UnixNano()
	data, err := c.Encode()
	if err != nil {
		return nil, err
	}
	b.index++
	res := b.f.ApplyEntry(b.index, data)
	return res, res.Err()
}

func (b *fsmBackend) Read(_ context.Context, _ bool, fn func(*fsm.State)) error {
	b.f.Read(fn)
	return nil
}

// fakeOps is an Ops with fixed answers.
type fakeOps struct{ ready bool }

func (o fakeOps) Status() any { return map[string]any{"node_id": "n1", "state": "Leader"} }
func (o fakeOps) Ready() bool { return o.ready }

// env is a handler under test with its backend.
type env struct {
	t     *testing.T
	h     http.Handler
	clock *fakeClock
	fake  *fakeBackend // set by newFakeEnv
	fsmB  *fsmBackend  // set by newFSMEnv
}

func newFakeEnv(t *testing.T) *env {
	t.Helper()
	fb := &fakeBackend{}
	clock := newFakeClock()
	h, err := New(Config{Backend: fb, Ops: fakeOps{ready: true}, SignedURLKey: testKey, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: h, clock: clock, fake: fb}
}

func newFSMEnv(t *testing.T) *env {
	return newFSMEnvConfig(t, fsm.Config{})
}

func newFSMEnvConfig(t *testing.T, cfg fsm.Config) *env {
	t.Helper()
	clock := newFakeClock()
	b := &fsmBackend{f: fsm.New(cfg), clock: clock}
	h, err := New(Config{Backend: b, Ops: fakeOps{ready: true}, SignedURLKey: testKey, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: h, clock: clock, fsmB: b}
}

// resp is a recorded answer.
type resp struct {
	t      *testing.T
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r *resp) json() any {
	r.t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		r.t.Fatalf("body is not JSON: %v: %q", err, r.body)
	}
	return v
}

// obj decodes the body as an object.
func (r *resp) obj() map[string]any {
	r.t.Helper()
	m, ok := r.json().(map[string]any)
	if !ok {
		r.t.Fatalf("body is not a JSON object: %s", r.body)
	}
	return m
}

// expect checks the status and, for errors, the Zaqar error body.
func (r *resp) expect(status int) *resp {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if !strings.HasPrefix(r.header.Get(headerRequestID), "req-") {
		r.t.Fatalf("missing request id header: %v", r.header)
	}
	if status >= 400 {
		m := r.obj()
		title, _ := m["title"].(string)
		desc, _ := m["description"].(string)
		if title == "" || desc == "" {
			r.t.Fatalf("error body lacks title/description: %s", r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			r.t.Fatalf("error Content-Type = %q", ct)
		}
	}
	return r
}

// expectErr checks an error status, the title (if not empty) and that the
// description contains want (if not empty).
func (r *resp) expectErr(status int, title, want string) *resp {
	r.t.Helper()
	r.expect(status)
	m := r.obj()
	if title != "" && m["title"] != title {
		r.t.Fatalf("title = %q, want %q (body %s)", m["title"], title, r.body)
	}
	if want != "" && !strings.Contains(m["description"].(string), want) {
		r.t.Fatalf("description = %q, want it to contain %q", m["description"], want)
	}
	return r
}

// req is a request being built.
type req struct {
	e      *env
	method string
	path   string
	body   io.Reader
	hdr    http.Header
	length int64 // -2: from the body; -1: unknown (chunked)
}

func (e *env) req(method, path string) *req {
	h := http.Header{}
	h.Set("Client-ID", testClient)
	h.Set("X-Project-ID", testProject)
	return &req{e: e, method: method, path: path, hdr: h, length: -2}
}

func (r *req) json(s string) *req {
	r.body = strings.NewReader(s)
	r.hdr.Set("Content-Type", "application/json")
	return r
}

func (r *req) set(k, v string) *req { r.hdr.Set(k, v); return r }
func (r *req) del(k string) *req    { r.hdr.Del(k); return r }

func (r *req) do() *resp {
	r.e.t.Helper()
	hr := httptest.NewRequest(r.method, r.path, r.body)
	for k, v := range r.hdr {
		hr.Header[k] = v
	}
	if r.body != nil {
		if r.length != -2 {
			hr.ContentLength = r.length
		}
		if hr.ContentLength >= 0 {
			hr.Header.Set("Content-Length", itoa(int(hr.ContentLength)))
		}
	}
	w := httptest.NewRecorder()
	r.e.h.ServeHTTP(w, hr)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return &resp{t: r.e.t, status: res.StatusCode, header: res.Header, body: b}
}

// Shorthands.
func (e *env) get(path string) *resp    { return e.req("GET", path).do() }
func (e *env) delete(path string) *resp { return e.req("DELETE", path).do() }
func (e *env) put(path, body string) *resp {
	r := e.req("PUT", path)
	if body != "" {
		r.json(body)
	}
	return r.do()
}
func (e *env) post(path, body string) *resp {
	r := e.req("POST", path)
	if body != "" {
		r.json(body)
	}
	return r.do()
}
func (e *env) patchQueue(q, body string) *resp {
	return e.req("PATCH", "/v2/queues/"+q).json(body).set("Content-Type", patchMediaType).do()
}

// postIDs posts the messages and returns their ids.
func (e *env) postIDs(q, body string) []string {
	e.t.Helper()
	r := e.post("/v2/queues/"+q+"/messages", body).expect(201)
	var ids []string
	for _, h := range r.obj()["resources"].([]any) {
		s := h.(string)
		ids = append(ids, s[strings.LastIndex(s, "/")+1:])
	}
	return ids
}

// path walks a decoded JSON value: keys for objects, ints for arrays.
func path(v any, steps ...any) any {
	for _, s := range steps {
		switch k := s.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// compactJSON re-encodes s for comparisons that ignore whitespace.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
