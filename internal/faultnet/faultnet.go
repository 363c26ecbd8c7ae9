// Package faultnet is a network fault table for tests. One Table is shared
// by every node of an in-process cluster and applied at each layer that
// opens connections or sends packets: the raft stream layer and the
// forwarding client (through Dialer) and gossip (through GossipTransport).
//
// Faults are symmetric: Block(a, b) cuts a→b and b→a. Dials toward a
// blocked node fail at once, live connections between newly blocked nodes
// are closed when the fault starts (so blocked reads and writes fail, as
// after a cable pull followed by a reset), and gossip packets are dropped.
package faultnet

import (
	"context"
	"errors"
	"net"
	"sync"
)

// ErrBlocked is the cause of every failure injected by a Table.
var ErrBlocked = errors.New("faultnet: blocked by fault table")

// Table maps listen addresses to node names and records which pairs of
// nodes cannot talk. Its methods are safe for concurrent use.
type Table struct {
	mu       sync.Mutex         // guards every field below
	owner    map[string]string  // listen address -> node name
	nodes    map[string]bool    // registered node names
	blocked  map[[2]string]bool // blocked ordered pairs (always stored both ways)
	isolated map[string]bool    // nodes cut off from every other node
	conns    map[*conn]struct{} // live connections opened through the table
}

// NewTable returns an empty table: everything may talk to everything.
func NewTable() *Table {
	return &Table{
		owner:    map[string]string{},
		nodes:    map[string]bool{},
		blocked:  map[[2]string]bool{},
		isolated: map[string]bool{},
		conns:    map[*conn]struct{}{},
	}
}

// Register maps listen addresses (host:port) to a node name. It may be
// called again for the same node (after a restart) and adds addresses.
func (t *Table) Register(node string, addrs ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nodes[node] = true
	for _, a := range addrs {
		if a == "" {
			continue
		}
		t.owner[a] = node
		if c := canonical(a); c != "" {
			t.owner[c] = node
		}
	}
}

// Block cuts both directions between nodes a and b.
func (t *Table) Block(a, b string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blockLocked(a, b)
	t.cutLocked()
}

// Isolate cuts node off from every other node, including nodes registered
// later.
func (t *Table) Isolate(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.isolated[node] = true
	t.cutLocked()
}

// Partition blocks every pair of nodes that are in different groups.
// Nodes in no group are not affected. Earlier faults stay in force.
func (t *Table) Partition(groups ...[]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, g := range groups {
		for _, other := range groups[i+1:] {
			for _, a := range g {
				for _, b := range other {
					t.blockLocked(a, b)
				}
			}
		}
	}
	t.cutLocked()
}

// Heal removes every fault. Connections closed by earlier faults stay
// closed; new dials succeed.
func (t *Table) Heal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blocked = map[[2]string]bool{}
	t.isolated = map[string]bool{}
}

// Blocked reports whether traffic from node from to node to is cut.
func (t *Table) Blocked(from, to string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.blockedLocked(from, to)
}

// NodeOf returns the node registered for a listen address ("" if none).
func (t *Table) NodeOf(addr string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nodeOfLocked(addr)
}

func (t *Table) nodeOfLocked(addr string) string {
	if n, ok := t.owner[addr]; ok {
		return n
	}
	return t.owner[canonical(addr)]
}

func (t *Table) blockLocked(a, b string) {
	if a == b {
		return
	}
	t.blocked[[2]string{a, b}] = true
	t.blocked[[2]string{b, a}] = true
}

func (t *Table) blockedLocked(from, to string) bool {
	if from == "" || to == "" || from == to {
		return false
	}
	return t.isolated[from] || t.isolated[to] || t.blocked[[2]string{from, to}]
}

// blockedAddrLocked reports whether from may not reach the node listening
// on addr; unknown addresses are never blocked.
func (t *Table) blockedAddrLocked(from, addr string) bool {
	return t.blockedLocked(from, t.nodeOfLocked(addr))
}

// cutLocked closes every live connection whose pair is now blocked.
func (t *Table) cutLocked() {
	for c := range t.conns {
		if t.blockedLocked(c.from, c.to) {
			delete(t.conns, c)
			c.cut()
		}
	}
}

// Dialer returns a dial function for node from: it refuses dials toward
// blocked nodes and returns connections that the table closes when their
// pair becomes blocked.
func (t *Table) Dialer(from string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := t.checkDial(from, network, addr); err != nil {
			return nil, err
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return t.track(from, addr, c)
	}
}

func (t *Table) checkDial(from, network, addr string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.blockedAddrLocked(from, addr) {
		return &net.OpError{Op: "dial", Net: network, Addr: stringAddr(addr), Err: ErrBlocked}
	}
	return nil
}

// track wraps c so the table can cut it; if the pair became blocked while
// dialling, c is closed at once.
func (t *Table) track(from, addr string, c net.Conn) (net.Conn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	to := t.nodeOfLocked(addr)
	if t.blockedLocked(from, to) {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: stringAddr(addr), Err: ErrBlocked}
	}
	fc := &conn{Conn: c, t: t, from: from, to: to}
	if to != "" {
		t.conns[fc] = struct{}{}
	}
	return fc, nil
}

// conn is a connection opened through the table.
type conn struct {
	net.Conn
	t        *Table
	from, to string

	mu   sync.Mutex // guards cutf
	cutf bool       // the table severed this connection
}

func (c *conn) isCut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cutf
}

// cut marks the connection as severed and closes it, which fails pending
// and later reads and writes. Called with the table lock held.
func (c *conn) cut() {
	c.mu.Lock()
	c.cutf = true
	c.mu.Unlock()
	c.Conn.Close()
}

// Read reports ErrBlocked once the table has cut the connection.
func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && c.isCut() {
		return n, &net.OpError{Op: "read", Net: "tcp", Addr: c.RemoteAddr(), Err: ErrBlocked}
	}
	return n, err
}

// Write fails with ErrBlocked once the table has cut the connection.
func (c *conn) Write(b []byte) (int, error) {
	if c.isCut() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Addr: c.RemoteAddr(), Err: ErrBlocked}
	}
	n, err := c.Conn.Write(b)
	if err != nil && c.isCut() {
		return n, &net.OpError{Op: "write", Net: "tcp", Addr: c.RemoteAddr(), Err: ErrBlocked}
	}
	return n, err
}

// Close closes the connection and forgets it.
func (c *conn) Close() error {
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
	return c.Conn.Close()
}

// canonical returns addr with its host resolved to an IP literal when it
// is "localhost" or an IP in another spelling; "" when it cannot.
func canonical(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return ""
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return net.JoinHostPort(ip.String(), port)
}

// stringAddr is a net.Addr for error messages.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
