package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is a complete benchmark configuration.
type Config struct {
	Mode         string        // preset name, informational
	Targets      []string      // base URLs, e.g. http://127.0.0.1:8888
	Duration     time.Duration // measured time
	Warmup       time.Duration // unmeasured time before Duration
	Producers    int           // workers posting messages
	Consumers    int           // workers claiming and deleting messages
	Observers    int           // workers listing messages
	Batch        int           // messages per POST
	Size         int           // message body bytes
	Queues       int           // queues bench-0 .. bench-(Queues-1)
	Project      string        // X-Project-ID
	TTL          int           // message ttl, seconds
	ClaimLimit   int           // ?limit= of claims
	ClaimTTL     int           // claim ttl, seconds
	ClaimGrace   int           // claim grace, seconds
	ListLimit    int           // ?limit= of lists
	BulkDelete   bool          // consumers delete with ?ids= instead of one DELETE per message
	Timeout      time.Duration // per-request timeout
	EmptyBackoff time.Duration // consumer pause after an empty claim
	Prefill      int           // messages posted (unmeasured) before the run
	Progress     time.Duration // live progress interval on stderr (0 = none)
	HTTP         string        // client: HTTPLean (also when empty) or HTTPStd
}

// The HTTP clients a Config can select.
const (
	HTTPLean = "lean" // herald-bench's own HTTP/1.1 client (httpconn.go); https targets use HTTPStd
	HTTPStd  = "std"  // net/http
)

// lean reports whether workers use the lean client for http:// targets.
func (c *Config) lean() bool { return c.HTTP != HTTPStd }

// Workers returns the total number of workers.
func (c *Config) Workers() int { return c.Producers + c.Consumers + c.Observers }

// QueueName returns the name of queue i.
func QueueName(i int) string { return "bench-" + strconv.Itoa(i) }

// Runner drives one benchmark run.
type Runner struct {
	cfg    Config
	client *http.Client
	log    io.Writer // progress and prefill messages

	// live totals for the progress line (all requests, warmup included)
	reqs, msgs, errs atomic.Uint64
}

// NewRunner returns a Runner for cfg. Its net/http client, tuned for cfg's
// concurrency, serves -http std and https targets; with -http lean (the
// default) every worker owns one lean connection to its http:// target.
func NewRunner(cfg Config, log io.Writer) *Runner {
	if cfg.lean() {
		for _, t := range cfg.Targets {
			if !leanSupported(t) {
				fmt.Fprintf(log, "herald-bench: %s: the lean client speaks plain http only; using net/http for this target\n", t)
			}
		}
	}
	n := cfg.Workers() + 16
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          n * len(cfg.Targets),
		MaxIdleConnsPerHost:   n,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		ExpectContinueTimeout: 0,
	}
	return &Runner{cfg: cfg, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}, log: log}
}

// Close releases the net/http client's idle connections (workers close their
// lean connections when they finish).
func (r *Runner) Close() { r.client.CloseIdleConnections() }

func newClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// postBody builds {"messages":[...]} with n messages whose body is a JSON
// string of exactly size bytes (a JSON string of size-2 characters).
func postBody(n, size, ttl int) []byte {
	inner := size - 2
	if inner < 0 {
		inner = 0
	}
	var b bytes.Buffer
	b.WriteString(`{"messages":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"ttl":`)
		b.WriteString(strconv.Itoa(ttl))
		b.WriteString(`,"body":"`)
		b.Write(bytes.Repeat([]byte{'x'}, inner))
		b.WriteString(`"}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// worker is one client loop; it owns its statistics and buffers.
type worker struct {
	r       *Runner
	base    string
	queue   string
	lean    *leanConn    // the lean client's connection; nil: net/http
	hdr     http.Header  // net/http: request headers
	buf     bytes.Buffer // net/http: response body
	stats   [numOps]OpStats
	measure time.Time // requests started before this are not recorded
	end     time.Time // no request is started after this
}

func (r *Runner) newWorker(target string, queue int) *worker {
	w := &worker{r: r, base: strings.TrimRight(target, "/"), queue: QueueName(queue)}
	id := newClientID()
	if r.cfg.lean() && leanSupported(w.base) {
		if c, err := newLeanConn(w.base, leanHeaders(id, r.cfg.Project), r.cfg.Timeout); err == nil {
			w.lean = c
			return w
		}
	}
	h := http.Header{}
	h.Set("Client-ID", id)
	h.Set("X-Project-ID", r.cfg.Project)
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	w.hdr = h
	return w
}

// close closes the worker's lean connection, if any.
func (w *worker) close() {
	if w.lean != nil {
		w.lean.close()
	}
}

// result of one request.
type result struct {
	status int
	loc    []byte // Location header; valid until the next request of the worker
	body   []byte // valid until the next request of the worker
}

// do sends one request and reads the whole response into w.buf. It records
// the outcome under op when the request started inside the measured window:
// ok statuses count as successes (with their latency), others as errors. msgs
// is added to the live message counter by the caller.
func (w *worker) do(op Op, method, url string, body []byte, ok1, ok2 int) (result, bool) {
	var (
		res   result
		err   error
		start time.Time
	)
	if w.lean != nil {
		start = time.Now()
		// Every URL is built as w.base + path.
		res.status, res.loc, res.body, err = w.lean.do(method, strings.TrimPrefix(url, w.base), body, start)
	} else {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, rerr := http.NewRequestWithContext(context.Background(), method, url, rd)
		if rerr != nil {
			panic(rerr) // URLs are built by us
		}
		req.Header = w.hdr
		start = time.Now()
		var resp *http.Response
		if resp, err = w.r.client.Do(req); err == nil {
			w.buf.Reset()
			_, err = w.buf.ReadFrom(resp.Body)
			resp.Body.Close()
			res.status = resp.StatusCode
			if l := resp.Header.Get("Location"); l != "" {
				res.loc = []byte(l)
			}
			res.body = w.buf.Bytes()
		}
	}
	lat := time.Since(start)
	w.r.reqs.Add(1)
	rec := !start.Before(w.measure)
	st := &w.stats[op]
	if rec {
		st.Requests++
	}
	good := err == nil && (res.status == ok1 || res.status == ok2)
	if !good {
		w.r.errs.Add(1)
		if rec {
			st.addError(errorKind(err, res.status))
		}
		return res, false
	}
	if rec {
		st.Latency.RecordDuration(lat)
	}
	return res, true
}

// recorded reports whether a request started at t is in the measured window.
func (w *worker) recorded(t time.Time) bool { return !t.Before(w.measure) }

func errorKind(err error, status int) string {
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "timeout"
		}
		return "network"
	}
	return "status " + strconv.Itoa(status)
}

func (w *worker) addMessages(op Op, started time.Time, n int) {
	w.r.msgs.Add(uint64(n))
	if w.recorded(started) {
		w.stats[op].Messages += uint64(n)
	}
}

func (w *worker) addEmpty(op Op, started time.Time) {
	if w.recorded(started) {
		w.stats[op].Empty++
	}
}

func (w *worker) produce() {
	cfg := &w.r.cfg
	body := postBody(cfg.Batch, cfg.Size, cfg.TTL)
	url := w.base + "/v2/queues/" + w.queue + "/messages"
	for {
		t := time.Now()
		if !t.Before(w.end) {
			return
		}
		if _, ok := w.do(OpPost, http.MethodPost, url, body, http.StatusCreated, 0); ok {
			w.addMessages(OpPost, t, cfg.Batch)
		}
	}
}

// claimResponse is the part of a claim (or list) response the workers read.
type claimResponse struct {
	Messages []struct {
		ID   string `json:"id"`
		Href string `json:"href"`
	} `json:"messages"`
}

// messageID returns a message's id, from its "id" or the last path segment
// of its href.
func messageID(id, href string) string {
	if id != "" {
		return id
	}
	if i := strings.IndexByte(href, '?'); i >= 0 {
		href = href[:i]
	}
	return href[strings.LastIndexByte(href, '/')+1:]
}

// claimID extracts the claim id from a claim's Location header.
func claimID(loc []byte) string {
	if i := bytes.IndexByte(loc, '?'); i >= 0 {
		loc = loc[:i]
	}
	return string(loc[bytes.LastIndexByte(loc, '/')+1:])
}

func (w *worker) consume() {
	cfg := &w.r.cfg
	qpath := w.base + "/v2/queues/" + w.queue
	claimURL := qpath + "/claims?limit=" + strconv.Itoa(cfg.ClaimLimit)
	claimBody := []byte(fmt.Sprintf(`{"ttl":%d,"grace":%d}`, cfg.ClaimTTL, cfg.ClaimGrace))
	var cr claimResponse
	ids := make([]string, 0, cfg.ClaimLimit)
	var del strings.Builder
	for {
		t := time.Now()
		if !t.Before(w.end) {
			return
		}
		res, ok := w.do(OpClaim, http.MethodPost, claimURL, claimBody, http.StatusCreated, http.StatusNoContent)
		if !ok {
			continue
		}
		if res.status == http.StatusNoContent {
			w.addEmpty(OpClaim, t)
			if cfg.EmptyBackoff > 0 {
				time.Sleep(cfg.EmptyBackoff)
			}
			continue
		}
		cr.Messages = cr.Messages[:0]
		if err := json.Unmarshal(res.body, &cr); err != nil {
			w.decodeError(OpClaim, t)
			continue
		}
		cid := claimID(res.loc)
		ids = ids[:0]
		for _, m := range cr.Messages {
			ids = append(ids, messageID(m.ID, m.Href))
		}
		w.addMessages(OpClaim, t, len(ids))
		if len(ids) == 0 {
			continue
		}
		if cfg.BulkDelete {
			t = time.Now()
			if !t.Before(w.end) {
				return
			}
			del.Reset()
			del.WriteString(qpath)
			del.WriteString("/messages?ids=")
			del.WriteString(strings.Join(ids, ","))
			if _, ok := w.do(OpDelete, http.MethodDelete, del.String(), nil, http.StatusNoContent, 0); ok {
				w.addMessages(OpDelete, t, len(ids))
			}
			continue
		}
		for _, id := range ids {
			t = time.Now()
			if !t.Before(w.end) {
				return
			}
			del.Reset()
			del.WriteString(qpath)
			del.WriteString("/messages/")
			del.WriteString(id)
			del.WriteString("?claim_id=")
			del.WriteString(cid)
			if _, ok := w.do(OpDelete, http.MethodDelete, del.String(), nil, http.StatusNoContent, 0); ok {
				w.addMessages(OpDelete, t, 1)
			}
		}
	}
}

// decodeError turns a request already counted as a success into a "decode"
// error (the body was not what Zaqar sends).
func (w *worker) decodeError(op Op, started time.Time) {
	w.r.errs.Add(1)
	if w.recorded(started) {
		w.stats[op].addError("decode")
	}
}

func (w *worker) observe() {
	cfg := &w.r.cfg
	url := w.base + "/v2/queues/" + w.queue + "/messages?echo=true&limit=" + strconv.Itoa(cfg.ListLimit)
	var lr claimResponse
	for {
		t := time.Now()
		if !t.Before(w.end) {
			return
		}
		res, ok := w.do(OpList, http.MethodGet, url, nil, http.StatusOK, http.StatusNoContent)
		if !ok {
			continue
		}
		lr.Messages = lr.Messages[:0]
		if len(res.body) > 0 {
			if err := json.Unmarshal(res.body, &lr); err != nil {
				w.decodeError(OpList, t)
				continue
			}
		}
		if len(lr.Messages) == 0 {
			w.addEmpty(OpList, t)
		}
		w.addMessages(OpList, t, len(lr.Messages))
	}
}

// Run starts every worker, runs the warmup and the measured duration, and
// returns the merged statistics and the measured wall time.
func (r *Runner) Run() ([numOps]OpStats, time.Duration) {
	cfg := &r.cfg
	start := time.Now()
	measure := start.Add(cfg.Warmup)
	end := measure.Add(cfg.Duration)
	var workers []*worker
	add := func(n int) {
		for i := 0; i < n; i++ {
			w := r.newWorker(cfg.Targets[len(workers)%len(cfg.Targets)], i%cfg.Queues)
			w.measure, w.end = measure, end
			workers = append(workers, w)
		}
	}
	add(cfg.Producers)
	add(cfg.Consumers)
	add(cfg.Observers)
	stop := make(chan struct{})
	var pwg sync.WaitGroup
	if cfg.Progress > 0 {
		pwg.Add(1)
		go func() { defer pwg.Done(); r.progress(start, measure, stop) }()
	}
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.close()
			switch {
			case i < cfg.Producers:
				w.produce()
			case i < cfg.Producers+cfg.Consumers:
				w.consume()
			default:
				w.observe()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(measure)
	close(stop)
	pwg.Wait()
	var total [numOps]OpStats
	for _, w := range workers {
		for op := range total {
			total[op].merge(&w.stats[op])
		}
	}
	return total, elapsed
}

// progress prints a single, rewritten status line on r.log every interval.
func (r *Runner) progress(start, measure time.Time, stop <-chan struct{}) {
	tk := time.NewTicker(r.cfg.Progress)
	defer tk.Stop()
	last := start
	lastReqs, lastMsgs := r.reqs.Load(), r.msgs.Load()
	for {
		select {
		case <-stop:
			fmt.Fprintln(r.log)
			return
		case now := <-tk.C:
			reqs, msgs, errs := r.reqs.Load(), r.msgs.Load(), r.errs.Load()
			dt := now.Sub(last).Seconds()
			phase := ""
			if now.Before(measure) {
				phase = " (warmup)"
			}
			fmt.Fprintf(r.log, "\r%7.1fs  %9.1f req/s  %10.1f msgs/s  errors %d%s      ",
				now.Sub(start).Seconds(), float64(reqs-lastReqs)/dt, float64(msgs-lastMsgs)/dt, errs, phase)
			last, lastReqs, lastMsgs = now, reqs, msgs
		}
	}
}
