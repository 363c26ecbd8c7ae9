package cluster

import (
	"fmt"
	"os"
	"path/filepath"
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

	p.stream = newStreamLayer(c.cfg.RaftListener, c.cfg.RaftAddr, c.cfg.Dial, c.linkServer())
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
// connection, raft's and the peer links'), waits for the goroutines that
// served them, and closes the store. Safe to call once per raftParts.
func (p *raftParts) shutdown() error {
	err := p.raft.Shutdown().Error() // also closes the transport, hence the stream layer
	p.stream.Close()
	p.stream.wait()
	if cerr := p.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// advertisedAddr is a host:port kept verbatim (no DNS resolution).
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
