package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// The benchmarks below serve the hot requests of a producer/consumer load
// (cmd/herald-bench's shapes: 256-byte bodies, claims of 10, lists of 10)
// through the real Handler, with the fsmBackend applying commands to an
// in-process FSM. Request construction (what net/http's readRequest does)
// is kept out of the loop as far as possible; the response writer gets a
// fresh header map per request, as net/http's does.

const (
	benchQueue    = "bench-q"
	benchBodySize = 256
	benchRefill   = 1000 // requests prepared per StopTimer/StartTimer round
)

// benchEnv is a handler on an in-process FSM.
type benchEnv struct {
	b     *testing.B
	h     http.Handler
	be    *fsmBackend
	clock *fakeClock
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	clock := newFakeClock()
	be := &fsmBackend{f: fsm.New(fsm.Config{}), clock: clock}
	h, err := New(Config{Backend: be, Ops: fakeOps{ready: true}, SignedURLKey: testKey, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{b: b, h: h, be: be, clock: clock}
}

// apply commits a command directly (setup, outside the measured handler).
func (e *benchEnv) apply(t fsm.CmdType, p any) *fsm.Result {
	e.b.Helper()
	cmd, err := fsm.NewCommand(t, "", p)
	if err != nil {
		e.b.Fatal(err)
	}
	res, err := e.be.Apply(context.Background(), cmd)
	if err != nil {
		e.b.Fatal(err)
	}
	return res
}

// seed posts n messages of benchBody to q and returns their ids.
func (e *benchEnv) seed(q string, n int) []string {
	e.b.Helper()
	var ids []string
	for n > 0 {
		k := min(n, 100)
		msgs := make([]fsm.NewMessage, k)
		ttl := int64(fsm.MaxMessageTTL)
		for i := range msgs {
			msgs[i] = fsm.NewMessage{Body: benchMessageBody(), TTL: &ttl}
		}
		res := e.apply(fsm.CmdMessagesPost, &fsm.MessagesPost{Project: testProject, Queue: q,
			ClientID: "3381af922b9e11e3b19171861300734c", Messages: msgs})
		ids = append(ids, res.IDs...)
		n -= k
	}
	return ids
}

// purge empties q (keeps memory flat over long runs).
func (e *benchEnv) purge(q string) {
	e.apply(fsm.CmdQueuePurge, &fsm.QueuePurge{Project: testProject, Queue: q, Messages: true})
}

// benchMessageBody is a JSON string of exactly benchBodySize bytes.
func benchMessageBody() []byte {
	return []byte(`"` + strings.Repeat("x", benchBodySize-2) + `"`)
}

// benchPostBody is herald-bench's post body: n messages with a ttl.
func benchPostBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"messages":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"ttl":300,"body":`)
		b.Write(benchMessageBody())
		b.WriteString(`}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// benchWriter is a minimal http.ResponseWriter that keeps the status and
// the body of the last answer.
type benchWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *benchWriter) reset() {
	w.h = make(http.Header) // net/http allocates one per request too
	w.status = 0
	w.body.Reset()
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

// benchRequest replays one request: the template as net/http would have
// parsed it, with a fresh body reader each time.
type benchRequest struct {
	tmpl *http.Request
	body []byte
	rd   bytes.Reader
}

// newBenchRequest builds the template with the headers herald-bench and
// Go's transport send.
func newBenchRequest(method, target string, body []byte) *benchRequest {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Header.Set("Client-ID", testClient)
	r.Header.Set("X-Project-ID", testProject)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "Go-http-client/1.1")
	r.Header.Set("Accept-Encoding", "gzip")
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	return &benchRequest{tmpl: r, body: body}
}

// next returns the request to serve, with u as its URL when not nil.
func (br *benchRequest) next(u *url.URL) *http.Request {
	r := new(http.Request)
	*r = *br.tmpl
	if u != nil {
		r.URL = u
		r.RequestURI = u.RequestURI()
	}
	if br.body != nil {
		br.rd.Reset(br.body)
		r.Body = io.NopCloser(&br.rd)
	} else {
		r.Body = http.NoBody
	}
	return r
}

// cpuMeter adds up the process CPU time of the timed parts of a
// benchmark and reports it as cpu-ns/op next to ns/op: on a shared,
// oversubscribed machine wall time mostly measures the neighbours, CPU
// time (this goroutine, GC and the runtime) much less so.
type cpuMeter struct {
	b     *testing.B
	start time.Duration
	total time.Duration
}

// startCPU resets the benchmark timer and starts measuring.
func startCPU(b *testing.B) *cpuMeter {
	b.ReportAllocs()
	b.ResetTimer()
	return &cpuMeter{b: b, start: processCPU()}
}

// pause stops the timer and the meter (for setup inside the loop).
func (m *cpuMeter) pause() {
	m.b.StopTimer()
	m.total += processCPU() - m.start
}

// resume restarts both.
func (m *cpuMeter) resume() {
	m.start = processCPU()
	m.b.StartTimer()
}

// report ends the measurement.
func (m *cpuMeter) report() {
	m.pause()
	m.b.ReportMetric(float64(m.total.Nanoseconds())/float64(m.b.N), "cpu-ns/op")
}

// serve runs one request and fails the benchmark on an unexpected status.
func (e *benchEnv) serve(w *benchWriter, r *http.Request, want int) {
	w.reset()
	e.h.ServeHTTP(w, r)
	if w.status != want {
		e.b.Fatalf("%s %s: status %d, want %d: %s", r.Method, r.URL, w.status, want, w.body.Bytes())
	}
}

func benchPost(b *testing.B, n int) {
	e := newBenchEnv(b)
	br := newBenchRequest("POST", "/v2/queues/"+benchQueue+"/messages", benchPostBody(n))
	var w benchWriter
	e.serve(&w, br.next(nil), http.StatusCreated)
	if !bytes.HasPrefix(w.body.Bytes(), []byte(`{"resources":["/v2/queues/`+benchQueue+`/messages/`)) {
		b.Fatalf("body %s", w.body.Bytes())
	}
	m := startCPU(b)
	defer m.report()
	for i := 0; i < b.N; i++ {
		if i%(10*benchRefill) == 0 && i > 0 {
			m.pause()
			e.purge(benchQueue)
			m.resume()
		}
		e.serve(&w, br.next(nil), http.StatusCreated)
	}
}

// BenchmarkPostMessages1 is POST .../messages with one 256-byte message.
func BenchmarkPostMessages1(b *testing.B) { benchPost(b, 1) }

// BenchmarkPostMessages10 is POST .../messages with ten 256-byte messages.
func BenchmarkPostMessages10(b *testing.B) { benchPost(b, 10) }

// BenchmarkPostClaim is POST .../claims?limit=10 claiming ten messages. The
// queue is refilled by letting the claims expire (clock moved outside the
// timer); the first claim after that reaps the expired ones.
func BenchmarkPostClaim(b *testing.B) {
	e := newBenchEnv(b)
	e.seed(benchQueue, benchRefill)
	br := newBenchRequest("POST", "/v2/queues/"+benchQueue+"/claims?limit=10", []byte(`{"ttl":60,"grace":60}`))
	var w benchWriter
	m := startCPU(b)
	defer m.report()
	for i := 0; i < b.N; i++ {
		if i%(benchRefill/10) == 0 && i > 0 {
			m.pause()
			e.clock.Advance(61 * time.Second)
			m.resume()
		}
		e.serve(&w, br.next(nil), http.StatusCreated)
	}
}

// claimed posts and claims n messages and returns the delete URLs of
// each with its claim id.
func (e *benchEnv) claimed(n int) []*url.URL {
	e.seed(benchQueue, n)
	var urls []*url.URL
	for len(urls) < n {
		res := e.apply(fsm.CmdClaimCreate, &fsm.ClaimCreate{Project: testProject, Queue: benchQueue,
			Limit: fsm.MaxMessagesPerClaimPop, TTL: 300, Grace: 60})
		if len(res.Messages) == 0 {
			e.b.Fatal("nothing to claim")
		}
		for _, m := range res.Messages {
			urls = append(urls, mustURL(e.b, messagesHref(benchQueue)+"/"+m.ID+"?claim_id="+res.ClaimID))
		}
	}
	return urls
}

func mustURL(b *testing.B, s string) *url.URL {
	u, err := url.ParseRequestURI(s)
	if err != nil {
		b.Fatal(err)
	}
	return u
}

// BenchmarkDeleteMessageClaimed is DELETE .../messages/{id}?claim_id= of a
// claimed message.
func BenchmarkDeleteMessageClaimed(b *testing.B) {
	benchDeletes(b, "/messages/x", func(e *benchEnv) []*url.URL { return e.claimed(benchRefill) })
}

// BenchmarkDeleteMessagesByIDs is DELETE .../messages?ids= with ten ids.
func BenchmarkDeleteMessagesByIDs(b *testing.B) {
	benchDeletes(b, "/messages?ids=x", func(e *benchEnv) []*url.URL {
		var urls []*url.URL
		ids := e.seed(benchQueue, benchRefill)
		for len(ids) > 0 {
			urls = append(urls, mustURL(b, messagesHref(benchQueue)+"?ids="+strings.Join(ids[:10], ",")))
			ids = ids[10:]
		}
		return urls
	})
}

// benchDeletes measures DELETE requests (path under the bench queue for
// the request's shape) on the URLs refill returns, refilled untimed.
func benchDeletes(b *testing.B, path string, refill func(e *benchEnv) []*url.URL) {
	e := newBenchEnv(b)
	br := newBenchRequest("DELETE", "/v2/queues/"+benchQueue+path, nil)
	var w benchWriter
	var urls []*url.URL
	m := startCPU(b)
	defer m.report()
	for i := 0; i < b.N; i++ {
		if len(urls) == 0 {
			m.pause()
			urls = refill(e)
			m.resume()
		}
		e.serve(&w, br.next(urls[0]), http.StatusNoContent)
		urls = urls[1:]
	}
}

// BenchmarkListMessages is GET .../messages?echo=true&limit=10 on a queue
// of 100 messages (a full page with a next link).
func BenchmarkListMessages(b *testing.B) {
	e := newBenchEnv(b)
	e.seed(benchQueue, 100)
	br := newBenchRequest("GET", "/v2/queues/"+benchQueue+"/messages?echo=true&limit=10", nil)
	var w benchWriter
	e.serve(&w, br.next(nil), http.StatusOK)
	if !bytes.Contains(w.body.Bytes(), []byte(`"links":[{"rel":"next"`)) {
		b.Fatalf("body %s", w.body.Bytes())
	}
	m := startCPU(b)
	defer m.report()
	for i := 0; i < b.N; i++ {
		e.serve(&w, br.next(nil), http.StatusOK)
	}
}

// cannedBackend answers every Apply with a fixed result per command type
// without applying anything (the command is still built and encoded, as
// for raft), and reads from a real FSM: what is left is the HTTP layer's
// own cost.
type cannedBackend struct {
	f       *fsm.FSM
	results map[fsm.CmdType]*fsm.Result
}

func (c *cannedBackend) Apply(_ context.Context, cmd *fsm.Command) (*fsm.Result, error) {
	if _, err := cmd.Encode(); err != nil {
		return nil, err
	}
	return c.results[cmd.Type], nil
}

func (c *cannedBackend) Read(_ context.Context, _ bool, fn func(*fsm.State)) error {
	c.f.Read(fn)
	return nil
}

// BenchmarkHandlerOnly serves the requests of the benchmarks above with a
// cannedBackend: the same requests and answers, no FSM apply.
func BenchmarkHandlerOnly(b *testing.B) {
	e := newBenchEnv(b) // seeds the FSM the canned backend reads
	ids := e.seed(benchQueue, 100)
	claim := e.apply(fsm.CmdClaimCreate, &fsm.ClaimCreate{Project: testProject, Queue: benchQueue,
		Limit: 10, TTL: 300, Grace: 60})
	cb := &cannedBackend{f: e.be.f, results: map[fsm.CmdType]*fsm.Result{
		fsm.CmdClaimCreate: claim,
		fsm.CmdMessageDel:  {},
		fsm.CmdMessagesDel: {},
	}}
	h, err := New(Config{Backend: cb, Ops: fakeOps{ready: true}, Now: e.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	e.h = h
	for _, c := range []struct {
		name string
		req  *benchRequest
		want int
		res  *fsm.Result // the message post's result (the ids of as many messages)
	}{
		{"PostMessages1", newBenchRequest("POST", "/v2/queues/"+benchQueue+"/messages", benchPostBody(1)), http.StatusCreated, &fsm.Result{IDs: ids[:1]}},
		{"PostMessages10", newBenchRequest("POST", "/v2/queues/"+benchQueue+"/messages", benchPostBody(10)),
			http.StatusCreated, &fsm.Result{IDs: ids[:10]}},
		{"PostClaim", newBenchRequest("POST", "/v2/queues/"+benchQueue+"/claims?limit=10", []byte(`{"ttl":60,"grace":60}`)),
			http.StatusCreated, nil},
		{"DeleteMessageClaimed", newBenchRequest("DELETE", messageHref(benchQueue, ids[0], claim.ClaimID), nil),
			http.StatusNoContent, nil},
		{"DeleteMessagesByIDs", newBenchRequest("DELETE", messagesHref(benchQueue)+"?ids="+strings.Join(ids[:10], ","), nil),
			http.StatusNoContent, nil},
		{"ListMessages", newBenchRequest("GET", "/v2/queues/"+benchQueue+"/messages?echo=true&limit=10", nil),
			http.StatusOK, nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			if c.res != nil {
				cb.results[fsm.CmdMessagesPost] = c.res
			}
			e.b = b
			var w benchWriter
			m := startCPU(b)
			defer m.report()
			for i := 0; i < b.N; i++ {
				e.serve(&w, c.req.next(nil), c.want)
			}
		})
	}
}
