package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// The peer link (DESIGN.md, "The peer link"): a follower sends its
// forward batches and read-index requests to the leader over one
// persistent connection to the leader's raft address, many calls in flight
// at once and told apart by a call id, instead of one HTTP request each.
// The raft listener tells a link from raft's own connections by the first
// byte (streamLayer.sniff).
//
// Handshake, after the follower connected:
//
//	follower → leader: linkMagic, u16 length, node id
//	leader → follower: 16-byte random nonce
//	follower → leader: HMAC-SHA256(Secret, linkMACLabel + nonce + node id)
//	leader → follower: one status byte (linkOK or linkForbidden)
//
// Then frames in both directions: u32 length of the rest, u8 kind, u64
// call id, payload. A request's payload is what the HTTP endpoint takes
// (the PathApplyBatch body, or nothing for a read index); its reply has
// kind frameReply|kind and the HTTP endpoint's msgpack reply.
const (
	// linkMagic opens a link connection. raft's connections start with an
	// RPC type, a small number, never 'H'.
	linkMagic    = "HRLDLNK1"
	linkMACLabel = "herald-link-v1\n"
	linkNonceLen = 16
	// linkMaxNodeID bounds the node id in the handshake.
	linkMaxNodeID = 1024
	// linkHandshakeTimeout bounds dialling plus the handshake.
	linkHandshakeTimeout = 5 * time.Second
	// linkWriteTimeout bounds writing one frame.
	linkWriteTimeout = 10 * time.Second
	// linkHeaderLen is a frame's header: u32 length, u8 kind, u64 id.
	linkHeaderLen = 13
	// linkBufSize is the read buffer of a link connection.
	linkBufSize = 64 << 10

	frameApplyBatch byte = 1    // payload: a PathApplyBatch body
	frameReadIndex  byte = 2    // payload: empty
	frameReply      byte = 0x80 // OR the request's kind; payload: msgpack reply

	linkOK        byte = 0
	linkForbidden byte = 1
)

// errLinkReplaced fails calls on a link that a link to another leader
// replaced.
var errLinkReplaced = errors.New("cluster: peer link replaced by one to the new leader")

// links holds this node's link to the leader (at most one: a link to an
// earlier leader is closed when one to another address is needed).
type links struct {
	mu     sync.Mutex // guards cur and closed
	cur    *link
	closed bool           // closeLinks ran: no new links
	wg     sync.WaitGroup // dialers and readers; each ends when its link fails
}

// link is one follower-side link connection.
type link struct {
	addr  string        // the leader's raft address
	ready chan struct{} // closed when dialling ended: conn set, or err
	dead  chan struct{} // closed when err is set

	wmu sync.Mutex // serialises frame writes on conn

	mu     sync.Mutex // guards conn, calls, nextID and err
	conn   net.Conn
	calls  map[uint64]chan []byte // capacity 1 each: the reader never blocks
	nextID uint64
	err    error // why the link is broken; set once
}

// fail marks l broken with err (the first error wins) and closes it; every
// call waiting on it fails.
func (l *link) fail(err error) {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return
	}
	l.err = err
	l.calls = nil
	conn := l.conn
	close(l.dead)
	l.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

func (l *link) broken() bool {
	select {
	case <-l.dead:
		return true
	default:
		return false
	}
}

func (l *link) failure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// getLink returns a link to addr, dialling one when there is none or the
// last one broke. Calls share the dial.
func (c *Cluster) getLink(ctx context.Context, rt *running, addr string) (*link, error) {
	// A call to a leader that was replaced meanwhile is cancelled already;
	// it must not replace the link to the new one.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ls := &c.links
	ls.mu.Lock()
	if ls.closed {
		ls.mu.Unlock()
		return nil, ErrClosed
	}
	l := ls.cur
	if l == nil || l.addr != addr || l.broken() {
		if l != nil {
			l.fail(errLinkReplaced)
		}
		l = &link{addr: addr, ready: make(chan struct{}), dead: make(chan struct{}), calls: map[uint64]chan []byte{}}
		ls.cur = l
		ls.wg.Add(1)
		go c.dialLink(rt, l)
	}
	ls.mu.Unlock()
	select {
	case <-l.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := l.failure(); err != nil {
		return nil, err
	}
	return l, nil
}

// dialLink connects l and starts its reader. Owner: links; bounded by
// linkHandshakeTimeout and the cluster's lifetime.
func (c *Cluster) dialLink(rt *running, l *link) {
	defer c.links.wg.Done()
	defer close(l.ready)
	ctx, cancel := context.WithTimeout(c.ctx, linkHandshakeTimeout)
	defer cancel()
	conn, err := rt.parts.stream.dialContext(ctx, l.addr)
	if err != nil {
		l.fail(err)
		return
	}
	if err := c.linkHandshake(ctx, conn); err != nil {
		conn.Close()
		l.fail(err)
		return
	}
	l.mu.Lock()
	if l.err != nil { // replaced or the cluster closed meanwhile
		l.mu.Unlock()
		conn.Close()
		return
	}
	l.conn = conn
	l.mu.Unlock()
	c.links.wg.Add(1)
	go c.readLink(l)
}

// linkHandshake runs the follower's side of the handshake, bounded by
// ctx.
func (c *Cluster) linkHandshake(ctx context.Context, conn net.Conn) error {
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	err := c.linkHello(conn)
	if !stop() && err == nil {
		// ctx ended just now: its deadline may land after the reset below.
		err = context.Cause(ctx)
	}
	conn.SetDeadline(time.Time{})
	return err
}

// linkHello exchanges the handshake's messages.
func (c *Cluster) linkHello(conn net.Conn) error {
	id := c.cfg.NodeID
	hello := make([]byte, 0, len(linkMagic)+2+len(id))
	hello = append(hello, linkMagic...)
	hello = binary.BigEndian.AppendUint16(hello, uint16(len(id)))
	hello = append(hello, id...)
	if _, err := conn.Write(hello); err != nil {
		return err
	}
	var nonce [linkNonceLen]byte
	if _, err := io.ReadFull(conn, nonce[:]); err != nil {
		return fmt.Errorf("cluster: peer link handshake: %w", err)
	}
	if _, err := conn.Write(c.linkMAC(nonce[:], id)); err != nil {
		return err
	}
	var status [1]byte
	if _, err := io.ReadFull(conn, status[:]); err != nil {
		return fmt.Errorf("cluster: peer link handshake: %w", err)
	}
	if status[0] != linkOK {
		return ErrForbidden
	}
	return nil
}

// linkMAC is the follower's proof that it knows the cluster secret.
func (c *Cluster) linkMAC(nonce []byte, nodeID string) []byte {
	m := hmac.New(sha256.New, []byte(c.cfg.Secret))
	m.Write([]byte(linkMACLabel))
	m.Write(nonce)
	m.Write([]byte(nodeID))
	return m.Sum(nil)
}

// readLink delivers replies to their calls until the link fails. Owner:
// links; ends when the connection is closed.
func (c *Cluster) readLink(l *link) {
	defer c.links.wg.Done()
	r := bufio.NewReaderSize(l.conn, linkBufSize)
	for {
		kind, id, payload, err := readFrame(r, maxReplyBody)
		if err != nil {
			l.fail(fmt.Errorf("cluster: peer link to %s: %w", l.addr, err))
			return
		}
		if kind&frameReply == 0 {
			l.fail(fmt.Errorf("cluster: peer link to %s: unexpected frame kind %d", l.addr, kind))
			return
		}
		l.mu.Lock()
		ch := l.calls[id]
		delete(l.calls, id)
		l.mu.Unlock()
		if ch != nil { // nil: the caller gave up
			ch <- payload
		}
	}
}

// newFrame returns a buffer for a frame with room for size payload bytes;
// the payload is appended after the header, which send fills in.
func newFrame(size int) []byte { return make([]byte, linkHeaderLen, linkHeaderLen+size) }

// putHeader fills in frame's header.
func putHeader(frame []byte, kind byte, id uint64) {
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	frame[4] = kind
	binary.BigEndian.PutUint64(frame[5:], id)
}

// writeFrame writes a whole frame under mu, which serialises the writers
// of conn, bounded by linkWriteTimeout.
func writeFrame(conn net.Conn, mu *sync.Mutex, frame []byte) error {
	mu.Lock()
	defer mu.Unlock()
	conn.SetWriteDeadline(time.Now().Add(linkWriteTimeout))
	_, err := conn.Write(frame)
	return err
}

// readFrame reads one frame whose payload is at most max bytes. The
// payload is freshly allocated: the caller owns it.
func readFrame(r *bufio.Reader, max int) (kind byte, id uint64, payload []byte, err error) {
	var h [linkHeaderLen]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(h[:]))
	if n < linkHeaderLen-4 || n-(linkHeaderLen-4) > max {
		return 0, 0, nil, fmt.Errorf("bad frame length %d", n)
	}
	n -= linkHeaderLen - 4
	if n <= linkBufSize {
		payload = make([]byte, n)
		if _, err = io.ReadFull(r, payload); err != nil {
			return 0, 0, nil, err
		}
	} else {
		// Grown as the bytes arrive: a length alone does not allocate.
		var b bytes.Buffer
		b.Grow(linkBufSize)
		if _, err = io.CopyN(&b, r, int64(n)); err != nil {
			return 0, 0, nil, err
		}
		payload = b.Bytes()
	}
	return h[4], binary.BigEndian.Uint64(h[5:]), payload, nil
}

// linkCall sends a request frame (from newFrame, payload appended) of the
// given kind to the leader and waits for its reply's payload. A call that
// outlives its ctx (ApplyTimeout, or cancelled because another leader was
// observed) also fails the link: the next call dials afresh.
func (c *Cluster) linkCall(ctx context.Context, target leaderRef, kind byte, frame []byte) ([]byte, error) {
	rt, err := c.runtime()
	if err != nil {
		return nil, err
	}
	l, err := c.getLink(ctx, rt, target.raftAddr)
	if err != nil {
		return nil, err
	}
	ch := make(chan []byte, 1)
	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return nil, err
	}
	l.nextID++
	id := l.nextID
	l.calls[id] = ch
	conn := l.conn
	l.mu.Unlock()
	c.coalesce.linkCalls.Add(1)
	// A call that outlives its ctx fails the link, also while its frame is
	// still being written to a peer that stopped reading.
	stop := context.AfterFunc(ctx, func() {
		l.fail(fmt.Errorf("cluster: peer link to %s: call abandoned: %w", l.addr, context.Cause(ctx)))
	})
	defer stop()

	putHeader(frame, kind, id)
	if err := writeFrame(conn, &l.wmu, frame); err != nil {
		l.fail(fmt.Errorf("cluster: peer link to %s: %w", l.addr, err))
		return nil, l.failure()
	}
	select {
	case p := <-ch:
		return p, nil
	case <-l.dead:
		select {
		case p := <-ch: // delivered just before the link failed
			return p, nil
		default:
		}
		return nil, l.failure()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// useLink reports whether calls to target go over the peer link.
func (c *Cluster) useLink(target leaderRef) bool {
	return target.link && !c.noLink
}

// closeLinks fails the current link and waits for every dialer and
// reader. Called after the stream layer cut the connections.
func (c *Cluster) closeLinks() {
	c.links.mu.Lock()
	c.links.closed = true
	if l := c.links.cur; l != nil {
		l.fail(ErrClosed)
	}
	c.links.mu.Unlock()
	c.links.wg.Wait()
}

// linkServer is the stream layer's handler for link connections, nil when
// this node does not serve links (tests).
func (c *Cluster) linkServer() func(net.Conn) {
	if c.noLink {
		return nil
	}
	return c.serveLink
}

// serveLink serves one follower's link connection: each request runs in
// its own goroutine, and replies go back in the order they are ready.
// Owner: the stream layer's sniff goroutine; returns when the connection
// fails or is closed, after its requests' goroutines ended.
func (c *Cluster) serveLink(conn net.Conn) {
	defer conn.Close()
	peer, ok := c.acceptLink(conn)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	var wg sync.WaitGroup // the requests being served
	var wmu sync.Mutex    // serialises reply writes
	reply := func(kind byte, id uint64, v any) {
		buf := bytes.NewBuffer(newFrame(0))
		if err := msgpack.NewEncoder(buf).Encode(v); err != nil {
			buf.Truncate(linkHeaderLen)
			msgpack.NewEncoder(buf).Encode(&wireReply{Code: wireInternal, Msg: "cannot encode reply"})
		}
		frame := buf.Bytes()
		putHeader(frame, frameReply|kind, id)
		if err := writeFrame(conn, &wmu, frame); err != nil {
			conn.Close() // the read loop ends
		}
	}
	r := bufio.NewReaderSize(conn, linkBufSize)
	for {
		kind, id, payload, err := readFrame(r, maxForwardBody)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !c.closed.Load() {
				c.log.Debug("peer link ended", "from_node", peer, "remote", conn.RemoteAddr().String(), "err", err)
			}
			break
		}
		wg.Add(1)
		go func() { // owner: serveLink; waited for below
			defer wg.Done()
			switch kind {
			case frameApplyBatch:
				reply(kind, id, c.applyForwarded(ctx, payload))
			case frameReadIndex:
				reply(kind, id, c.forwardedReadIndex(ctx))
			default:
				reply(kind, id, &wireReply{Code: wireBadRequest, Msg: fmt.Sprintf("unknown frame kind %d", kind)})
			}
		}()
	}
	cancel()
	wg.Wait()
}

// acceptLink runs the leader's side of the handshake and returns the
// peer's node id; false when the connection is to be dropped.
func (c *Cluster) acceptLink(conn net.Conn) (string, bool) {
	conn.SetDeadline(time.Now().Add(linkHandshakeTimeout))
	defer conn.SetDeadline(time.Time{})
	var hdr [len(linkMagic) + 2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil || string(hdr[:len(linkMagic)]) != linkMagic {
		return "", false
	}
	n := int(binary.BigEndian.Uint16(hdr[len(linkMagic):]))
	if n > linkMaxNodeID {
		return "", false
	}
	id := make([]byte, n)
	if _, err := io.ReadFull(conn, id); err != nil {
		return "", false
	}
	var nonce [linkNonceLen]byte
	rand.Read(nonce[:]) // crypto/rand.Read never fails
	if _, err := conn.Write(nonce[:]); err != nil {
		return "", false
	}
	var mac [sha256.Size]byte
	if _, err := io.ReadFull(conn, mac[:]); err != nil {
		return "", false
	}
	if c.cfg.Secret != "" && !hmac.Equal(mac[:], c.linkMAC(nonce[:], string(id))) {
		c.log.Warn("rejected peer link: bad authentication", "from_node", string(id), "remote", conn.RemoteAddr().String())
		conn.Write([]byte{linkForbidden})
		return "", false
	}
	if _, err := conn.Write([]byte{linkOK}); err != nil {
		return "", false
	}
	return string(id), true
}
