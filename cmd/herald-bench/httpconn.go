package main

// The lean HTTP/1.1 client (-http lean, the default).
//
// net/http's client runs a read and a write goroutine per connection, builds
// header maps and allocates several objects per request; on a small machine
// that shares its cores with the servers under test this costs tens of
// microseconds of CPU per request. A leanConn is owned by one worker
// goroutine and does everything on that goroutine: one Write per request
// (request line, Host, the worker's pre-rendered fixed headers, Content-Type
// and Content-Length, body), then the response is parsed straight out of a
// bufio.Reader into buffers reused from request to request.
//
// It speaks plain http:// only (https targets use net/http) and reads what
// any HTTP/1.1 server may send: interim 1xx responses (skipped), bodies framed
// by Content-Length, by chunked transfer coding (extensions and trailers are
// skipped) or by the end of the connection, bodiless 204/304 and HEAD
// answers, HTTP/1.0 answers (closed unless "Connection: keep-alive"), header
// names in any case. Only Content-Length, Transfer-Encoding, Connection and
// Location are interpreted; other headers are skipped.
//
// Connections are kept alive and redialed, on the next request, after an
// I/O error, a malformed response, "Connection: close" or a body framed by
// the end of the connection. A failed request is returned as an error and
// counted by the caller; it is not retried, except in the stale-connection
// case below.
//
// Stale connections: a server may close a keep-alive connection while it is
// idle (an idle timeout), and without a background reader the client only
// learns it when it uses the connection. Two measures, as net/http does:
//
//   - Before reusing a connection idle for at least leanIdleCheck, the client
//     probes it with a non-blocking peek (connAlive: one recv(MSG_PEEK)
//     syscall on Unix; nothing elsewhere). A connection that reports EOF, an
//     error or unsolicited bytes is closed and a new one dialed, and the
//     request, which was never sent, goes out once on the new connection. In
//     the benchmark's back-to-back loops the probe never runs.
//   - If a request on a reused connection still fails before a single byte
//     of the response was read (EOF or reset on the write or on the first
//     read, not a timeout), it is sent again once on a new connection when
//     that is safe: always if the write failed with nothing written, and
//     otherwise only for idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS,
//     TRACE). A POST that may have reached the server is never resent: it
//     fails, is counted as a "network" error, and the next request redials.
//
// The latency of a request that was resent includes both attempts; both run
// under the one per-request deadline.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	leanReadBuf     = 16 << 10               // bufio.Reader size
	leanMaxLine     = 64 << 10               // longest status, header or chunk-size line accepted
	leanMaxBody     = 256 << 20              // largest response body accepted
	leanIdleCheck   = 250 * time.Millisecond // probe connections idle at least this long before reuse
	leanDialTimeout = 5 * time.Second        // dial timeout (the per-request deadline applies too)
	leanKeepAlive   = 30 * time.Second       // TCP keep-alive period
)

// leanError is a malformed response or request.
type leanError string

func (e leanError) Error() string { return "lean http: " + string(e) }

// leanSupported reports whether the lean client can drive target (a plain
// http:// URL with a host).
func leanSupported(target string) bool {
	u, err := url.Parse(target)
	return err == nil && u.Scheme == "http" && u.Host != ""
}

// leanHeaders renders the header lines a worker sends with every request.
func leanHeaders(clientID, project string) []byte {
	return []byte("Client-ID: " + clientID + "\r\nX-Project-ID: " + project +
		"\r\nAccept: application/json\r\nUser-Agent: herald-bench\r\n")
}

// leanConn is one keep-alive HTTP/1.1 connection to one target, used by one
// goroutine at a time.
type leanConn struct {
	addr      string        // host:port dialed
	host      string        // Host header
	prefix    string        // path of the target URL, before every request path
	fixed     []byte        // header lines sent with every request
	timeout   time.Duration // per-request deadline, 0 = none
	idleCheck time.Duration // probe a connection idle at least this long

	conn       net.Conn
	br         *bufio.Reader
	served     int       // responses read on conn
	last       time.Time // start of the previous request on conn
	closeAfter bool      // the response being read ends the connection

	wbuf []byte // the request being sent
	line []byte // a line longer than the bufio.Reader
	body []byte // response body
	loc  []byte // response Location header

	dials, resent int // connections dialed, requests sent again (for tests)
}

// newLeanConn returns an unconnected leanConn for an http:// target URL; the
// target's path, if any, prefixes every request path.
func newLeanConn(target string, fixed []byte, timeout time.Duration) (*leanConn, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("lean http: target %q: only http://host[:port] URLs are supported (use -http std)", target)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return &leanConn{
		addr:      net.JoinHostPort(u.Hostname(), port),
		host:      u.Host,
		prefix:    strings.TrimRight(u.EscapedPath(), "/"),
		fixed:     fixed,
		timeout:   timeout,
		idleCheck: leanIdleCheck,
		wbuf:      make([]byte, 0, 1024),
		body:      make([]byte, 0, 4096),
	}, nil
}

// close closes the connection, if any; the next request dials a new one.
func (c *leanConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// idempotent reports whether a request with this method may be sent twice.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE":
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// do sends one request for path (relative to the target URL) and reads the
// response. start is when the request started; the per-request deadline
// counts from it. loc and body alias buffers of c and are valid until the
// next call. After an error the connection is closed.
func (c *leanConn) do(method, path string, body []byte, start time.Time) (status int, loc, respBody []byte, err error) {
	var deadline time.Time
	if c.timeout > 0 {
		deadline = start.Add(c.timeout)
	}
	if err = c.buildRequest(method, path, body); err != nil {
		return 0, nil, nil, err
	}
	for retry := false; ; retry = true {
		if c.conn != nil && (c.br.Buffered() > 0 || (start.Sub(c.last) >= c.idleCheck && !connAlive(c.conn))) {
			c.close() // unsolicited bytes, or closed while idle
		}
		if c.conn == nil {
			if err = c.dial(deadline); err != nil {
				return 0, nil, nil, err
			}
		}
		reused := c.served > 0
		c.last = start
		if err = c.conn.SetDeadline(deadline); err != nil {
			c.close()
			return 0, nil, nil, err
		}
		var n int
		if n, err = c.conn.Write(c.wbuf); err != nil {
			c.close()
			if reused && !retry && !isTimeout(err) && (n == 0 || idempotent(method)) {
				c.resent++
				continue
			}
			return 0, nil, nil, err
		}
		var nothingRead bool
		if status, nothingRead, err = c.readResponse(method); err != nil {
			c.close()
			if reused && !retry && nothingRead && !isTimeout(err) && idempotent(method) {
				c.resent++
				continue
			}
			return 0, nil, nil, err
		}
		c.served++
		if c.closeAfter {
			c.close()
		}
		return status, c.loc, c.body, nil
	}
}

func (c *leanConn) dial(deadline time.Time) error {
	d := net.Dialer{Timeout: leanDialTimeout, Deadline: deadline, KeepAlive: leanKeepAlive}
	conn, err := d.Dial("tcp", c.addr)
	if err != nil {
		return err
	}
	c.conn, c.served = conn, 0
	c.dials++
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, leanReadBuf)
	} else {
		c.br.Reset(conn)
	}
	return nil
}

// buildRequest renders the request into c.wbuf.
func (c *leanConn) buildRequest(method, path string, body []byte) error {
	for i := 0; i < len(path); i++ {
		if b := path[i]; b <= ' ' || b == 0x7f {
			return leanError(fmt.Sprintf("invalid byte %#x in request path %q", b, path))
		}
	}
	b := append(c.wbuf[:0], method...)
	b = append(b, ' ')
	b = append(b, c.prefix...)
	if c.prefix == "" && !strings.HasPrefix(path, "/") {
		b = append(b, '/')
	}
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	b = append(b, "\r\n"...)
	b = append(b, c.fixed...)
	if body != nil {
		b = append(b, "Content-Type: application/json\r\n"...)
	}
	if len(body) > 0 || method == "POST" || method == "PUT" || method == "PATCH" {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	c.wbuf = append(b, body...)
	return nil
}

// readLine returns the next line without its line ending. It aliases the
// reader's buffer (or c.line) and is valid until the next read. On error it
// returns what was read of the line.
func (c *leanConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		c.line = append(c.line[:0], line...)
		for err == bufio.ErrBufferFull && len(c.line) <= leanMaxLine {
			line, err = c.br.ReadSlice('\n')
			c.line = append(c.line, line...)
		}
		if err == bufio.ErrBufferFull {
			return c.line, leanError("response line too long")
		}
		line = c.line
	}
	if err != nil {
		return line, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// unexpectedEOF turns io.EOF inside a response into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readResponse reads one final response into c.loc and c.body, skipping
// interim 1xx responses, and sets c.closeAfter. nothingRead reports an error
// before the first byte of the response.
func (c *leanConn) readResponse(method string) (status int, nothingRead bool, err error) {
	c.body, c.closeAfter = c.body[:0], false
	first := true
	for {
		c.loc = c.loc[:0]
		line, err := c.readLine()
		if err != nil {
			return 0, first && len(line) == 0, unexpectedEOF(err)
		}
		first = false
		var minor byte
		var ok bool
		if status, minor, ok = parseStatusLine(line); !ok {
			return 0, false, leanError(fmt.Sprintf("malformed status line %.100q", line))
		}
		h, err := c.readHeaders()
		if err != nil {
			return 0, false, err
		}
		if status == 101 {
			return 0, false, leanError("unexpected 101 Switching Protocols")
		}
		if status < 200 {
			continue // interim response: 100 Continue, 102, 103, ...
		}
		c.closeAfter = h.close || (minor == '0' && !h.keepAlive)
		switch {
		case method == "HEAD" || status == 204 || status == 304:
		case h.te && h.chunked:
			c.closeAfter = c.closeAfter || h.cl >= 0
			err = c.readChunked()
		case h.te: // a coding other than chunked last: delimited by the close
			c.closeAfter = true
			err = c.readToEOF()
		case h.cl >= 0:
			err = c.readBody(h.cl)
		default:
			c.closeAfter = true
			err = c.readToEOF()
		}
		return status, false, err
	}
}

// parseStatusLine parses "HTTP/1.x NNN[ reason]".
func parseStatusLine(line []byte) (status int, minor byte, ok bool) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, 0, false
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return 0, 0, false
		}
		status = status*10 + int(d-'0')
	}
	return status, line[7], status >= 100
}

// respHeaders is what readHeaders extracts.
type respHeaders struct {
	cl               int64 // Content-Length, -1 if absent
	te, chunked      bool  // Transfer-Encoding present, its last coding is chunked
	close, keepAlive bool  // Connection tokens
}

// readHeaders reads header lines up to the empty line. It copies Location
// into c.loc (the last one wins).
func (c *leanConn) readHeaders() (h respHeaders, err error) {
	h.cl = -1
	for {
		line, err := c.readLine()
		if err != nil {
			return h, unexpectedEOF(err)
		}
		if len(line) == 0 {
			return h, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // obsolete line folding, only ever seen on headers we skip
		}
		i := 0
		for i < len(line) && line[i] != ':' {
			i++
		}
		if i == 0 || i == len(line) {
			return h, leanError(fmt.Sprintf("malformed header line %.100q", line))
		}
		name, val := line[:i], trimOWS(line[i+1:])
		switch {
		case eqFold(name, "content-length"):
			n, ok := parseDecimal(val)
			if !ok || (h.cl >= 0 && n != h.cl) {
				return h, leanError(fmt.Sprintf("bad Content-Length %.40q", val))
			}
			h.cl = n
		case eqFold(name, "transfer-encoding"):
			for tok := range tokens(val) {
				h.te, h.chunked = true, eqFold(tok, "chunked")
			}
		case eqFold(name, "connection"):
			for tok := range tokens(val) {
				h.close = h.close || eqFold(tok, "close")
				h.keepAlive = h.keepAlive || eqFold(tok, "keep-alive")
			}
		case eqFold(name, "location"):
			c.loc = append(c.loc[:0], val...)
		}
	}
}

// tokens yields the non-empty, trimmed elements of a comma-separated list.
func tokens(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			i := 0
			for i < len(v) && v[i] != ',' {
				i++
			}
			tok := trimOWS(v[:i])
			if i < len(v) {
				i++
			}
			v = v[i:]
			if len(tok) > 0 && !yield(tok) {
				return
			}
		}
	}
}

// trimOWS trims spaces and tabs.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// eqFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x := b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != s[i] {
			return false
		}
	}
	return true
}

// parseDecimal parses a non-negative decimal no larger than leanMaxBody.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		if n = n*10 + int64(d-'0'); n > leanMaxBody {
			return 0, false
		}
	}
	return n, true
}

// parseHex parses a chunk size no larger than leanMaxBody.
func parseHex(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, d := range b {
		switch {
		case '0' <= d && d <= '9':
			d -= '0'
		case 'a' <= d && d <= 'f':
			d -= 'a' - 10
		case 'A' <= d && d <= 'F':
			d -= 'A' - 10
		default:
			return 0, false
		}
		if n = n<<4 | int(d); n > leanMaxBody {
			return 0, false
		}
	}
	return n, true
}

// readBody reads a body of exactly n bytes into c.body.
func (c *leanConn) readBody(n int64) error {
	c.body = slices.Grow(c.body[:0], int(n))[:n]
	_, err := io.ReadFull(c.br, c.body)
	return unexpectedEOF(err)
}

// readChunked decodes a chunked body into c.body and skips its trailers.
func (c *leanConn) readChunked() error {
	for {
		line, err := c.readLine()
		if err != nil {
			return unexpectedEOF(err)
		}
		for i, b := range line {
			if b == ';' {
				line = line[:i] // chunk extensions
				break
			}
		}
		n, ok := parseHex(trimOWS(line))
		if !ok || len(c.body)+n > leanMaxBody {
			return leanError(fmt.Sprintf("bad chunk size %.40q", line))
		}
		if n == 0 {
			break
		}
		old := len(c.body)
		c.body = slices.Grow(c.body, n)[:old+n]
		if _, err := io.ReadFull(c.br, c.body[old:]); err != nil {
			return unexpectedEOF(err)
		}
		if line, err = c.readLine(); err != nil || len(line) != 0 {
			if err == nil {
				err = leanError("chunk not followed by CRLF")
			}
			return unexpectedEOF(err)
		}
	}
	for { // trailer section
		line, err := c.readLine()
		if err != nil {
			return unexpectedEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// readToEOF reads a body delimited by the end of the connection.
func (c *leanConn) readToEOF() error {
	for {
		if len(c.body) == cap(c.body) {
			c.body = slices.Grow(c.body, 4096)
		}
		n, err := c.br.Read(c.body[len(c.body):cap(c.body)])
		c.body = c.body[:len(c.body)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(c.body) > leanMaxBody {
			return leanError("response body too large")
		}
	}
}
