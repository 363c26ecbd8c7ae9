// Package testcluster runs N real Herald nodes inside one test process, on
// 127.0.0.1:0 listeners, with crash/restart and network fault injection (one
// fault table applied at the raft stream layer, the gossip transport and the
// forwarding client). Helpers wait by polling with deadlines, never by
// sleeping.
package testcluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/herald-mq/herald/client"
	"github.com/herald-mq/herald/internal/faultnet"
	"github.com/herald-mq/herald/internal/testpoll"
	"github.com/herald-mq/herald/node"
)

// Options tune a test cluster. Zero values take defaults.
type Options struct {
	// Configure, if set, adjusts each node's config before it starts.
	Configure func(i int, c *node.Config)
	// Verbose sends node logs to the test log (default: only on failure, via HERALD_TEST_LOG=1).
	Verbose bool
}

// Cluster is a set of in-process nodes sharing a fault table.
type Cluster struct {
	t      testing.TB
	dir    string
	opts   Options
	Faults *faultnet.Table
	Nodes  []*Node
}

// Node is one member of a test cluster. Its addresses stay the same across
// restarts, as a real process restarted with the same flags would.
type Node struct {
	c       *Cluster
	Index   int
	ID      string
	DataDir string

	HTTPAddr   string
	RaftAddr   string
	GossipAddr string

	mu   sync.Mutex // guards node
	node *node.Node // nil while the node is down
}

// New starts n nodes that bootstrap one cluster, and waits for a leader.
func New(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, dir: t.TempDir(), opts: opts, Faults: faultnet.NewTable()}
	for i := 0; i < n; i++ {
		nd := &Node{c: c, Index: i, ID: "node" + strconv.Itoa(i+1)}
		nd.DataDir = filepath.Join(c.dir, nd.ID)
		c.Nodes = append(c.Nodes, nd)
	}
	t.Cleanup(c.Close)
	for _, nd := range c.Nodes {
		if err := nd.start(n); err != nil {
			t.Fatalf("start %s: %v", nd.ID, err)
		}
	}
	c.WaitForLeader(30 * time.Second)
	return c
}

func (n *Node) start(expect int) error {
	c := n.c
	httpLn, err := listen(n.HTTPAddr)
	if err != nil {
		return err
	}
	raftLn, err := listen(n.RaftAddr)
	if err != nil {
		httpLn.Close()
		return err
	}
	gport := 0
	if n.GossipAddr != "" {
		_, p, _ := net.SplitHostPort(n.GossipAddr)
		gport, _ = strconv.Atoi(p)
	}
	gt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		BindPort:  gport,
		Logger:    nil,
	})
	if err != nil {
		httpLn.Close()
		raftLn.Close()
		return fmt.Errorf("gossip transport: %w", err)
	}
	n.HTTPAddr = httpLn.Addr().String()
	n.RaftAddr = raftLn.Addr().String()
	n.GossipAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(gt.GetAutoBindPort()))
	c.Faults.Register(n.ID, n.HTTPAddr, n.RaftAddr, n.GossipAddr)

	var join []string // every other member whose gossip address is known
	for _, o := range c.Nodes {
		if o != n && o.GossipAddr != "" {
			join = append(join, o.GossipAddr)
		}
	}
	cfg := node.Config{
		NodeID:          n.ID,
		DataDir:         n.DataDir,
		HTTPListener:    httpLn,
		RaftListener:    raftLn,
		GossipAdvertise: n.GossipAddr,
		GossipTransport: c.Faults.GossipTransport(n.ID, gt),
		Dial:            c.Faults.Dialer(n.ID),
		Join:            join,
		BootstrapExpect: expect,
		ClusterSecret:   "testcluster-secret",
		SignedURLKey:    "testcluster-signing-key",
		SweepInterval:   time.Second,
		Log:             c.logger(n.ID),
	}
	if c.opts.Configure != nil {
		c.opts.Configure(n.Index, &cfg)
	}
	nd, err := node.New(cfg)
	if err != nil {
		httpLn.Close()
		raftLn.Close()
		gt.Shutdown()
		return err
	}
	if err := nd.Start(); err != nil {
		return err
	}
	n.mu.Lock()
	n.node = nd
	n.mu.Unlock()
	return nil
}

func listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	return net.Listen("tcp", addr)
}

func (c *Cluster) logger(id string) *slog.Logger {
	var w io.Writer = io.Discard
	if c.opts.Verbose || os.Getenv("HERALD_TEST_LOG") != "" {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test_node", id)
}

// Close stops every running node (abruptly; the test is over).
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// Node returns the running *node.Node, or nil when it is down.
func (n *Node) Node() *node.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.node
}

// Up reports whether the node is running.
func (n *Node) Up() bool { return n.Node() != nil }

// Kill crashes the node: no leadership transfer, no gossip leave.
func (n *Node) Kill() {
	n.mu.Lock()
	nd := n.node
	n.node = nil
	n.mu.Unlock()
	if nd != nil {
		nd.Kill()
	}
}

// Stop shuts the node down gracefully (leadership transfer, gossip leave).
func (n *Node) Stop() {
	n.mu.Lock()
	nd := n.node
	n.node = nil
	n.mu.Unlock()
	if nd != nil {
		if err := nd.Close(); err != nil {
			n.c.t.Logf("stop %s: %v", n.ID, err)
		}
	}
}

// Restart starts a stopped or killed node again from its data dir, on the
// same addresses.
func (n *Node) Restart() {
	n.c.t.Helper()
	if n.Up() {
		n.c.t.Fatalf("restart %s: still running", n.ID)
	}
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The old listeners were just closed; binding the same port can
		// briefly fail while the kernel releases it.
		if err = n.start(len(n.c.Nodes)); err == nil {
			return
		}
		if time.Now().After(deadline) {
			n.c.t.Fatalf("restart %s: %v", n.ID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL returns the node's HTTP base URL.
func (n *Node) URL() string { return "http://" + n.HTTPAddr }

// Client returns a Zaqar client aimed at the node, for project "test".
func (n *Node) Client(opts ...client.Option) *client.Client {
	return client.New(n.URL(), append([]client.Option{client.WithProjectID("test")}, opts...)...)
}

// IsLeader reports whether the node is up and the raft leader.
func (n *Node) IsLeader() bool {
	nd := n.Node()
	return nd != nil && nd.Cluster().IsLeader()
}

// Up returns the running nodes.
func (c *Cluster) Up() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Up() {
			out = append(out, n)
		}
	}
	return out
}

// Leader returns the current leader among running nodes, or nil.
func (c *Cluster) Leader() *Node {
	for _, n := range c.Nodes {
		if n.IsLeader() {
			return n
		}
	}
	return nil
}

// Followers returns the running nodes that are not the leader.
func (c *Cluster) Followers() []*Node {
	var out []*Node
	for _, n := range c.Up() {
		if !n.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// WaitForLeader polls until exactly one running node leads and every
// running node agrees on it.
func (c *Cluster) WaitForLeader(timeout time.Duration) *Node {
	c.t.Helper()
	var l *Node
	Poll(c.t, timeout, "a leader that every running node agrees on", func() bool {
		l = c.Leader()
		if l == nil {
			return false
		}
		for _, n := range c.Up() {
			nd := n.Node()
			if nd == nil || nd.Cluster().Status().LeaderID != l.ID {
				return false
			}
		}
		return true
	})
	return l
}

// WaitForNewLeader waits for a leader other than old.
func (c *Cluster) WaitForNewLeader(old *Node, timeout time.Duration) *Node {
	c.t.Helper()
	var l *Node
	Poll(c.t, timeout, "a new leader", func() bool {
		l = c.Leader()
		return l != nil && l != old
	})
	return l
}

// WaitConverged waits until every running node has applied the same index
// and holds the same state digest.
func (c *Cluster) WaitConverged(timeout time.Duration) {
	c.t.Helper()
	Poll(c.t, timeout, "all running nodes applied the same index with equal digests", func() bool {
		var idx uint64
		var dig string
		for i, n := range c.Up() {
			nd := n.Node()
			if nd == nil {
				return false
			}
			s := nd.Cluster().Status()
			if s.CommitIndex > s.AppliedIndex {
				return false
			}
			d := nd.FSM().Digest()
			if i == 0 {
				idx, dig = s.AppliedIndex, d
				continue
			}
			if s.AppliedIndex != idx || d != dig {
				return false
			}
		}
		return true
	})
}

// Isolate cuts node n off from every other node.
func (c *Cluster) Isolate(n *Node) { c.Faults.Isolate(n.ID) }

// Partition splits the cluster into the given groups.
func (c *Cluster) Partition(groups ...[]*Node) {
	var ids [][]string
	for _, g := range groups {
		var s []string
		for _, n := range g {
			s = append(s, n.ID)
		}
		ids = append(ids, s)
	}
	c.Faults.Partition(ids...)
}

// Heal removes every network fault.
func (c *Cluster) Heal() { c.Faults.Heal() }

// Ctx returns a context bounded by d, cancelled at test cleanup.
func (c *Cluster) Ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	c.t.Cleanup(cancel)
	return ctx
}

// Poll calls cond until it returns true or timeout passes, then fails the
// test naming what it waited for (polling, never sleeping as
// synchronisation).
var Poll = testpoll.Poll
