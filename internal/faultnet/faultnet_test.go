package faultnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestBlockedRules(t *testing.T) {
	tb := NewTable()
	tb.Register("a", "127.0.0.1:1")
	tb.Register("b", "127.0.0.1:2")
	tb.Register("c", "127.0.0.1:3")
	tb.Register("d", "127.0.0.1:4")

	check := func(step string, want map[[2]string]bool) {
		t.Helper()
		for _, from := range []string{"a", "b", "c", "d"} {
			for _, to := range []string{"a", "b", "c", "d"} {
				if got := tb.Blocked(from, to); got != want[[2]string{from, to}] {
					t.Errorf("%s: Blocked(%s, %s) = %v", step, from, to, got)
				}
			}
		}
	}
	check("initially", nil)

	tb.Block("a", "b")
	check("Block(a,b)", map[[2]string]bool{{"a", "b"}: true, {"b", "a"}: true})

	tb.Heal()
	tb.Isolate("c")
	check("Isolate(c)", map[[2]string]bool{
		{"c", "a"}: true, {"a", "c"}: true, {"c", "b"}: true, {"b", "c"}: true, {"c", "d"}: true, {"d", "c"}: true,
	})
	if !tb.Blocked("c", "late") || tb.Blocked("c", "c") {
		t.Error("an isolated node must be cut from later nodes, never from itself")
	}

	tb.Heal()
	tb.Partition([]string{"a", "b"}, []string{"c"})
	check("Partition({a,b},{c})", map[[2]string]bool{
		{"a", "c"}: true, {"c", "a"}: true, {"b", "c"}: true, {"c", "b"}: true,
	})

	tb.Heal()
	check("Heal", nil)
	if tb.NodeOf("localhost:2") != "b" || tb.NodeOf("127.0.0.1:9") != "" {
		t.Error("NodeOf: want localhost resolved and unknown addresses unowned")
	}
}

// echoServer accepts connections and echoes them until the test ends.
func echoServer(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // owner: the test; stops when ln closes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln
}

func TestDialerRefusesAndCuts(t *testing.T) {
	tb := NewTable()
	ln := echoServer(t)
	tb.Register("srv", ln.Addr().String())
	dial := tb.Dialer("cli")
	ctx := context.Background()

	c, err := dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}

	// A read blocked across the start of a partition fails with ErrBlocked.
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(buf)
		readErr <- err
	}()
	tb.Isolate("srv")
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrBlocked) {
			t.Fatalf("read across the cut: %v, want ErrBlocked", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked read not interrupted by the partition")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrBlocked) {
		t.Fatalf("write after the cut: %v, want ErrBlocked", err)
	}
	if _, err := dial(ctx, "tcp", ln.Addr().String()); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial while blocked: %v, want ErrBlocked", err)
	}
	var opErr *net.OpError
	if _, err := dial(ctx, "tcp", ln.Addr().String()); !errors.As(err, &opErr) || opErr.Op != "dial" {
		t.Fatalf("dial error %v: want a *net.OpError for op dial", err)
	}

	tb.Heal()
	c2, err := dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial after Heal: %v", err)
	}
	c2.Close()
	tb.mu.Lock()
	n := len(tb.conns)
	tb.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d connections still tracked after Close", n)
	}
}

// fakeTransport is an in-memory memberlist transport that records writes.
type fakeTransport struct {
	packets chan *memberlist.Packet
	streams chan net.Conn
	written []string // addresses written to
	dialed  []string
	down    bool
}

func newFake() *fakeTransport {
	return &fakeTransport{packets: make(chan *memberlist.Packet, 8), streams: make(chan net.Conn)}
}

func (f *fakeTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.IPv4(127, 0, 0, 1), 7946, nil
}
func (f *fakeTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	f.written = append(f.written, addr)
	return time.Now(), nil
}
func (f *fakeTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return f.WriteTo(b, a.Addr)
}
func (f *fakeTransport) PacketCh() <-chan *memberlist.Packet { return f.packets }
func (f *fakeTransport) DialTimeout(addr string, _ time.Duration) (net.Conn, error) {
	f.dialed = append(f.dialed, addr)
	a, b := net.Pipe()
	b.Close()
	return a, nil
}
func (f *fakeTransport) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	return f.DialTimeout(a.Addr, d)
}
func (f *fakeTransport) StreamCh() <-chan net.Conn { return f.streams }
func (f *fakeTransport) Shutdown() error           { f.down = true; return nil }

func TestGossipTransportFilters(t *testing.T) {
	tb := NewTable()
	tb.Register("a", "127.0.0.1:7001")
	tb.Register("b", "127.0.0.1:7002")
	tb.Register("c", "127.0.0.1:7003")
	inner := newFake()
	g := tb.GossipTransport("a", inner)
	out := g.PacketCh()

	tb.Block("a", "b")
	g.WriteTo([]byte("x"), "127.0.0.1:7002")
	g.WriteToAddress([]byte("x"), memberlist.Address{Addr: "127.0.0.1:7003", Name: "c"})
	g.WriteToAddress([]byte("x"), memberlist.Address{Addr: "10.0.0.1:1", Name: "b"}) // by name
	if len(inner.written) != 1 || inner.written[0] != "127.0.0.1:7003" {
		t.Fatalf("written %v: want only the packet to c", inner.written)
	}
	if _, err := g.DialTimeout("127.0.0.1:7002", time.Second); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial toward a blocked node: %v", err)
	}
	if _, err := g.DialAddressTimeout(memberlist.Address{Addr: "127.0.0.1:7003", Name: "c"}, time.Second); err != nil {
		t.Fatalf("dial toward c: %v", err)
	}

	// Inbound: the packet from b is dropped, the one from c delivered.
	from := func(addr string) net.Addr { a, _ := net.ResolveUDPAddr("udp", addr); return a }
	inner.packets <- &memberlist.Packet{Buf: []byte("from b"), From: from("127.0.0.1:7002")}
	inner.packets <- &memberlist.Packet{Buf: []byte("from c"), From: from("127.0.0.1:7003")}
	select {
	case p := <-out:
		if string(p.Buf) != "from c" {
			t.Fatalf("got packet %q first, want the one from c", p.Buf)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no packet delivered")
	}

	if err := g.Shutdown(); err != nil || !inner.down {
		t.Fatalf("Shutdown: %v, inner down %v", err, inner.down)
	}
}

func TestGossipTransportOverNetTransport(t *testing.T) {
	tb := NewTable()
	mk := func(name string) (*memberlist.NetTransport, string) {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(nt.GetAutoBindPort()))
		tb.Register(name, addr)
		return nt, addr
	}
	na, _ := mk("a")
	nb, addrB := mk("b")
	ga := tb.GossipTransport("a", na)
	gb := tb.GossipTransport("b", nb)
	defer ga.Shutdown()
	defer gb.Shutdown()

	c, err := ga.DialTimeout(addrB, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var in net.Conn
	select {
	case in = <-gb.StreamCh():
	case <-time.After(5 * time.Second):
		t.Fatal("no inbound stream")
	}
	defer in.Close()

	tb.Block("a", "b")
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrBlocked) {
		t.Fatalf("write on a cut stream: %v", err)
	}
	// The far end sees the connection close.
	in.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := in.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("inbound side after the cut: %v, want EOF or reset", err)
	}
	if _, err := ga.DialTimeout(addrB, time.Second); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial while blocked: %v", err)
	}
}

// memberlist's NetTransport blocks on its unbuffered packet channel; the
// wrapper must keep draining it while shutting down, or Shutdown hangs.
func TestGossipTransportShutdownWithUnreadPackets(t *testing.T) {
	tb := NewTable()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(nt.GetAutoBindPort()))
	g := tb.GossipTransport("a", nt)
	g.PacketCh() // start the filter; nobody reads its output

	udp, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for i := 0; i < 5; i++ {
		udp.Write([]byte("packet"))
	}
	done := make(chan error, 1)
	go func() { done <- g.Shutdown() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown hangs with unread packets")
	}
}
