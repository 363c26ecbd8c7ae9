package cluster

import (
	"context"
	"errors"
	"sort"
	"strconv"

	"github.com/hashicorp/raft"
)

const (
	// readyLag is how many entries a node may trail its known commit index
	// and still report Ready.
	readyLag = 16
	// appliedScanLimit bounds the log scan of appliedIndex.
	appliedScanLimit = 64
)

// Member is one cluster member as seen by gossip and raft.
type Member struct {
	ID          string `json:"id"`
	HTTPAddr    string `json:"http_addr"`
	RaftAddr    string `json:"raft_addr"`
	GossipAddr  string `json:"gossip_addr"`
	GossipState string `json:"gossip_state"` // alive, dead, left or unknown (memberlist v0.6 does not report suspect)
	Voter       bool   `json:"voter"`
}

// Status is the JSON body of GET /cluster/status.
type Status struct {
	NodeID         string `json:"node_id"`
	LeaderID       string `json:"leader_id"`
	LeaderHTTPAddr string `json:"leader_http_addr"`
	// State is raft's state: Leader, Follower, Candidate or Shutdown
	// (Starting before Start).
	State       string `json:"state"`
	Term        uint64 `json:"term"`
	CommitIndex uint64 `json:"commit_index"`
	// AppliedIndex is the raft index up to which the state machine has
	// consumed the log (raft's own no-op, barrier and configuration
	// entries count as consumed once the commands before them are).
	AppliedIndex uint64 `json:"applied_index"`
	LastNow      int64  `json:"fsm_time_unix_nano"`
	// LastSnapshotIndex is the raft index of this node's latest snapshot,
	// taken locally or installed from the leader; 0 if none.
	LastSnapshotIndex uint64 `json:"last_snapshot_index"`
	// RestoredFromSnapshot is the state machine's applied index right
	// after its latest snapshot restore since Start (at start-up, or a
	// snapshot installed by the leader); 0 if it restored none.
	RestoredFromSnapshot uint64   `json:"restored_from_snapshot"`
	Members              []Member `json:"members"`
	// Coalescing counts, since Start, how this node's forwarded writes and
	// linearizable reads were grouped on their way to the leader.
	Coalescing Coalescing `json:"coalescing"`
	// Log is this node's raft log against its budget in bytes.
	Log LogStatus `json:"log"`
}

// LogStatus is the raft log as the log budget (logbudget.go) sees it.
type LogStatus struct {
	// BytesSinceSnapshot is the bytes of the entries applied since the
	// latest snapshot (taken or restored); the next snapshot is due at
	// SnapshotDueBytes.
	BytesSinceSnapshot uint64 `json:"bytes_since_snapshot"`
	SnapshotDueBytes   uint64 `json:"snapshot_due_bytes"`
	// LastSnapshotBytes is the size of the latest snapshot taken or
	// restored since Start; 0 if none.
	LastSnapshotBytes uint64 `json:"last_snapshot_bytes"`
	// MeanEntryBytes is a moving mean of an applied entry's bytes.
	MeanEntryBytes uint64 `json:"mean_entry_bytes"`
	// TrailingLogs is how many entries the next snapshot leaves in the log.
	TrailingLogs uint64 `json:"trailing_logs"`
}

// Coalescing is the forward-batching and read-index-round counters of a
// node (batching.go). Commands per call and readers per round show how
// much each batching saved.
type Coalescing struct {
	ForwardCalls      uint64 `json:"forward_calls"`      // batch calls sent to the leader
	ForwardedCommands uint64 `json:"forwarded_commands"` // commands in them
	LinkCalls         uint64 `json:"link_calls"`         // batch and read-index calls that went over the peer link
	ReadRounds        uint64 `json:"read_rounds"`        // read-index rounds run
	Reads             uint64 `json:"reads"`              // linearizable reads that joined a round
}

// Status reports this node's view of the cluster. Members is the union of
// the raft configuration and the gossip view, sorted by id.
func (c *Cluster) Status() Status {
	s := Status{
		NodeID:               c.cfg.NodeID,
		State:                "Starting",
		AppliedIndex:         c.adapter.applied.Load(),
		LastNow:              c.sm.LastNow(),
		RestoredFromSnapshot: c.adapter.restored.Load(),
		Coalescing: Coalescing{
			ForwardCalls:      c.coalesce.fwdCalls.Load(),
			ForwardedCommands: c.coalesce.fwdCommands.Load(),
			LinkCalls:         c.coalesce.linkCalls.Load(),
			ReadRounds:        c.coalesce.readRounds.Load(),
			Reads:             c.coalesce.readWaiters.Load(),
		},
	}
	m := &c.adapter.meter
	last := m.lastSnap.Load()
	s.Log = LogStatus{
		BytesSinceSnapshot: m.sinceSnap.Load(),
		SnapshotDueBytes:   snapshotDue(c.cfg.SnapshotBytes, last, m.stagger.Load()),
		LastSnapshotBytes:  last,
		MeanEntryBytes:     m.meanEntry.Load(),
	}
	rt := c.rt.Load()
	if rt == nil {
		if c.stopped.Load() {
			s.State = raft.Shutdown.String()
		}
		return s
	}
	s.State = rt.raft.State().String()
	if !c.closed.Load() {
		s.LeaderID, s.LeaderHTTPAddr = c.Leader()
	}
	s.Log.TrailingLogs = rt.raft.ReloadableConfig().TrailingLogs
	s.Term = rt.raft.CurrentTerm()
	s.CommitIndex = rt.raft.CommitIndex()
	s.AppliedIndex = c.appliedIndex(rt)
	if !c.closed.Load() { // Stats logs a warning once raft is shut down
		s.LastSnapshotIndex, _ = strconv.ParseUint(rt.raft.Stats()["last_snapshot_index"], 10, 64)
	}
	s.Members = c.membersOf(rt)
	return s
}

// appliedIndex is the raft index the state machine has consumed up to. The
// adapter only sees command entries; raft's own AppliedIndex may run ahead
// of the state machine. If every entry between the two is a raft-internal
// one (no-op, barrier, configuration), the state machine is caught up with
// raft's figure.
func (c *Cluster) appliedIndex(rt *running) uint64 {
	a := c.adapter.applied.Load()
	ra := rt.raft.AppliedIndex()
	if ra <= a {
		return a
	}
	var l raft.Log
	for i := ra; i > a; i-- {
		if ra-i >= appliedScanLimit {
			return a
		}
		if err := rt.parts.logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return ra // compacted: absorbed by a snapshot the state machine holds
			}
			return a
		}
		if l.Type == raft.LogCommand {
			return a // a command the state machine has not applied yet
		}
	}
	return ra
}

// membersOf merges the raft configuration with the gossip view.
func (c *Cluster) membersOf(rt *running) []Member {
	byID := map[string]*Member{}
	get := func(id string) *Member {
		m, ok := byID[id]
		if !ok {
			m = &Member{ID: id, GossipState: "unknown"}
			byID[id] = m
		}
		return m
	}
	for id, g := range c.memberSnapshot() {
		m := get(id)
		m.GossipAddr = g.gossipAddr
		m.GossipState = gossipStateName(g.state)
		if g.valid {
			m.HTTPAddr = g.meta.HTTPAddr
			m.RaftAddr = g.meta.RaftAddr
		}
	}
	if f := rt.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			m := get(string(s.ID))
			m.RaftAddr = string(s.Address)
			m.Voter = s.Suffrage == raft.Voter
		}
	}
	out := make([]Member, 0, len(byID))
	for _, m := range byID {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Members returns the cluster members (see Status).
func (c *Cluster) Members() []Member {
	rt := c.rt.Load()
	if rt == nil {
		return nil
	}
	return c.membersOf(rt)
}

// IsLeader reports whether this node is the raft leader.
func (c *Cluster) IsLeader() bool {
	rt := c.rt.Load()
	return rt != nil && !c.closed.Load() && rt.raft.State() == raft.Leader
}

// Leader returns the leader's id and HTTP address as this node knows
// them; both are empty when no leader is known (httpAddr alone is empty
// while gossip has not yet told us the leader's address).
func (c *Cluster) Leader() (id, httpAddr string) {
	rt := c.rt.Load()
	if rt == nil || c.closed.Load() {
		return "", ""
	}
	_, lid := rt.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	return string(lid), c.httpAddrOf(string(lid))
}

// WaitForLeader blocks until this node knows a leader it can reach (itself,
// or a peer whose HTTP address it knows), ctx ends, or the cluster closes.
func (c *Cluster) WaitForLeader(ctx context.Context) error {
	for {
		ch := c.changes.wait()
		if c.closed.Load() {
			return ErrClosed
		}
		if rt := c.rt.Load(); rt != nil {
			if _, ok := c.currentLeader(rt); ok {
				return nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.shutdownCh:
			return ErrClosed
		}
	}
}

// Ready reports whether a leader is known and this node has applied the
// log up to (within readyLag of) the commit index it last learned. It is
// false before Start and after Close.
func (c *Cluster) Ready() bool {
	rt := c.rt.Load()
	if rt == nil || c.closed.Load() {
		return false
	}
	if _, id := rt.raft.LeaderWithID(); id == "" {
		return false
	}
	commit := rt.raft.CommitIndex()
	return commit > 0 && c.appliedIndex(rt)+readyLag >= commit
}
