package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/herald-mq/herald/fsm"
)

// Default timings. They are tuned for a cluster of 1-5 nodes on loopback or
// a LAN (round trips well under 10 ms); DESIGN.md explains each figure.
const (
	// DefaultHeartbeatTimeout is how long a follower waits without hearing
	// from the leader before it starts an election (raft randomises it to
	// between 1x and 2x). The leader heartbeats every tenth of it (50 ms).
	DefaultHeartbeatTimeout = 500 * time.Millisecond
	// DefaultElectionTimeout is how long a candidate waits for votes before
	// starting a new election round (also randomised to 1x-2x).
	DefaultElectionTimeout = 500 * time.Millisecond
	// DefaultLeaderLeaseTimeout is how long a leader keeps leading without
	// hearing from a quorum; a partitioned leader steps down after it.
	// raft requires it to be <= HeartbeatTimeout.
	DefaultLeaderLeaseTimeout = 250 * time.Millisecond
	// DefaultCommitTimeout bounds how long a follower may wait to learn a
	// new commit index when no further entries are being sent.
	DefaultCommitTimeout = 50 * time.Millisecond
	// DefaultApplyTimeout bounds one Apply or Read, including forwarding and
	// retries after a leader change.
	DefaultApplyTimeout = 10 * time.Second
	// DefaultLeaderWait is how long Apply and Read hold a request while no
	// leader is reachable before failing with ErrNoLeader.
	DefaultLeaderWait = 5 * time.Second
	// DefaultSnapshotThreshold is the number of new log entries that makes
	// raft take a snapshot (checked every SnapshotInterval). It is a
	// backstop: the log budget's SnapshotBytes (logbudget.go) normally
	// comes first, since an entry may hold one command or hundreds.
	DefaultSnapshotThreshold = 1 << 20
	// DefaultSnapshotInterval is how often raft checks SnapshotThreshold.
	DefaultSnapshotInterval = 30 * time.Second
	// DefaultTrailingLogs is the most entries that stay in the log after a
	// snapshot, so a briefly lagging follower catches up from the log
	// instead of a full snapshot install; TrailingBytes (logbudget.go)
	// lowers it for large entries.
	DefaultTrailingLogs = 10240
	// DefaultReconcileInterval is how often the leader reconciles gossip
	// members into raft voters even without a membership event.
	DefaultReconcileInterval = 15 * time.Second
	// DefaultDeadServerTimeout is how long a voter must be gone from gossip
	// (failed or left) before the leader removes it from raft.
	DefaultDeadServerTimeout = 10 * time.Minute
)

// Config configures one cluster member. Zero durations take defaults; see
// Validate.
type Config struct {
	// NodeID is this node's unique, stable id (raft server id and gossip
	// name). Required.
	NodeID string
	// DataDir holds <DataDir>/raft/raft.db (log and stable store) and
	// <DataDir>/raft/snapshots. Required.
	DataDir string
	// RaftAddr is the advertised raft address (host:port); defaults to the
	// address of RaftListener.
	RaftAddr string
	// RaftListener accepts raft connections. Required; Close and Kill
	// close it.
	RaftListener net.Listener
	// GossipBind is the host:port memberlist binds (UDP and TCP); ignored
	// when GossipTransport is set. Port 0 picks a free port.
	GossipBind string
	// GossipAdvertise is the host:port peers use to reach this node's
	// gossip; defaults to the bound address.
	GossipAdvertise string
	// GossipTransport, when set, replaces memberlist's own network
	// transport (tests inject a faulty one). Memberlist shuts it down.
	GossipTransport memberlist.NodeAwareTransport
	// HTTPAddr is the advertised HTTP address, gossiped to peers so that
	// followers can forward to the leader's internal endpoints. Required.
	HTTPAddr string
	// Join lists gossip addresses of existing members; Start keeps trying
	// them in the background until one answers.
	Join []string
	// BootstrapExpect is the number of servers that form a new cluster.
	// 0 never bootstraps (the node waits to be added by a leader); 1
	// bootstraps alone at once; N waits until N fresh servers are seen in
	// gossip. A node with existing raft state never bootstraps.
	BootstrapExpect int
	// Secret authenticates the internal forwarding endpoints (HMAC-SHA256).
	// Empty disables authentication.
	Secret string
	// Dial is used for raft and forwarding connections (tests inject
	// faults); defaults to a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// FSM is the replicated state machine. Required.
	FSM *fsm.FSM
	// Log receives the cluster's logs and the bridged raft and memberlist
	// logs; defaults to slog.Default().
	Log *slog.Logger

	// HeartbeatTimeout: see DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// ElectionTimeout: see DefaultElectionTimeout. Defaults to at least
	// HeartbeatTimeout.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout: see DefaultLeaderLeaseTimeout. Defaults to at most
	// HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout: see DefaultCommitTimeout.
	CommitTimeout time.Duration
	// ApplyTimeout bounds each Apply and Read, including forwarding.
	ApplyTimeout time.Duration
	// LeaderWait bounds how long a request waits for a reachable leader
	// before failing with ErrNoLeader.
	LeaderWait time.Duration
	// SnapshotThreshold: see DefaultSnapshotThreshold.
	SnapshotThreshold uint64
	// SnapshotInterval: see DefaultSnapshotInterval.
	SnapshotInterval time.Duration
	// TrailingLogs: see DefaultTrailingLogs.
	TrailingLogs uint64
	// SnapshotBytes: see DefaultSnapshotBytes.
	SnapshotBytes uint64
	// TrailingBytes: see DefaultTrailingBytes.
	TrailingBytes uint64
	// ReconcileInterval: see DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// DeadServerTimeout: see DefaultDeadServerTimeout.
	DeadServerTimeout time.Duration
}

// Validate fills defaults and rejects missing or contradictory settings.
// New calls it on its own copy; callers may call it to see the effective
// configuration.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("cluster: NodeID is required")
	case c.DataDir == "":
		return errors.New("cluster: DataDir is required")
	case c.RaftListener == nil:
		return errors.New("cluster: RaftListener is required")
	case c.HTTPAddr == "":
		return errors.New("cluster: HTTPAddr is required")
	case c.FSM == nil:
		return errors.New("cluster: FSM is required")
	case c.GossipTransport == nil && c.GossipBind == "":
		return errors.New("cluster: GossipBind or GossipTransport is required")
	case c.BootstrapExpect < 0:
		return errors.New("cluster: BootstrapExpect must be >= 0")
	}
	if c.RaftAddr == "" {
		c.RaftAddr = c.RaftListener.Addr().String()
	}
	if _, err := net.ResolveTCPAddr("tcp", c.RaftAddr); err != nil {
		return fmt.Errorf("cluster: RaftAddr %q: %w", c.RaftAddr, err)
	}
	if c.GossipTransport == nil {
		if _, _, err := splitHostPort(c.GossipBind); err != nil {
			return fmt.Errorf("cluster: GossipBind %q: %w", c.GossipBind, err)
		}
	}
	if c.GossipAdvertise != "" {
		if _, _, err := splitHostPort(c.GossipAdvertise); err != nil {
			return fmt.Errorf("cluster: GossipAdvertise %q: %w", c.GossipAdvertise, err)
		}
	}
	if c.Dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		c.Dial = d.DialContext
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}

	setDur(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	setDur(&c.ElectionTimeout, max(DefaultElectionTimeout, c.HeartbeatTimeout))
	setDur(&c.LeaderLeaseTimeout, min(DefaultLeaderLeaseTimeout, c.HeartbeatTimeout))
	setDur(&c.CommitTimeout, DefaultCommitTimeout)
	setDur(&c.ApplyTimeout, DefaultApplyTimeout)
	setDur(&c.LeaderWait, DefaultLeaderWait)
	setDur(&c.SnapshotInterval, DefaultSnapshotInterval)
	setDur(&c.ReconcileInterval, DefaultReconcileInterval)
	setDur(&c.DeadServerTimeout, DefaultDeadServerTimeout)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.SnapshotBytes == 0 {
		c.SnapshotBytes = DefaultSnapshotBytes
	}
	if c.TrailingBytes == 0 {
		c.TrailingBytes = DefaultTrailingBytes
	}
	if c.SnapshotBytes < minSnapshotBytes || c.TrailingBytes < minTrailingBytes {
		return fmt.Errorf("cluster: SnapshotBytes (%d) must be at least %d and TrailingBytes (%d) at least %d",
			c.SnapshotBytes, minSnapshotBytes, c.TrailingBytes, minTrailingBytes)
	}
	// raft's own rules (raft.ValidateConfig), reported in our terms.
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		return fmt.Errorf("cluster: LeaderLeaseTimeout (%v) must not exceed HeartbeatTimeout (%v)",
			c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		return fmt.Errorf("cluster: ElectionTimeout (%v) must be at least HeartbeatTimeout (%v)",
			c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.HeartbeatTimeout < 5*time.Millisecond || c.LeaderLeaseTimeout < 5*time.Millisecond {
		return errors.New("cluster: HeartbeatTimeout and LeaderLeaseTimeout must be at least 5ms")
	}
	return nil
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// splitHostPort parses host:port with a numeric port.
func splitHostPort(hp string) (string, int, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		return "", 0, err
	}
	return host, p, nil
}
