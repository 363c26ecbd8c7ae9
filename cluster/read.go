package cluster

import (
	"context"
	"errors"

	"github.com/hashicorp/raft"

	"github.com/herald-mq/herald/fsm"
)

// Read runs fn against the local state machine. Unless stale, it first
// passes a read-index barrier, so fn observes every write acknowledged
// before Read was called: the leader confirms its leadership with a quorum
// and names its commit point (asked over PathReadIndex when this node is a
// follower), and this node waits until it has applied that point. Without
// a reachable leader it fails with ErrNoLeader after Config.LeaderWait, so
// a node cut off from the majority never serves stale data as fresh.
// stale=true reads local state at once.
func (c *Cluster) Read(ctx context.Context, stale bool, fn func(*fsm.State)) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if stale {
		c.sm.Read(fn)
		return nil
	}
	if _, err := c.runtime(); err != nil {
		return err
	}
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	var idx uint64
	err := c.withLeader(ctx, func(l leaderRef) (attempt, error) {
		var err error
		idx, err = c.readIndex(ctx, l)
		if l.self {
			return classifyLocal(err), err
		}
		return classifyRemote(err), err
	})
	if err != nil {
		return err
	}
	if err := c.adapter.waitApplied(ctx, c.shutdownCh, idx); err != nil {
		if errors.Is(err, ErrClosed) {
			return err
		}
		return c.ctxErr(ctx, errors.New("not caught up with the leader's read index"))
	}
	c.sm.Read(fn)
	return nil
}

// leaderReadIndex returns a read index on the leader (Raft thesis §6.4):
// with the term's barrier applied, note the commit index, then confirm
// leadership with a quorum (VerifyLeader). The index returned is the last
// command entry at or before that commit index, because only command
// entries reach the state machine (raft's no-op, barrier and configuration
// entries do not move its applied index).
func (c *Cluster) leaderReadIndex(ctx context.Context, rt *running) (uint64, error) {
	if err := c.waitLeaderReady(ctx, rt); err != nil {
		return 0, err
	}
	applied := c.adapter.applied.Load()
	commit := rt.raft.CommitIndex()
	if err := rt.raft.VerifyLeader().Error(); err != nil {
		if errors.Is(err, raft.ErrRaftShutdown) {
			return 0, ErrClosed
		}
		return 0, err
	}
	return c.lastCommandAtOrBefore(rt, commit, applied), nil
}

// lastCommandAtOrBefore scans the log down from commit to the first
// command entry. floor is a command index the state machine had applied
// before commit was read, so the scan stops there. An entry missing from
// the log was compacted into a snapshot, which the state machine has
// already absorbed; its current applied index then covers every command
// up to that entry.
func (c *Cluster) lastCommandAtOrBefore(rt *running, commit, floor uint64) uint64 {
	var l raft.Log
	for i := commit; i > floor; i-- {
		if err := rt.parts.logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return max(floor, c.adapter.applied.Load())
			}
			return commit // cannot tell: the safe, possibly slower, answer
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return floor
}
