package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

const (
	// raftLogCacheSize is how many recent entries the log cache keeps in
	// memory: followers being replicated and read-index scans hit it.
	raftLogCacheSize = 512
	// raftMaxAppendEntries bounds entries per AppendEntries RPC and per
	// group commit batch on the leader (raft allows up to 1024).
	raftMaxAppendEntries = 256
	// raftTransportTimeout is the I/O deadline of one raft RPC.
	raftTransportTimeout = 10 * time.Second
	// raftMaxPool is how many idle connections raft keeps per peer.
	raftMaxPool = 3
	// snapshotRetain is how many snapshots stay on disk.
	snapshotRetain = 2
	// boltOpenTimeout bounds waiting for the raft.db file lock, so a second
	// process on the same data dir fails instead of hanging.
	boltOpenTimeout = 2 * time.Second
)

// raftParts are the pieces Start builds and Close/Kill tear down, in
// dependency order.
type raftParts struct {
	raft   *raft.Raft
	store  *raftboltdb.BoltStore // log and stable store; closed after raft stops
	logs   raft.LogStore         // store behind a cache
	stream *streamLayer          // owns the raft listener and every raft connection
	// hadState is whether raft found existing state on disk at start.
	hadState bool
}

// openRaft opens the stores and the transport and starts raft. On error it
// leaves nothing open except cfg.RaftListener, which the caller closes.
func (c *Cluster) openRaft() (*raftParts, error) {
	dir := filepath.Join(c.cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("raft dir: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(dir, "raft.db"),
		// The freelist is rebuilt by scanning at open instead of being
		// written by every commit: log truncation frees many pages, and
		// rewriting that list on each append cost more than the append
		// (as Consul's raft_boltdb.NoFreelistSync).
		BoltOptions: &bbolt.Options{
			Timeout:        boltOpenTimeout,
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open raft.db: %w", err)
	}
	p := &raftParts{store: store}
	fail := func(err error) (*raftParts, error) {
		store.Close()
		return nil, err
	}
	if p.logs, err = raft.NewLogCache(raftLogCacheSize, store); err != nil {
		return fail(err)
	}
	rlog := newHCLog(c.cfg.Log, "raft", &c.closed)
	// The snapshot store appends "snapshots" to dir.
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotRetain, rlog.Named("snapshot"))
	if err != nil {
		return fail(fmt.Errorf("snapshot store: %w", err))
	}
	if p.hadState, err = raft.HasExistingState(p.logs, store, snaps); err != nil {
		return fail(err)
	}

	p.stream = newStreamLayer(c.cfg.RaftListener, c.cfg.RaftAddr, c.cfg.Dial)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  p.stream,
		MaxPool: raftMaxPool,
		Timeout: raftTransportTimeout,
		Logger:  rlog.Named("net"),
		// No AppendEntries pipelining: a follower is sent the next
		// entries once it acknowledged the previous ones, so entries that
		// queued meanwhile share one RPC and one log write there.
		MaxRPCsInFlight: 1,
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.cfg.NodeID)
	rc.HeartbeatTimeout = c.cfg.HeartbeatTimeout
	rc.ElectionTimeout = c.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = c.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = c.cfg.CommitTimeout
	rc.SnapshotThreshold = c.cfg.SnapshotThreshold
	rc.SnapshotInterval = c.cfg.SnapshotInterval
	rc.TrailingLogs = c.cfg.TrailingLogs
	rc.MaxAppendEntries = raftMaxAppendEntries
	rc.BatchApplyCh = true // group commit: the leader takes up to MaxAppendEntries applies per log write
	rc.Logger = rlog
	rc.NotifyCh = c.leaderNotify
	if err := raft.ValidateConfig(rc); err != nil {
		trans.Close()
		return fail(err)
	}
	if p.raft, err = raft.NewRaft(rc, c.adapter, p.logs, store, snaps, trans); err != nil {
		trans.Close()
		return fail(err)
	}
	return p, nil
}

// shutdown stops raft, then closes its transport (listener and every
// connection) and the store. Safe to call once per raftParts.
func (p *raftParts) shutdown() error {
	err := p.raft.Shutdown().Error() // also closes the transport, hence the stream layer
	p.stream.Close()
	if cerr := p.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// streamLayer is raft's network: it accepts on the configured listener and
// dials through Config.Dial, so tests can inject faults. It tracks every
// connection so that Close cuts them all, as a crashed process would.
type streamLayer struct {
	ln   net.Listener
	addr advertisedAddr
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu     sync.Mutex                // guards conns and closed
	conns  map[*trackedConn]struct{} // live accepted and dialled connections
	closed bool
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(ln net.Listener, addr string, dial func(context.Context, string, string) (net.Conn, error)) *streamLayer {
	return &streamLayer{ln: ln, addr: advertisedAddr(addr), dial: dial, conns: map[*trackedConn]struct{}{}}
}

// Accept waits for the next inbound raft connection.
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

// Dial opens an outbound raft connection.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := s.dial(ctx, "tcp", string(address))
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

// Close closes the listener and every live connection. Idempotent.
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
	err := s.ln.Close()
	for c := range conns {
		c.Conn.Close()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

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

// advertisedAddr is a host:port kept verbatim (no DNS resolution).
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
