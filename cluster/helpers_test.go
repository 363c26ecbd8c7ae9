package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/herald-mq/herald/fsm"
	"github.com/herald-mq/herald/internal/faultnet"
	"github.com/herald-mq/herald/internal/testpoll"
)

const testSecret = "test-secret"

// testCluster is a set of in-process cluster members on 127.0.0.1:0
// listeners, sharing one fault table.
type testCluster struct {
	t         testing.TB
	dir       string
	faults    *faultnet.Table
	nodes     []*testNode
	configure func(n *testNode, c *Config)  // optional per-node config tweak
	tune      func(n *testNode, c *Cluster) // optional tweak between New and Start
}

// testNode is one member. Its addresses survive restarts.
type testNode struct {
	tc     *testCluster
	id     string
	dir    string
	expect int

	raftAddr, httpAddr, gossipAddr string

	fsm  *fsm.FSM
	c    *Cluster
	srv  *http.Server
	done chan struct{} // closed when srv.Serve returns
}

func newTestCluster(t testing.TB) *testCluster {
	tc := &testCluster{t: t, dir: t.TempDir(), faults: faultnet.NewTable()}
	t.Cleanup(func() {
		for _, n := range tc.nodes {
			n.kill()
		}
	})
	return tc
}

// start starts n nodes that all expect n servers, and waits for a leader.
func (tc *testCluster) start(n int) *testNode {
	tc.t.Helper()
	for i := 0; i < n; i++ {
		tc.add(n)
	}
	return tc.waitLeader(15 * time.Second)
}

// add starts one more node with the given BootstrapExpect, joining every
// node started before it.
func (tc *testCluster) add(expect int) *testNode {
	tc.t.Helper()
	id := "n" + strconv.Itoa(len(tc.nodes)+1)
	n := &testNode{tc: tc, id: id, dir: filepath.Join(tc.dir, id), expect: expect}
	tc.nodes = append(tc.nodes, n)
	n.start()
	return n
}

func testLogger(id string) *slog.Logger {
	var w io.Writer = io.Discard
	if os.Getenv("HERALD_TEST_LOG") != "" {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", id)
}

func listenOn(t testing.TB, addr string) net.Listener {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	poll(t, 5*time.Second, "bind "+addr, func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	return ln
}

func (n *testNode) start() {
	tc := n.tc
	t := tc.t
	t.Helper()
	raftLn := listenOn(t, n.raftAddr)
	httpLn := listenOn(t, n.httpAddr)
	port := 0
	if n.gossipAddr != "" {
		_, p, _ := net.SplitHostPort(n.gossipAddr)
		port, _ = strconv.Atoi(p)
	}
	var gt *memberlist.NetTransport
	poll(t, 5*time.Second, "bind gossip", func() bool {
		var err error
		gt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"},
			BindPort:  port,
			Logger:    newStdLogger(testLogger(n.id), "memberlist", nil),
		})
		return err == nil
	})
	n.raftAddr = raftLn.Addr().String()
	n.httpAddr = httpLn.Addr().String()
	n.gossipAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(gt.GetAutoBindPort()))
	tc.faults.Register(n.id, n.raftAddr, n.httpAddr, n.gossipAddr)

	var join []string
	for _, o := range tc.nodes {
		if o != n && o.gossipAddr != "" {
			join = append(join, o.gossipAddr)
		}
	}
	n.fsm = fsm.New(fsm.Config{})
	cfg := Config{
		NodeID:          n.id,
		DataDir:         n.dir,
		RaftListener:    raftLn,
		GossipAdvertise: n.gossipAddr,
		GossipTransport: tc.faults.GossipTransport(n.id, gt),
		HTTPAddr:        n.httpAddr,
		Join:            join,
		BootstrapExpect: n.expect,
		Secret:          testSecret,
		Dial:            tc.faults.Dialer(n.id),
		FSM:             n.fsm,
		Log:             testLogger(n.id),
	}
	if tc.configure != nil {
		tc.configure(n, &cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New %s: %v", n.id, err)
	}
	if tc.tune != nil {
		tc.tune(n, c)
	}
	n.c = c
	n.srv = &http.Server{Handler: c.Handler()}
	n.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) { // owner: testNode; stopped by stop/kill
		defer close(done)
		srv.Serve(httpLn)
	}(n.srv, n.done)
	if err := c.Start(); err != nil {
		t.Fatalf("Start %s: %v", n.id, err)
	}
}

func (n *testNode) up() bool { return n.c != nil }

// kill crashes the node (no transfer, no leave).
func (n *testNode) kill() {
	if n.c == nil {
		return
	}
	n.srv.Close()
	<-n.done
	if err := n.c.Kill(); err != nil {
		n.tc.t.Logf("kill %s: %v", n.id, err)
	}
	n.c = nil
}

// stop closes the node gracefully.
func (n *testNode) stop() {
	if n.c == nil {
		return
	}
	if err := n.c.Close(); err != nil {
		n.tc.t.Errorf("close %s: %v", n.id, err)
	}
	n.srv.Close()
	<-n.done
	n.c = nil
}

func (tc *testCluster) up() []*testNode {
	var out []*testNode
	for _, n := range tc.nodes {
		if n.up() {
			out = append(out, n)
		}
	}
	return out
}

func (tc *testCluster) leader() *testNode {
	for _, n := range tc.up() {
		if n.c.IsLeader() {
			return n
		}
	}
	return nil
}

func (tc *testCluster) followers() []*testNode {
	var out []*testNode
	for _, n := range tc.up() {
		if !n.c.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// waitLeader waits until one running node leads with its term established
// and every running node knows it.
func (tc *testCluster) waitLeader(timeout time.Duration) *testNode {
	tc.t.Helper()
	var l *testNode
	poll(tc.t, timeout, "a leader every running node knows", func() bool {
		l = tc.leader()
		if l == nil || !l.c.leading.Load().isReady() {
			return false
		}
		for _, n := range tc.up() {
			if id, addr := n.c.Leader(); id != l.id || addr == "" {
				return false
			}
		}
		return true
	})
	return l
}

// voters returns the voter ids of the leader's raft configuration.
// sameDigests fails t unless every node's state digest equals l's (call
// once they have applied the same index).
func (tc *testCluster) sameDigests(t testing.TB, l *testNode) {
	t.Helper()
	d := l.fsm.Digest()
	for _, n := range tc.nodes {
		if n.fsm.Digest() != d {
			t.Fatalf("%s digest differs from the leader's", n.id)
		}
	}
}

func voters(t testing.TB, c *Cluster) []string {
	t.Helper()
	rt := c.rt.Load()
	f := rt.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatalf("GetConfiguration: %v", err)
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			ids = append(ids, string(s.ID))
		}
	}
	return ids
}

// poll waits for cond with a deadline (see testpoll.Poll).
var poll = testpoll.Poll

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// createQueue applies a QueueCreate through c.
func createQueue(t testing.TB, c *Cluster, name string) *fsm.Result {
	t.Helper()
	cmd, err := fsm.NewCommand(fsm.CmdQueueCreate, "", &fsm.QueueCreate{Project: "p", Queue: name})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Apply(ctxFor(t, 15*time.Second), cmd)
	if err != nil {
		t.Fatalf("apply QueueCreate %s: %v", name, err)
	}
	return res
}

// hasQueue reads (linearizably unless stale) whether queue name exists.
func hasQueue(c *Cluster, stale bool, name string) (bool, error) {
	var ok bool
	err := c.Read(context.Background(), stale, func(s *fsm.State) {
		_, ok = s.Queue("p", name)
	})
	return ok, err
}

// mustHaveQueue asserts a linearizable read on c sees queue name at once.
func mustHaveQueue(t testing.TB, n *testNode, name string) {
	t.Helper()
	ok, err := hasQueue(n.c, false, name)
	if err != nil {
		t.Fatalf("read on %s: %v", n.id, err)
	}
	if !ok {
		t.Fatalf("linearizable read on %s does not see queue %q", n.id, name)
	}
}

func isNoLeader(err error) error {
	if !errors.Is(err, ErrNoLeader) {
		return fmt.Errorf("got %v, want ErrNoLeader", err)
	}
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfter() <= 0 {
		return fmt.Errorf("%v: no RetryAfter", err)
	}
	return nil
}
