package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// linkCounts are a follower's forwarding counters at one moment.
type linkCounts struct{ link, fwd, rounds uint64 }

func countsOf(c *Cluster) linkCounts {
	return linkCounts{c.coalesce.linkCalls.Load(), c.coalesce.fwdCalls.Load(), c.coalesce.readRounds.Load()}
}

// exerciseFollower writes concurrently through follower f, then reads its
// writes there linearizably, and returns how the counters moved.
func exerciseFollower(t *testing.T, l, f *testNode, q string) linkCounts {
	t.Helper()
	createQueue(t, l.c, q)
	before := countsOf(f.c)
	ids := concurrentPosts(t, f.c, q, 8, 4)
	checkDistinct(t, ids, 32)
	if ok, err := hasQueue(f.c, false, q); err != nil || !ok {
		t.Fatalf("linearizable read on the follower: exists=%v err=%v", ok, err)
	}
	after := countsOf(f.c)
	d := linkCounts{after.link - before.link, after.fwd - before.fwd, after.rounds - before.rounds}
	t.Logf("follower %s: %d batch calls, %d read rounds, %d over the peer link", f.id, d.fwd, d.rounds, d.link)
	if d.fwd == 0 || d.rounds == 0 {
		t.Fatalf("follower made %d batch calls and %d read rounds; want both", d.fwd, d.rounds)
	}
	return d
}

func TestPeerLinkCarriesForwardsAndReads(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(3)
	d := exerciseFollower(t, l, tc.followers()[0], "lk")
	if d.link != d.fwd+d.rounds {
		t.Fatalf("%d of %d calls went over the peer link; want all", d.link, d.fwd+d.rounds)
	}
}

func TestForwardingOverHTTPWithoutPeerLinks(t *testing.T) {
	tc := newTestCluster(t)
	tc.tune = func(_ *testNode, c *Cluster) { c.noLink = true }
	l := tc.start(3)
	if d := exerciseFollower(t, l, tc.followers()[0], "hp"); d.link != 0 {
		t.Fatalf("%d calls went over a peer link although no node serves them", d.link)
	}
}

// TestFollowerUsesHTTPToLeaderWithoutLinks: in a cluster of mixed versions
// a follower that speaks the peer link forwards over HTTP to a leader that
// does not gossip it.
func TestFollowerUsesHTTPToLeaderWithoutLinks(t *testing.T) {
	tc := newTestCluster(t)
	tc.tune = func(n *testNode, c *Cluster) { c.noLink = n.id == "n3" }
	tc.start(3)
	old := tc.nodes[2]
	poll(t, 20*time.Second, "n3 leads", func() bool {
		l := tc.leader()
		if l == nil || l == old {
			return l == old
		}
		l.c.rt.Load().raft.LeadershipTransferToServer(raft.ServerID(old.id), raft.ServerAddress(old.raftAddr)).Error()
		return false
	})
	if d := exerciseFollower(t, old, tc.nodes[0], "mx"); d.link != 0 {
		t.Fatalf("%d calls went over a peer link to a leader that does not serve them", d.link)
	}
}

func TestPeerLinkHandshakeAndFrames(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(1)
	createQueue(t, l.c, "hs") // so that the read index is not 0
	dial := func() net.Conn {
		t.Helper()
		conn, err := net.DialTimeout("tcp", l.raftAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		return conn
	}

	// A node with another secret is refused and told so: no retry.
	rogue := &Cluster{cfg: Config{NodeID: "rogue", Secret: "other"}}
	if err := rogue.linkHandshake(ctxFor(t, 5*time.Second), dial()); !errors.Is(err, ErrForbidden) {
		t.Fatalf("handshake with a wrong secret: %v, want ErrForbidden", err)
	}

	// A wrong magic gets the connection closed without a word.
	bad := dial()
	bad.Write([]byte("HRLDXXX1\x00\x01x"))
	if n, err := bad.Read(make([]byte, 16)); err == nil {
		t.Fatalf("a wrong magic got %d bytes of answer", n)
	}

	// The right secret: each request is answered under its own id.
	conn := dial()
	good := &Cluster{cfg: Config{NodeID: "peer", Secret: testSecret}}
	if err := good.linkHandshake(ctxFor(t, 5*time.Second), conn); err != nil {
		t.Fatal(err)
	}
	send := func(kind byte, id uint64, payload []byte) {
		f := append(newFrame(len(payload)), payload...)
		putHeader(f, kind, id)
		if _, err := conn.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	send(frameReadIndex, 7, nil)
	send(42, 8, nil)
	send(frameApplyBatch, 9, []byte{0xc1})
	r := bufio.NewReader(conn)
	got := map[uint64]wireReply{}
	for range 3 {
		kind, id, payload, err := readFrame(r, maxReplyBody)
		if err != nil {
			t.Fatal(err)
		}
		if kind&frameReply == 0 {
			t.Fatalf("reply %d has kind %#x", id, kind)
		}
		var rep wireReply
		if err := msgpack.Unmarshal(payload, &rep); err != nil {
			t.Fatalf("reply %d: %v", id, err)
		}
		got[id] = rep
	}
	if rep := got[7]; rep.Code != wireOK || rep.Index == 0 {
		t.Errorf("read index reply %+v, want an index", rep)
	}
	if rep := got[8]; rep.Code != wireBadRequest {
		t.Errorf("unknown kind: reply %+v, want bad request", rep)
	}
	if rep := got[9]; rep.Code != wireBadRequest {
		t.Errorf("undecodable batch: reply %+v, want bad request", rep)
	}
}

func TestReadFrameRejectsBadLengths(t *testing.T) {
	frame := func(n uint32, rest string) *bufio.Reader {
		b := binary.BigEndian.AppendUint32(nil, n)
		return bufio.NewReader(strings.NewReader(string(b) + rest))
	}
	for _, tt := range []struct {
		name string
		r    *bufio.Reader
	}{
		{"shorter than kind and id", frame(8, "123456789")},
		{"over the limit", frame(9+101, strings.Repeat("x", 200))},
		{"truncated", frame(9+10, "123456789abc")},
		{"truncated header", bufio.NewReader(strings.NewReader("\x00\x00"))},
	} {
		if _, _, _, err := readFrame(tt.r, 100); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	kind, id, p, err := readFrame(frame(9+3, "\x81\x00\x00\x00\x00\x00\x00\x00\x05abc"), 100)
	if err != nil || kind != 0x81 || id != 5 || !bytes.Equal(p, []byte("abc")) {
		t.Fatalf("good frame: %#x %d %q %v", kind, id, p, err)
	}
}

func TestPrefixConnGivesBackTheSniffedByte(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { a.Write([]byte("bc")); a.Close() }() // owner: test; ends with the pipe
	got, err := io.ReadAll(&prefixConn{Conn: b, first: 'a'})
	if err != nil || string(got) != "abc" {
		t.Fatalf("read %q, %v; want \"abc\"", got, err)
	}
}

func TestReadFrameGrowsLargePayloads(t *testing.T) {
	big := strings.Repeat("x", 3*linkBufSize+7)
	hdr := binary.BigEndian.AppendUint32(nil, uint32(9+len(big)))
	hdr = append(hdr, frameApplyBatch, 0, 0, 0, 0, 0, 0, 0, 1)
	_, id, p, err := readFrame(bufio.NewReader(strings.NewReader(string(hdr)+big)), 4*linkBufSize)
	if err != nil || id != 1 || string(p) != big {
		t.Fatalf("large frame: id %d, %d bytes, %v", id, len(p), err)
	}
	if _, _, _, err := readFrame(bufio.NewReader(strings.NewReader(string(hdr)+big[:linkBufSize])), 4*linkBufSize); err == nil {
		t.Fatal("a truncated large frame read without error")
	}
}

// TestCancelledCallKeepsTheLink: a call to a leader that was replaced
// while it was queued must not replace the link to the new leader.
func TestCancelledCallKeepsTheLink(t *testing.T) {
	c := &Cluster{}
	cur := &link{addr: "new:1", ready: make(chan struct{}), dead: make(chan struct{})}
	c.links.cur = cur
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.getLink(ctx, nil, "old:1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("getLink with a cancelled ctx: %v", err)
	}
	if c.links.cur != cur || cur.broken() {
		t.Fatal("a cancelled call replaced or broke the link to the new leader")
	}
	c.closeLinks()
	if _, err := c.getLink(context.Background(), nil, "new:1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("getLink after closeLinks: %v, want ErrClosed", err)
	}
}
