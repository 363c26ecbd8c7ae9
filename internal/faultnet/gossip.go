package faultnet

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// GossipTransport wraps node from's memberlist transport: packets toward
// blocked nodes are silently dropped (as UDP would lose them), packets
// from blocked nodes are dropped on arrival, stream dials toward blocked
// nodes fail, and live streams are cut when their pair becomes blocked.
// Shutdown shuts inner down too.
func (t *Table) GossipTransport(from string, inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	return &gossipTransport{t: t, from: from, inner: inner, stop: make(chan struct{}), done: make(chan struct{})}
}

// gossipTransport is the memberlist.NodeAwareTransport GossipTransport
// returns.
type gossipTransport struct {
	t     *Table
	from  string
	inner memberlist.NodeAwareTransport

	mu      sync.Mutex              // guards packets and stopped
	packets chan *memberlist.Packet // filtered packets; created by the first PacketCh call
	stopped bool
	stop    chan struct{}  // closed when Shutdown begins: filterPackets drops from then on
	done    chan struct{}  // closed when the inner transport is down: filterPackets returns
	wg      sync.WaitGroup // filterPackets
}

var _ memberlist.NodeAwareTransport = (*gossipTransport)(nil)

// FinalAdvertiseAddr is the inner transport's.
func (g *gossipTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return g.inner.FinalAdvertiseAddr(ip, port)
}

// blockedTo reports whether a packet or stream toward addr (or the node
// named name, when addr is not registered) must fail.
func (g *gossipTransport) blockedTo(addr, name string) bool {
	g.t.mu.Lock()
	defer g.t.mu.Unlock()
	to := g.t.nodeOfLocked(addr)
	if to == "" && g.t.nodes[name] {
		to = name
	}
	return g.t.blockedLocked(g.from, to)
}

// WriteTo drops packets toward blocked nodes.
func (g *gossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if g.blockedTo(addr, "") {
		return time.Now(), nil
	}
	return g.inner.WriteTo(b, addr)
}

// WriteToAddress drops packets toward blocked nodes.
func (g *gossipTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if g.blockedTo(a.Addr, a.Name) {
		return time.Now(), nil
	}
	return g.inner.WriteToAddress(b, a)
}

// PacketCh delivers inbound packets, minus those from blocked nodes.
func (g *gossipTransport) PacketCh() <-chan *memberlist.Packet {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.packets == nil {
		g.packets = make(chan *memberlist.Packet)
		if !g.stopped {
			g.wg.Add(1)
			go g.filterPackets(g.inner.PacketCh(), g.packets)
		}
	}
	return g.packets
}

// filterPackets forwards inbound packets whose sender may reach us. It
// keeps draining the inner channel during Shutdown: memberlist's
// NetTransport blocks on an unread packet channel and would never finish
// shutting down. Owner: gossipTransport; stopped by Shutdown.
func (g *gossipTransport) filterPackets(in <-chan *memberlist.Packet, out chan<- *memberlist.Packet) {
	defer g.wg.Done()
	for {
		select {
		case <-g.done:
			return
		case p := <-in:
			if p.From != nil && g.t.Blocked(g.t.NodeOf(p.From.String()), g.from) {
				continue
			}
			select {
			case out <- p:
			case <-g.stop: // shutting down: drop
			}
		}
	}
}

// DialTimeout fails toward blocked nodes and tracks the stream otherwise.
func (g *gossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return g.dial(memberlist.Address{Addr: addr}, func() (net.Conn, error) {
		return g.inner.DialTimeout(addr, timeout)
	})
}

// DialAddressTimeout fails toward blocked nodes and tracks the stream
// otherwise.
func (g *gossipTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return g.dial(a, func() (net.Conn, error) {
		return g.inner.DialAddressTimeout(a, timeout)
	})
}

func (g *gossipTransport) dial(a memberlist.Address, dial func() (net.Conn, error)) (net.Conn, error) {
	if g.blockedTo(a.Addr, a.Name) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: stringAddr(a.Addr), Err: ErrBlocked}
	}
	c, err := dial()
	if err != nil {
		return nil, err
	}
	return g.t.track(g.from, a.Addr, c)
}

// StreamCh is the inner transport's: a blocked peer cannot dial us, and
// streams it opened earlier are cut from its side.
func (g *gossipTransport) StreamCh() <-chan net.Conn { return g.inner.StreamCh() }

// Shutdown shuts the inner transport down, then stops the packet filter.
func (g *gossipTransport) Shutdown() error {
	g.mu.Lock()
	first := !g.stopped
	if first {
		g.stopped = true
		close(g.stop)
	}
	g.mu.Unlock()
	err := g.inner.Shutdown()
	if first {
		close(g.done)
	}
	g.wg.Wait()
	return err
}
