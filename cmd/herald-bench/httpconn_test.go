package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testClientID = "00000000-0000-4000-8000-000000000000"

func newTestLean(t testing.TB, target string, timeout time.Duration) *leanConn {
	t.Helper()
	c, err := newLeanConn(target, leanHeaders(testClientID, "p1"), timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

// mustDo sends one request that must succeed; it returns the status, the
// Location and a copy of the body.
func mustDo(t *testing.T, c *leanConn, method, path string, body []byte) (int, string, string) {
	t.Helper()
	status, loc, rb, err := c.do(method, path, body, time.Now())
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, string(loc), string(rb)
}

// echoHandler answers with what it received: method, request URI, Host, the
// headers the bench sends, the body length. POSTs get a Location.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if r.Method == http.MethodPost {
		w.Header().Set("Location", r.URL.Path+"/loc-1")
	}
	if n, _ := strconv.Atoi(r.URL.Query().Get("size")); n > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(bytes.Repeat([]byte{'z'}, n))
		return
	}
	fmt.Fprintf(w, "%s %s host=%s ct=%q cl=%q cid=%s proj=%s accept=%s body=%d",
		r.Method, r.RequestURI, r.Host, r.Header.Get("Content-Type"), r.Header.Values("Content-Length"),
		r.Header.Get("Client-ID"), r.Header.Get("X-Project-ID"), r.Header.Get("Accept"), len(b))
}

func TestLeanContentLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	c := newTestLean(t, srv.URL, 5*time.Second)
	host := strings.TrimPrefix(srv.URL, "http://")
	post := []byte(`{"messages":[{"ttl":60,"body":"x"}]}`)
	cases := []struct {
		method, path string
		body         []byte
		want, loc    string
	}{
		{"POST", "/v2/queues/q/messages", post, fmt.Sprintf(`POST /v2/queues/q/messages host=%s ct="application/json" cl=["%d"] cid=%s proj=p1 accept=application/json body=%d`, host, len(post), testClientID, len(post)), "/v2/queues/q/messages/loc-1"},
		{"GET", "/v2/queues/q/messages?echo=true&limit=10", nil, fmt.Sprintf(`GET /v2/queues/q/messages?echo=true&limit=10 host=%s ct="" cl=[] cid=%s proj=p1 accept=application/json body=0`, host, testClientID), ""},
		{"PUT", "/v2/queues/q", nil, fmt.Sprintf(`PUT /v2/queues/q host=%s ct="" cl=["0"] cid=%s proj=p1 accept=application/json body=0`, host, testClientID), ""},
		{"DELETE", "/v2/queues/q/messages/m1?claim_id=c1", nil, fmt.Sprintf(`DELETE /v2/queues/q/messages/m1?claim_id=c1 host=%s ct="" cl=[] cid=%s proj=p1 accept=application/json body=0`, host, testClientID), ""},
	}
	for round := 0; round < 2; round++ {
		for _, tc := range cases {
			status, loc, body := mustDo(t, c, tc.method, tc.path, tc.body)
			if status != 200 || body != tc.want || loc != tc.loc {
				t.Errorf("%s %s: %d loc %q\n got %s\nwant %s", tc.method, tc.path, status, loc, body, tc.want)
			}
		}
	}
	// A body larger than the read buffer.
	if status, _, body := mustDo(t, c, "GET", "/big?size=100000", nil); status != 200 || body != strings.Repeat("z", 100000) {
		t.Errorf("big body: %d, %d bytes", status, len(body))
	}
	if c.dials != 1 || c.resent != 0 {
		t.Errorf("dials %d resent %d, want one keep-alive connection", c.dials, c.resent)
	}
	// The target's path prefixes request paths.
	p := newTestLean(t, srv.URL+"/zaqar/", 5*time.Second)
	if _, _, body := mustDo(t, p, "GET", "/v2/x", nil); !strings.HasPrefix(body, "GET /zaqar/v2/x ") {
		t.Errorf("prefixed target: %s", body)
	}
}

func TestLeanChunked(t *testing.T) {
	part := strings.Repeat("0123456789", 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/claims/c7")
		w.WriteHeader(201)
		for i := 0; i < 3; i++ {
			_, _ = io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	c := newTestLean(t, srv.URL, 5*time.Second)
	for i := 0; i < 3; i++ {
		status, loc, body := mustDo(t, c, "POST", "/claims", []byte(`{}`))
		if status != 201 || loc != "/claims/c7" || body != part+part+part {
			t.Fatalf("chunked: %d %q %d bytes", status, loc, len(body))
		}
	}
	if c.dials != 1 {
		t.Errorf("dials %d, want 1 (chunked bodies keep the connection)", c.dials)
	}
}

func TestLeanBodilessResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.WriteHeader(304)
		default:
			_, _ = io.WriteString(w, "0123456789") // HEAD: Content-Length 10, no body
		}
	}))
	defer srv.Close()
	c := newTestLean(t, srv.URL, 5*time.Second)
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{{"DELETE", "/204", 204, ""}, {"GET", "/304", 304, ""}, {"HEAD", "/x", 200, ""}, {"GET", "/x", 200, "0123456789"}, {"HEAD", "/x", 200, ""}, {"GET", "/204", 204, ""}} {
		if status, _, body := mustDo(t, c, tc.method, tc.path, nil); status != tc.status || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, status, body, tc.status, tc.body)
		}
	}
	if c.dials != 1 {
		t.Errorf("dials %d, want 1", c.dials)
	}
}

func TestLeanServerConnectionClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	}))
	defer srv.Close()
	c := newTestLean(t, srv.URL, 5*time.Second)
	for i := 1; i <= 3; i++ {
		if status, _, body := mustDo(t, c, "POST", "/", []byte("{}")); status != 200 || body != "bye" {
			t.Fatalf("%d %q", status, body)
		}
		if c.conn != nil || c.dials != i {
			t.Fatalf("after Connection: close: conn %v, dials %d, want closed and %d", c.conn, c.dials, i)
		}
	}
}

// TestLeanIdleClose covers a server closing a keep-alive connection between
// requests (see "Stale connections" in httpconn.go).
func TestLeanIdleClose(t *testing.T) {
	t.Run("probe", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
		srv.Config.IdleTimeout = 30 * time.Millisecond
		closed := make(chan struct{}, 1)
		srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed { // after the server closed the socket
				select {
				case closed <- struct{}{}:
				default:
				}
			}
		}
		srv.Start()
		defer srv.Close()
		c := newTestLean(t, srv.URL, 5*time.Second)
		c.idleCheck = 0 // probe before every reuse
		mustDo(t, c, "POST", "/a", []byte("{}"))
		select { // the server closes the idle connection
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the server did not close the idle connection")
		}
		if status, _, _ := mustDo(t, c, "POST", "/a", []byte("{}")); status != 200 {
			t.Fatal(status)
		}
		if c.dials != 2 || c.resent != 0 {
			t.Errorf("dials %d resent %d, want 2 and 0 (the probe finds the closed connection)", c.dials, c.resent)
		}
	})
	for _, tc := range []struct {
		method string
		ok     bool
	}{{"GET", true}, {"DELETE", true}, {"POST", false}} {
		t.Run("unprobed "+tc.method, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(echoHandler))
			defer srv.Close()
			c := newTestLean(t, srv.URL, 5*time.Second)
			c.idleCheck = time.Hour
			var body []byte
			if tc.method == "POST" {
				body = []byte("{}")
			}
			mustDo(t, c, tc.method, "/a", body)
			srv.CloseClientConnections() // closed before it returns
			status, _, _, err := c.do(tc.method, "/a", body, time.Now())
			if tc.ok {
				if err != nil || status != 200 || c.resent != 1 {
					t.Fatalf("idempotent %s on a closed connection: %d %v, resent %d; want it resent once", tc.method, status, err, c.resent)
				}
			} else {
				if err == nil || errorKind(err, 0) != "network" || c.resent != 0 || c.conn != nil {
					t.Fatalf("POST on a closed connection: %d %v resent %d; want a network error, not resent", status, err, c.resent)
				}
				if status, _, _ := mustDo(t, c, "POST", "/a", body); status != 200 {
					t.Fatal(status)
				}
			}
			if c.dials != 2 {
				t.Errorf("dials %d, want 2", c.dials)
			}
		})
	}
}

func TestLeanTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer close(release)
	c := newTestLean(t, srv.URL, 100*time.Millisecond)
	mustDo(t, c, "GET", "/fast", nil)
	start := time.Now()
	_, _, _, err := c.do("GET", "/slow", nil, start)
	if el := time.Since(start); err == nil || errorKind(err, 0) != "timeout" || el > 2*time.Second {
		t.Fatalf("slow request: %v after %v, want a timeout after 100ms", err, el)
	}
	if c.conn != nil || c.resent != 0 {
		t.Errorf("after a timeout: conn %v resent %d, want closed, not resent", c.conn, c.resent)
	}
	if _, _, body := mustDo(t, c, "GET", "/fast", nil); body != "ok" {
		t.Errorf("after the timeout: %q", body)
	}
}

// rawServer serves connections on 127.0.0.1 with handle and returns its URL.
func rawServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				handle(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// cannedServer answers every request on a connection with resp; it can
// close the connection after each answer.
func cannedServer(t testing.TB, resp string, closeAfter bool) string {
	return rawServer(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(conn, resp); err != nil || closeAfter {
				return
			}
		}
	})
}

func TestLeanRawResponses(t *testing.T) {
	for _, tc := range []struct {
		name, resp  string
		serverClose bool   // the server closes after answering
		status      int    // 0: an error is expected
		body, loc   string // expected
		keep        bool   // the client keeps the connection
	}{
		{"interim 100 and 103", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\nLocation: /no\r\n\r\nHTTP/1.1 201 Created\r\nLocation: /c/1\r\nContent-Length: 2\r\n\r\nok", false, 201, "ok", "/c/1", true},
		{"chunked with extensions and trailers", "HTTP/1.1 200 OK\r\ntransfer-ENCODING: Chunked\r\n\r\n5;ext=1\r\nhello\r\n6 \r\n world\r\n0\r\nX-Trailer: 1\r\nX-More: 2\r\n\r\n", false, 200, "hello world", "", true},
		{"header names in any case", "HTTP/1.1 201 Created\r\nCONTENT-LENGTH: 3\r\nlocation:  /q/claims/9?x=1 \r\n\r\nabc", false, 201, "abc", "/q/claims/9?x=1", true},
		{"connection close in a list", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nconnection: keep-alive, Close\r\n\r\nabc", false, 200, "abc", "", false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", true, 200, "hi", "", false},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi", false, 200, "hi", "", true},
		{"no length: read to EOF", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", true, 200, "until the end", "", false},
		{"status without reason", "HTTP/1.1 204\r\n\r\n", false, 204, "", "", true},
		{"LF line endings", "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", false, 200, "hi", "", true},
		{"chunked and Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", false, 200, "hi", "", false},
		{"gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", false, 200, "hi", "", true},
		{"other coding: read to EOF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", true, 200, "zz", "", false},
		{"bad status line", "HTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 0, "", "", false},
		{"bad status code", "HTTP/1.1 2x0 OK\r\n\r\n", false, 0, "", "", false},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\n\r\n", false, 0, "", "", false},
		{"malformed header", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", false, 0, "", "", false},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", false, 0, "", "", false},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, 0, "", "", false},
		{"truncated headers", "HTTP/1.1 200 OK\r\nContent-Len", true, 0, "", "", false},
		{"truncated chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", true, 0, "", "", false},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, 0, "", "", false},
		{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n0\r\n\r\n", false, 0, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestLean(t, cannedServer(t, tc.resp, tc.serverClose), 2*time.Second)
			for i := 1; i <= 2; i++ {
				status, loc, body, err := c.do("POST", "/x", []byte("{}"), time.Now())
				if tc.status == 0 {
					if err == nil {
						t.Fatalf("got %d %q, want an error", status, body)
					}
					if k := errorKind(err, 0); k != "network" || c.conn != nil {
						t.Fatalf("error %v: kind %q, conn %v; want network and closed", err, k, c.conn)
					}
					return
				}
				if err != nil || status != tc.status || string(body) != tc.body || string(loc) != tc.loc {
					t.Fatalf("request %d: %d %q loc %q %v; want %d %q loc %q", i, status, body, loc, err, tc.status, tc.body, tc.loc)
				}
				if (c.conn != nil) != tc.keep {
					t.Fatalf("request %d: connection kept %v, want %v", i, c.conn != nil, tc.keep)
				}
			}
			if want := map[bool]int{true: 1, false: 2}[tc.keep]; c.dials != want || c.resent != 0 {
				t.Errorf("dials %d resent %d, want %d and 0", c.dials, c.resent, want)
			}
		})
	}
}

func TestLeanUnsolicitedBytes(t *testing.T) {
	c := newTestLean(t, cannedServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiJUNK", false), 2*time.Second)
	for i := 0; i < 2; i++ {
		if _, _, body := mustDo(t, c, "GET", "/", nil); body != "hi" {
			t.Fatalf("%q", body)
		}
	}
	if c.dials != 2 {
		t.Errorf("dials %d: a connection with unread bytes must not be reused", c.dials)
	}
}

func TestLeanRequestChecks(t *testing.T) {
	c := newTestLean(t, "http://127.0.0.1:1", time.Second)
	if _, _, _, err := c.do("GET", "/a b", nil, time.Now()); err == nil || c.dials != 0 {
		t.Errorf("path with a space: %v, dials %d", err, c.dials)
	}
	for target, ok := range map[string]bool{"http://h:1": true, "http://h/p": true, "http://[::1]:8": true,
		"https://h": false, "h:1": false, "http://": false, "ftp://h": false} {
		if leanSupported(target) != ok {
			t.Errorf("leanSupported(%q) = %v", target, !ok)
		}
	}
	if c, err := newLeanConn("http://example.test", nil, 0); err != nil || c.addr != "example.test:80" || c.host != "example.test" {
		t.Errorf("default port: %+v %v", c, err)
	}
	var log bytes.Buffer
	r := NewRunner(Config{Targets: []string{"https://127.0.0.1:1", "http://127.0.0.1:2"}, Project: "p"}, &log)
	defer r.Close()
	if w := r.newWorker("https://127.0.0.1:1", 0); w.lean != nil || w.hdr == nil {
		t.Error("https target: want the net/http client")
	}
	if w := r.newWorker("http://127.0.0.1:2", 0); w.lean == nil {
		t.Error("http target: want the lean client")
	}
	if !strings.Contains(log.String(), "https://127.0.0.1:1") || strings.Contains(log.String(), ":2") {
		t.Errorf("fallback notice: %q", log.String())
	}
	r2 := NewRunner(Config{Targets: []string{"http://127.0.0.1:2"}, HTTP: HTTPStd}, io.Discard)
	defer r2.Close()
	if w := r2.newWorker("http://127.0.0.1:2", 0); w.lean != nil {
		t.Error("-http std: want the net/http client")
	}
}

// What the benchmarks' servers answer to a POST.
const (
	leanPostBody     = `{"resources":["/v2/queues/bench-0/messages/5f3c0f6a-9d4e-4b5a-8f7e-0a1b2c3d4e5f"]}`
	leanPostLocation = "/v2/queues/bench-0/messages?ids=5f3c0f6a-9d4e-4b5a-8f7e-0a1b2c3d4e5f"
)

var leanPostResponse = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nLocation: " + leanPostLocation +
	"\r\nContent-Length: " + strconv.Itoa(len(leanPostBody)) + "\r\n\r\n" + leanPostBody

var (
	endOfHeaders  = []byte("\r\n\r\n")
	contentLength = []byte("\r\nContent-Length: ")
)

// fastCannedServer answers every request (headers plus Content-Length body)
// with leanPostResponse without allocating per request, so allocation
// counts are the client's.
func fastCannedServer(t testing.TB) string {
	resp := []byte(leanPostResponse)
	return rawServer(t, func(conn net.Conn) {
		buf := make([]byte, 64<<10)
		n := 0
		for {
			for {
				end := bytes.Index(buf[:n], endOfHeaders)
				if end < 0 {
					break
				}
				cl := 0
				if i := bytes.Index(buf[:end], contentLength); i >= 0 {
					for _, d := range buf[i+len(contentLength) : end] {
						if d < '0' || d > '9' {
							break
						}
						cl = cl*10 + int(d-'0')
					}
				}
				total := end + 4 + cl
				if n < total {
					break
				}
				if _, err := conn.Write(resp); err != nil {
					return
				}
				n = copy(buf, buf[total:n])
			}
			if n == len(buf) {
				return
			}
			m, err := conn.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
		}
	})
}

// benchWorker returns a worker of -http mode posting to target's bench-0.
func benchWorker(tb testing.TB, mode, target string) (*worker, string, []byte) {
	r := NewRunner(testConfig(target, mode), io.Discard)
	w := r.newWorker(target, 0)
	tb.Cleanup(func() { w.close(); r.Close() })
	return w, w.base + "/v2/queues/bench-0/messages", postBody(1, 256, 3600)
}

func TestLeanPostAllocations(t *testing.T) {
	w, url, body := benchWorker(t, HTTPLean, fastCannedServer(t))
	res, ok := w.do(OpPost, "POST", url, body, 201, 0)
	if !ok || string(res.loc) != leanPostLocation || string(res.body) != leanPostBody {
		t.Fatalf("%d %q %q", res.status, res.loc, res.body)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, ok := w.do(OpPost, "POST", url, body, 201, 0); !ok {
			t.Fatal("post failed")
		}
	})
	if allocs > 0 {
		t.Errorf("%v allocations per POST, want 0", allocs)
	}
	if w.lean.dials != 1 {
		t.Errorf("dials %d", w.lean.dials)
	}
}

// processCPU returns the process's user+system CPU time, where the
// platform can tell (see httpconn_cpu_test.go).
var processCPU func() time.Duration

func benchPost(b *testing.B, mode, target string) {
	w, url, body := benchWorker(b, mode, target)
	if _, ok := w.do(OpPost, "POST", url, body, 201, 0); !ok {
		b.Fatal("post failed")
	}
	b.ReportAllocs()
	var cpu time.Duration
	if processCPU != nil {
		cpu = processCPU()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := w.do(OpPost, "POST", url, body, 201, 0); !ok {
			b.Fatal("post failed")
		}
	}
	b.StopTimer()
	if processCPU != nil {
		// The whole process: the client plus the in-process server.
		b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	}
}

// benchPostServer is an httptest server answering POSTs like Herald: 201,
// a small JSON body and a Location header.
func benchPostServer(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Location", leanPostLocation)
		w.WriteHeader(201)
		_, _ = io.WriteString(w, leanPostBody)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkLeanPost measures one single-message POST through a worker with
// the lean client against an httptest server (allocations include the
// server's).
func BenchmarkLeanPost(b *testing.B) { benchPost(b, HTTPLean, benchPostServer(b)) }

// BenchmarkStdPost is BenchmarkLeanPost with net/http.
func BenchmarkStdPost(b *testing.B) { benchPost(b, HTTPStd, benchPostServer(b)) }

// BenchmarkLeanPostCanned is BenchmarkLeanPost against a server that does
// not allocate, so allocs/op are the client's alone.
func BenchmarkLeanPostCanned(b *testing.B) { benchPost(b, HTTPLean, fastCannedServer(b)) }

// BenchmarkStdPostCanned is BenchmarkLeanPostCanned with net/http.
func BenchmarkStdPostCanned(b *testing.B) { benchPost(b, HTTPStd, fastCannedServer(b)) }
