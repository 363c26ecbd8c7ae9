package cluster

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// sniffTimeout bounds how long an accepted connection may stay silent
// before its first byte says whether it carries raft RPCs or a peer link.
// raft writes its RPC type as soon as it dialled, and a link its magic.
const sniffTimeout = 10 * time.Second

// streamLayer is raft's network, shared with the peer link (link.go): it
// accepts on the configured listener and dials through Config.Dial, so
// tests can inject faults. The first byte of an accepted connection picks
// its user: linkMagic[0] goes to onLink, anything else (a raft RPC type)
// to raft through Accept, with that byte put back. It tracks every
// connection so that Close cuts them all, as a crashed process would.
type streamLayer struct {
	ln     net.Listener
	addr   advertisedAddr
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	onLink func(net.Conn) // serves one peer-link connection; nil: links are refused

	raftConns chan net.Conn // sniffed raft connections for Accept
	done      chan struct{} // closed by Close
	wg        sync.WaitGroup

	mu     sync.Mutex                // guards conns and closed
	conns  map[*trackedConn]struct{} // live accepted and dialled connections
	closed bool
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// newStreamLayer starts accepting on ln. onLink (may be nil) is called in
// its own goroutine for every peer-link connection and owns it.
func newStreamLayer(ln net.Listener, addr string, dial func(context.Context, string, string) (net.Conn, error), onLink func(net.Conn)) *streamLayer {
	s := &streamLayer{
		ln: ln, addr: advertisedAddr(addr), dial: dial, onLink: onLink,
		raftConns: make(chan net.Conn),
		done:      make(chan struct{}),
		conns:     map[*trackedConn]struct{}{},
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// acceptLoop accepts connections and sniffs each in its own goroutine.
// Owner: streamLayer; stops when Close closes the listener, and its
// sniffers when Close cuts their connections.
func (s *streamLayer) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosed() {
				return
			}
			// A transient error (too many open files): back off as
			// net/http does, at most 1 s.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-s.done:
				return
			}
			continue
		}
		backoff = 0
		tc, err := s.track(c)
		if err != nil {
			return // closed meanwhile
		}
		s.wg.Add(1)
		go s.sniff(tc)
	}
}

// sniff reads an accepted connection's first byte and hands it on.
// Owner: acceptLoop's streamLayer; ends with the connection's hand-off or
// close.
func (s *streamLayer) sniff(c net.Conn) {
	defer s.wg.Done()
	var b [1]byte
	c.SetReadDeadline(time.Now().Add(sniffTimeout))
	if _, err := c.Read(b[:]); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: c, first: b[0]}
	if b[0] == linkMagic[0] {
		if s.onLink == nil {
			c.Close()
			return
		}
		s.onLink(pc)
		return
	}
	select {
	case s.raftConns <- pc:
	case <-s.done:
		c.Close()
	}
}

// Accept waits for the next inbound raft connection.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftConns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Dial opens an outbound raft connection.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.dialContext(ctx, string(address))
}

// dialContext opens a tracked outbound connection (raft's or a link's).
func (s *streamLayer) dialContext(ctx context.Context, address string) (net.Conn, error) {
	c, err := s.dial(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

func (s *streamLayer) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, s: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

func (s *streamLayer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close closes the listener and every live connection. Idempotent. It
// does not wait for the goroutines serving them; wait does.
func (s *streamLayer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	close(s.done)
	err := s.ln.Close()
	for c := range conns {
		c.Conn.Close()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// wait waits, after Close, for the accept loop, the sniffers and the
// link connections they served.
func (s *streamLayer) wait() { s.wg.Wait() }

// Addr is the advertised raft address, which raft records as this
// server's address in the configuration.
func (s *streamLayer) Addr() net.Addr { return s.addr }

// trackedConn removes itself from its stream layer when closed.
type trackedConn struct {
	net.Conn
	s    *streamLayer
	once sync.Once
}

// Close forgets the connection and closes it.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// prefixConn gives back the byte sniff read before the rest of the stream.
type prefixConn struct {
	net.Conn
	first byte
	used  bool // first was returned; only the reading goroutine touches it
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.used || len(p) == 0 {
		return c.Conn.Read(p)
	}
	c.used = true
	p[0] = c.first
	return 1, nil
}
