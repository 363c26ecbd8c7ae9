package cluster

// THIS FILE IS A PLACEHOLDER for the API contract; the cluster
// implementation replaces it. Signatures are what node and testcluster use.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/herald-mq/herald/fsm"
)

// Errors returned by Cluster.
var (
	// ErrNoLeader: no leader was known within Config.LeaderWait. It has a
	// RetryAfter() time.Duration method (httpapi maps it to 503 + Retry-After).
	ErrNoLeader = errors.New("no cluster leader")
	// ErrClosed: the cluster is shutting down.
	ErrClosed = errors.New("cluster closed")
)

// Config configures one cluster member. Zero durations take defaults.
type Config struct {
	NodeID          string
	DataDir         string // raft log (raft.db) and snapshots live here
	RaftAddr        string // advertised raft address (host:port)
	RaftListener    net.Listener
	GossipBind      string // host:port to bind memberlist (ignored when GossipTransport set)
	GossipAdvertise string
	GossipTransport memberlist.NodeAwareTransport // optional (tests inject a faulty one)
	HTTPAddr        string                        // advertised HTTP address, gossiped to peers
	Join            []string                      // gossip addresses of existing members
	BootstrapExpect int
	Secret          string // authenticates the internal forwarding endpoints
	// Dial is used for raft and forwarding connections (tests inject faults).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	FSM  *fsm.FSM
	Log  *slog.Logger

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	ApplyTimeout       time.Duration // per Apply, including forwarding
	LeaderWait         time.Duration // bounded hold for a leader before ErrNoLeader
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	ReconcileInterval  time.Duration
	DeadServerTimeout  time.Duration
}

// Member is one cluster member as seen by gossip and raft.
type Member struct {
	ID          string `json:"id"`
	HTTPAddr    string `json:"http_addr"`
	RaftAddr    string `json:"raft_addr"`
	GossipAddr  string `json:"gossip_addr"`
	GossipState string `json:"gossip_state"` // alive, suspect, dead, left, unknown
	Voter       bool   `json:"voter"`
}

// Status is the JSON body of GET /cluster/status.
type Status struct {
	NodeID         string   `json:"node_id"`
	LeaderID       string   `json:"leader_id"`
	LeaderHTTPAddr string   `json:"leader_http_addr"`
	State          string   `json:"state"`
	Term           uint64   `json:"term"`
	CommitIndex    uint64   `json:"commit_index"`
	AppliedIndex   uint64   `json:"applied_index"`
	LastNow        int64    `json:"fsm_time_unix_nano"`
	Members        []Member `json:"members"`
}

// Cluster is one node's membership in the Herald cluster.
type Cluster struct{}

// New validates cfg and prepares a Cluster; nothing runs until Start.
func New(cfg Config) (*Cluster, error) { panic("unimplemented") }

// Start opens raft, joins gossip and starts the leader loop.
func (c *Cluster) Start() error { panic("unimplemented") }

// Apply stamps (on the leader) and commits cmd, forwarding it to the leader
// when this node is a follower. It returns the FSM's result and res.Err().
func (c *Cluster) Apply(ctx context.Context, cmd *fsm.Command) (*fsm.Result, error) {
	panic("unimplemented")
}

// Read runs fn against the local FSM after a read-index barrier (unless
// stale), so it observes every write acknowledged before Read was called.
func (c *Cluster) Read(ctx context.Context, stale bool, fn func(*fsm.State)) error {
	panic("unimplemented")
}

// Handler serves the internal endpoints (forwarded apply, read index) under
// /internal/; node mounts it beside the public API.
func (c *Cluster) Handler() http.Handler { panic("unimplemented") }

// Status reports this node's view of the cluster.
func (c *Cluster) Status() Status { panic("unimplemented") }

// IsLeader reports whether this node is the raft leader.
func (c *Cluster) IsLeader() bool { panic("unimplemented") }

// Ready reports whether a leader is known and this node has applied the
// log up to the commit index it last learned.
func (c *Cluster) Ready() bool { panic("unimplemented") }

// Close stops gracefully: transfers leadership, leaves gossip, shuts raft.
func (c *Cluster) Close() error { panic("unimplemented") }

// Kill stops abruptly (no leadership transfer, no gossip leave), as a crash
// would; used by testcluster.
func (c *Cluster) Kill() error { panic("unimplemented") }
