package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHistogramExactSmallValues(t *testing.T) {
	var h Histogram
	for v := uint64(1); v <= 100; v++ { // 1..100 µs
		h.Record(v)
	}
	cases := map[float64]uint64{50: 50, 90: 90, 99: 99, 100: 100, 1: 1, 0.5: 1, 99.5: 100}
	for p, want := range cases {
		if got := h.Percentile(p); got != want {
			t.Errorf("p%v = %d, want %d", p, got, want)
		}
	}
	if h.Max() != 100 || h.Count() != 100 || h.Mean() != 50.5 {
		t.Errorf("max %d count %d mean %v", h.Max(), h.Count(), h.Mean())
	}
}

func TestHistogramKnownSkewedSamples(t *testing.T) {
	// 900 samples of 1 ms, 90 of 10 ms, 9 of 100 ms, 1 of 1 s.
	var h Histogram
	add := func(n int, d time.Duration) {
		for i := 0; i < n; i++ {
			h.RecordDuration(d)
		}
	}
	add(900, time.Millisecond)
	add(90, 10*time.Millisecond)
	add(9, 100*time.Millisecond)
	add(1, time.Second)
	within := func(name string, got, want uint64) {
		t.Helper()
		if got < want || float64(got) > float64(want)*1.001 {
			t.Errorf("%s = %d µs, want %d (+0.1%%)", name, got, want)
		}
	}
	within("p50", h.Percentile(50), 1000)
	within("p90", h.Percentile(90), 1000)
	within("p90.1", h.Percentile(90.1), 10000)
	within("p99", h.Percentile(99), 10000)
	within("p99.9", h.Percentile(99.9), 100000)
	if h.Percentile(100) != 1000000 || h.Max() != 1000000 {
		t.Errorf("p100 %d max %d, want exactly 1000000", h.Percentile(100), h.Max())
	}
}

func TestHistogramBucketsAreContiguous(t *testing.T) {
	prevHi := uint64(0)
	for i := 1; i < numBuckets; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d,%d], previous ended at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d,%d] maps back to %d,%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= 2*subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d too wide: [%d,%d]", i, lo, hi)
		}
		prevHi = hi
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, m Histogram
	for v := uint64(1); v <= 50; v++ {
		a.Record(v)
	}
	for v := uint64(51); v <= 100; v++ {
		b.Record(v)
	}
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	if m.Count() != 100 || m.Percentile(50) != 50 || m.Percentile(99) != 99 || m.Max() != 100 {
		t.Errorf("merged: count %d p50 %d p99 %d max %d", m.Count(), m.Percentile(50), m.Percentile(99), m.Max())
	}
	var empty Histogram
	if empty.Percentile(50) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram should report 0")
	}
}

func TestSummarizeRates(t *testing.T) {
	var st [numOps]OpStats
	st[OpPost].Requests, st[OpPost].Messages = 200, 2000
	st[OpPost].addError("status 503")
	st[OpClaim].Requests, st[OpClaim].Messages = 100, 500
	for v := uint64(1); v <= 100; v++ {
		st[OpPost].Latency.Record(v)
	}
	s := summarize(&st, 10*time.Second)
	if len(s.Ops) != 2 || s.Ops[0].Op != "post" || s.Ops[1].Op != "claim" {
		t.Fatalf("ops %+v", s.Ops)
	}
	p := s.Ops[0]
	if p.ReqPerSec != 20 || p.MsgsPerSec != 200 || p.Errors != 1 || p.ErrorKinds["status 503"] != 1 {
		t.Errorf("post summary %+v", p)
	}
	if p.Latency.P50 != 50 || p.Latency.P90 != 90 || p.Latency.P99 != 99 || p.Latency.Max != 100 {
		t.Errorf("post latency %+v", p.Latency)
	}
	if s.Overall.Requests != 300 || s.Overall.ReqPerSec != 30 || s.Overall.MsgsPerSec != 250 {
		t.Errorf("overall %+v", s.Overall)
	}
}

func TestParseConfigPresets(t *testing.T) {
	cfg, _, _, _, err := parseConfig([]string{"-mode", "post10", "-producers", "3", "-targets", "http://a/, http://b"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Producers != 3 || cfg.Batch != 10 || cfg.Consumers != 0 || len(cfg.Targets) != 2 || cfg.Targets[0] != "http://a" {
		t.Errorf("post10: %+v", cfg)
	}
	cfg, _, _, _, err = parseConfig([]string{"-mode", "consume"}, io.Discard)
	if err != nil || cfg.Producers != 0 || cfg.Consumers != 64 || cfg.Prefill != 100000 {
		t.Errorf("consume: %+v %v", cfg, err)
	}
	if _, _, _, _, err = parseConfig([]string{"-mode", "nope"}, io.Discard); err == nil {
		t.Error("unknown mode accepted")
	}
	if cfg, _, _, _, err = parseConfig(nil, io.Discard); err != nil || cfg.HTTP != HTTPLean {
		t.Errorf("default -http %q, %v; want lean", cfg.HTTP, err)
	}
	if cfg, _, _, _, err = parseConfig([]string{"-http", "std"}, io.Discard); err != nil || cfg.HTTP != HTTPStd {
		t.Errorf("-http std: %q, %v", cfg.HTTP, err)
	}
	if _, _, _, _, err = parseConfig([]string{"-http", "fast"}, io.Discard); err == nil {
		t.Error("unknown -http accepted")
	}
	if _, _, _, _, err = parseConfig([]string{"-project", "a\r\nX: y"}, io.Discard); err == nil {
		t.Error("-project with CR LF accepted")
	}
}

// httpModes are the -http clients the end-to-end tests run with.
var httpModes = []string{HTTPLean, HTTPStd}

// wantAgent is the User-Agent each client sends.
var wantAgent = map[string]string{HTTPLean: "herald-bench", HTTPStd: "Go-http-client/1.1"}

// fakeZaqar is a minimal in-memory Zaqar v2 server that records requests.
type fakeZaqar struct {
	mu       sync.Mutex
	queues   map[string][]fakeMsg
	nextID   int
	claims   map[string]bool
	reqs     []string // "METHOD path?query"
	bad      []string // protocol violations seen
	fail503  int      // answer the next n message POSTs with 503
	posted   int
	deleted  int
	clientID map[string]bool
	agents   map[string]bool // User-Agent headers seen
}

type fakeMsg struct {
	id, claim string
	body      json.RawMessage
}

func newFake() *fakeZaqar {
	return &fakeZaqar{queues: map[string][]fakeMsg{}, claims: map[string]bool{}, clientID: map[string]bool{}, agents: map[string]bool{}}
}

func (f *fakeZaqar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI())
	if r.Header.Get("X-Project-ID") != "p1" || len(r.Header.Get("Client-ID")) != 36 {
		f.bad = append(f.bad, "headers: "+r.Method+" "+r.URL.Path)
		w.WriteHeader(400)
		return
	}
	f.clientID[r.Header.Get("Client-ID")] = true
	f.agents[r.Header.Get("User-Agent")] = true
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/queues/"), "/")
	q := parts[0]
	switch {
	case len(parts) == 1 && r.Method == http.MethodPut:
		w.WriteHeader(201)
	case len(parts) == 1 && r.Method == http.MethodDelete:
		delete(f.queues, q)
		w.WriteHeader(204)
	case len(parts) == 2 && parts[1] == "messages" && r.Method == http.MethodPost:
		if f.fail503 > 0 {
			f.fail503--
			w.WriteHeader(503)
			return
		}
		var doc struct {
			Messages []struct {
				TTL  int             `json:"ttl"`
				Body json.RawMessage `json:"body"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil || len(doc.Messages) == 0 {
			f.bad = append(f.bad, "post body")
			w.WriteHeader(400)
			return
		}
		var hrefs []string
		for _, m := range doc.Messages {
			if m.TTL != 120 {
				f.bad = append(f.bad, "ttl")
			}
			f.nextID++
			id := fmt.Sprintf("m%d", f.nextID)
			f.queues[q] = append(f.queues[q], fakeMsg{id: id, body: m.Body})
			hrefs = append(hrefs, "/v2/queues/"+q+"/messages/"+id)
		}
		f.posted += len(doc.Messages)
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(map[string]any{"resources": hrefs})
	case len(parts) == 2 && parts[1] == "messages" && r.Method == http.MethodGet:
		var out []map[string]any
		for _, m := range f.queues[q] {
			out = append(out, map[string]any{"id": m.id, "href": "/v2/queues/" + q + "/messages/" + m.id, "body": m.body})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"messages": out, "links": []any{}})
	case len(parts) == 2 && parts[1] == "messages" && r.Method == http.MethodDelete:
		ids := strings.Split(r.URL.Query().Get("ids"), ",")
		for _, id := range ids {
			f.remove(q, id, "")
		}
		w.WriteHeader(204)
	case len(parts) == 3 && parts[1] == "messages" && r.Method == http.MethodDelete:
		cid := r.URL.Query().Get("claim_id")
		if !f.claims[cid] {
			f.bad = append(f.bad, "delete without valid claim_id")
			w.WriteHeader(400)
			return
		}
		f.remove(q, parts[2], cid)
		w.WriteHeader(204)
	case len(parts) == 2 && parts[1] == "claims" && r.Method == http.MethodPost:
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		body, _ := io.ReadAll(r.Body)
		if string(body) != `{"ttl":90,"grace":70}` {
			f.bad = append(f.bad, "claim body "+string(body))
		}
		cid := fmt.Sprintf("c%d", len(f.claims)+1)
		var out []map[string]any
		for i := range f.queues[q] {
			m := &f.queues[q][i]
			if m.claim == "" && len(out) < limit {
				m.claim = cid
				out = append(out, map[string]any{"id": m.id, "href": "/v2/queues/" + q + "/messages/" + m.id + "?claim_id=" + cid})
			}
		}
		if len(out) == 0 {
			w.WriteHeader(204)
			return
		}
		f.claims[cid] = true
		w.Header().Set("Location", "/v2/queues/"+q+"/claims/"+cid)
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(map[string]any{"messages": out})
	default:
		f.bad = append(f.bad, "unexpected "+r.Method+" "+r.URL.Path)
		w.WriteHeader(404)
	}
}

func (f *fakeZaqar) remove(q, id, claim string) {
	ms := f.queues[q]
	for i, m := range ms {
		if m.id == id {
			if claim != "" && m.claim != claim {
				f.bad = append(f.bad, "wrong claim for "+id)
				return
			}
			f.queues[q] = append(ms[:i:i], ms[i+1:]...)
			f.deleted++
			return
		}
	}
}

func testConfig(url, mode string) Config {
	return Config{Targets: []string{url}, Duration: 300 * time.Millisecond, Batch: 3, Size: 50, Queues: 2,
		Project: "p1", TTL: 120, ClaimLimit: 4, ClaimTTL: 90, ClaimGrace: 70, ListLimit: 10,
		Timeout: 5 * time.Second, EmptyBackoff: time.Millisecond, HTTP: mode}
}

// checkAgents fails unless every request came from the client of mode.
func (f *fakeZaqar) checkAgents(t *testing.T, mode string) {
	t.Helper()
	if len(f.agents) != 1 || !f.agents[wantAgent[mode]] {
		t.Errorf("-http %s: User-Agents %v, want only %q", mode, f.agents, wantAgent[mode])
	}
}

func TestProducersAgainstFake(t *testing.T) {
	for _, mode := range httpModes {
		t.Run(mode, func(t *testing.T) { testProducersAgainstFake(t, mode) })
	}
}

func testProducersAgainstFake(t *testing.T, mode string) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := testConfig(srv.URL, mode)
	cfg.Producers = 2
	f.fail503 = 2
	r := NewRunner(cfg, io.Discard)
	defer r.Close()
	if err := r.Setup(); err != nil {
		t.Fatal(err)
	}
	stats, elapsed := r.Run()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) > 0 {
		t.Fatalf("protocol violations: %v", f.bad[:min(5, len(f.bad))])
	}
	f.checkAgents(t, mode)
	p := &stats[OpPost]
	if p.Requests == 0 || p.Errors["status 503"] != 2 || p.Latency.Count() != p.Requests-2 {
		t.Fatalf("post stats: requests %d errors %v latencies %d", p.Requests, p.Errors, p.Latency.Count())
	}
	if int(p.Messages) != f.posted || p.Messages != 3*(p.Requests-2) {
		t.Errorf("messages %d, server stored %d, requests %d", p.Messages, f.posted, p.Requests)
	}
	if len(f.queues["bench-0"]) == 0 || len(f.queues["bench-1"]) == 0 {
		t.Error("both queues should receive messages")
	}
	if got := string(f.queues["bench-0"][0].body); got != `"`+strings.Repeat("x", 48)+`"` {
		t.Errorf("body %q is not a %d-byte JSON string", got, cfg.Size)
	}
	if !strings.HasPrefix(f.reqs[0], "PUT /v2/queues/bench-") {
		t.Errorf("first request %q, want queue PUT", f.reqs[0])
	}
	if len(f.clientID) < 3 { // setup workers + 2 producers
		t.Errorf("want distinct Client-IDs per worker, saw %d", len(f.clientID))
	}
	if elapsed < cfg.Duration {
		t.Errorf("elapsed %v < duration", elapsed)
	}
	s := summarize(&stats, elapsed)
	if s.Overall.Requests != p.Requests || s.Ops[0].MsgsPerSec <= 0 {
		t.Errorf("summary %+v", s.Overall)
	}
	var buf bytes.Buffer
	writeText(&buf, s)
	if !strings.Contains(buf.String(), "status 503=2") {
		t.Errorf("text summary lacks the error kinds:\n%s", buf.String())
	}
}

func TestConsumersAgainstFake(t *testing.T) {
	for _, tc := range []struct {
		mode string
		bulk bool
	}{{HTTPLean, false}, {HTTPLean, true}, {HTTPStd, false}, {HTTPStd, true}} {
		mode, bulk := tc.mode, tc.bulk
		t.Run(fmt.Sprintf("%s/bulk=%v", mode, bulk), func(t *testing.T) {
			f := newFake()
			srv := httptest.NewServer(f)
			defer srv.Close()
			cfg := testConfig(srv.URL, mode)
			cfg.Consumers, cfg.BulkDelete = 3, bulk
			r := NewRunner(cfg, io.Discard)
			defer r.Close()
			if err := r.Prefill(50); err != nil {
				t.Fatal(err)
			}
			stats, _ := r.Run()
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.bad) > 0 {
				t.Fatalf("protocol violations: %v", f.bad[:min(5, len(f.bad))])
			}
			f.checkAgents(t, mode)
			if f.posted != 50 || f.deleted != 50 {
				t.Fatalf("posted %d deleted %d, want 50 each", f.posted, f.deleted)
			}
			c, d := &stats[OpClaim], &stats[OpDelete]
			if c.Messages != 50 || d.Messages != 50 || c.Empty == 0 || len(c.Errors)+len(d.Errors) != 0 {
				t.Errorf("claim %+v delete %+v", c, d)
			}
			wantDeletes := uint64(50)
			if bulk {
				wantDeletes = c.Requests - c.Empty
			}
			if d.Requests != wantDeletes {
				t.Errorf("delete requests %d, want %d", d.Requests, wantDeletes)
			}
			for _, q := range f.reqs {
				if strings.HasPrefix(q, "POST /v2/queues/bench-") && strings.Contains(q, "/claims") && !strings.HasSuffix(q, "?limit=4") {
					t.Fatalf("claim request %q lacks ?limit=4", q)
				}
			}
		})
	}
}

func TestObserversAndWarmupAgainstFake(t *testing.T) {
	for _, mode := range httpModes {
		t.Run(mode, func(t *testing.T) { testObserversAndWarmupAgainstFake(t, mode) })
	}
}

func testObserversAndWarmupAgainstFake(t *testing.T, mode string) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := testConfig(srv.URL, mode)
	cfg.Observers, cfg.Queues = 2, 1
	cfg.Warmup = 200 * time.Millisecond
	r := NewRunner(cfg, io.Discard)
	defer r.Close()
	if err := r.Prefill(5); err != nil {
		t.Fatal(err)
	}
	stats, _ := r.Run()
	f.mu.Lock()
	total := 0
	for _, q := range f.reqs {
		if strings.HasPrefix(q, "GET /v2/queues/bench-0/messages?echo=true&limit=10") {
			total++
		}
	}
	f.checkAgents(t, mode)
	f.mu.Unlock()
	l := &stats[OpList]
	if l.Requests == 0 || l.Messages != 5*l.Requests || l.Empty != 0 {
		t.Errorf("list stats %+v", l)
	}
	if int(l.Requests) >= total {
		t.Errorf("warmup requests were recorded: %d recorded of %d sent", l.Requests, total)
	}
	if err := r.Drain(); err != nil {
		t.Fatal(err)
	}
}

func TestRunExitsNonZeroWhenEverythingFails(t *testing.T) {
	for _, mode := range httpModes {
		t.Run(mode, func(t *testing.T) { testRunExitsNonZeroWhenEverythingFails(t, mode) })
	}
}

func testRunExitsNonZeroWhenEverythingFails(t *testing.T, mode string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	var out bytes.Buffer
	rc := run([]string{"-targets", srv.URL, "-duration", "100ms", "-warmup", "0", "-json", "-http", mode}, &out, io.Discard)
	var s Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("json output: %v\n%s", err, out.String())
	}
	if rc != 1 || s.Overall.Errors == 0 || s.Overall.ErrorKinds["status 500"] != s.Overall.Errors {
		t.Errorf("rc %d summary %+v", rc, s.Overall)
	}
}
