package cluster

import (
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

const (
	// barrierRetryMin and barrierRetryMax bound the retry delay when the
	// establishing barrier fails while we are still leader.
	barrierRetryMin = 50 * time.Millisecond
	barrierRetryMax = time.Second
	// membershipTimeout is the enqueue timeout of AddVoter/RemoveServer.
	membershipTimeout = 10 * time.Second
)

// leaderTerm is the leader-only state of one leadership term. It is built
// from scratch every time this node becomes leader and dropped when it
// stops leading.
type leaderTerm struct {
	ready chan struct{} // closed once the term's barrier has applied every earlier entry
	lost  chan struct{} // closed when the term ends

	// missingSince records when the leader first saw a raft server that
	// gossip does not know at all. Only the leader loop touches it.
	missingSince map[string]time.Time
}

func newLeaderTerm() *leaderTerm {
	return &leaderTerm{
		ready:        make(chan struct{}),
		lost:         make(chan struct{}),
		missingSince: map[string]time.Time{},
	}
}

// isReady reports whether the term's barrier is done and the term is live.
func (lt *leaderTerm) isReady() bool {
	if lt == nil || closed(lt.lost) {
		return false
	}
	return closed(lt.ready)
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// monitorLeadership follows raft's leadership notifications and runs the
// leader loop for exactly as long as this node leads: establishing and
// revoking leadership happen here as a pair. Owner: Cluster; stops on
// shutdownCh. It owns the leader loop goroutine and waits for it.
func (c *Cluster) monitorLeadership(rt *running) {
	defer c.wg.Done()
	var (
		lt       *leaderTerm
		loopDone chan struct{}
	)
	revoke := func() {
		if lt == nil {
			return
		}
		close(lt.lost)
		c.leading.Store(nil)
		c.changes.broadcast()
		<-loopDone
		c.log.Info("leadership lost")
		lt = nil
	}
	defer revoke()
	for {
		select {
		case <-c.shutdownCh:
			return
		case isLeader := <-c.leaderNotify:
			switch {
			case isLeader && lt == nil:
				lt = newLeaderTerm()
				loopDone = make(chan struct{})
				c.leading.Store(lt)
				c.changes.broadcast()
				go func(lt *leaderTerm, done chan struct{}) { // owner: monitorLeadership (revoke waits)
					defer close(done)
					c.leaderLoop(rt, lt)
				}(lt, loopDone)
			case !isLeader:
				revoke()
			}
		}
	}
}

// leaderLoop establishes leadership (a barrier, so that every entry of
// earlier terms is applied and reads and stamps see it), then reconciles
// gossip into raft on every member event and every ReconcileInterval, until
// the term ends.
func (c *Cluster) leaderLoop(rt *running, lt *leaderTerm) {
	backoff := barrierRetryMin
	for {
		err := rt.raft.Barrier(c.cfg.ApplyTimeout).Error()
		if err == nil {
			break
		}
		c.log.Warn("leader barrier failed", "err", err)
		if !c.waitOrStop(lt, backoff) {
			return
		}
		backoff = min(2*backoff, barrierRetryMax)
	}
	close(lt.ready)
	c.changes.broadcast()
	c.log.Info("leadership established", "term", rt.raft.CurrentTerm(), "commit_index", rt.raft.CommitIndex())

	t := time.NewTicker(c.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		c.reconcile(rt, lt)
		select {
		case <-lt.lost:
			return
		case <-c.shutdownCh:
			return
		case <-c.reconcileCh:
		case <-t.C:
		}
	}
}

// waitOrStop waits d; it returns false if the term or the cluster ended
// first.
func (c *Cluster) waitOrStop(lt *leaderTerm, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-lt.lost:
		return false
	case <-c.shutdownCh:
		return false
	case <-t.C:
		return true
	}
}

// reconcile makes raft's voters follow gossip: alive servers missing from
// the configuration (or at a new address) are added; servers that gossip
// has seen fail or leave more than DeadServerTimeout ago (or has never
// seen for that long) are removed, one at a time, never this node and never
// when the remaining voters would be fewer than a quorum of the current
// configuration.
func (c *Cluster) reconcile(rt *running, lt *leaderTerm) {
	cf := rt.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		c.log.Warn("reconcile: cannot read raft configuration", "err", err)
		return
	}
	conf := cf.Configuration()
	byID := map[raft.ServerID]raft.Server{}
	byAddr := map[raft.ServerAddress]raft.Server{}
	for _, s := range conf.Servers {
		byID[s.ID] = s
		byAddr[s.Address] = s
	}
	members := c.memberSnapshot()
	self := raft.ServerID(c.cfg.NodeID)

	// Add alive servers.
	for id, m := range members {
		sid := raft.ServerID(id)
		if sid == self || !m.valid || m.state != memberlist.StateAlive {
			continue
		}
		addr := raft.ServerAddress(m.meta.RaftAddr)
		if s, ok := byID[sid]; ok && s.Address == addr && s.Suffrage == raft.Voter {
			continue
		}
		// A different server id at the same address is a node that was
		// wiped and restarted under a new id: drop the stale entry first.
		if old, ok := byAddr[addr]; ok && old.ID != sid && old.ID != self {
			if !c.removeServer(rt, conf, old.ID, "address reused by "+id) {
				continue
			}
		}
		c.log.Info("adding raft voter", "id", id, "raft_addr", addr)
		if err := rt.raft.AddVoter(sid, addr, 0, membershipTimeout).Error(); err != nil {
			c.log.Warn("cannot add raft voter", "id", id, "err", err)
		}
	}

	// Remove servers gone for longer than DeadServerTimeout.
	now := time.Now()
	for _, s := range conf.Servers {
		if s.ID == self {
			continue
		}
		var since time.Time
		m, known := members[string(s.ID)]
		switch {
		case known && !m.gone():
			delete(lt.missingSince, string(s.ID))
			continue
		case known:
			since = m.since
		default:
			if _, ok := lt.missingSince[string(s.ID)]; !ok {
				lt.missingSince[string(s.ID)] = now
			}
			since = lt.missingSince[string(s.ID)]
		}
		if now.Sub(since) < c.cfg.DeadServerTimeout {
			continue
		}
		if c.removeServer(rt, conf, s.ID, "gone from gossip since "+since.Format(time.RFC3339)) {
			return // the configuration changed; the next round re-reads it
		}
	}
}

// removeServer removes id from raft if that keeps enough voters: after the
// removal at least a quorum of the current configuration must remain.
func (c *Cluster) removeServer(rt *running, conf raft.Configuration, id raft.ServerID, why string) bool {
	if !removalKeepsQuorum(conf, id) {
		c.log.Warn("not removing raft voter: fewer than a quorum would remain", "id", id, "reason", why)
		return false
	}
	c.log.Info("removing raft server", "id", id, "reason", why)
	if err := rt.raft.RemoveServer(id, 0, membershipTimeout).Error(); err != nil {
		c.log.Warn("cannot remove raft server", "id", id, "err", err)
		return false
	}
	return true
}

// removalKeepsQuorum reports whether removing id from conf leaves at least
// a quorum of conf's voters (always true for a non-voter).
func removalKeepsQuorum(conf raft.Configuration, id raft.ServerID) bool {
	voters, isVoter := 0, false
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			voters++
			if s.ID == id {
				isVoter = true
			}
		}
	}
	return !isVoter || voters-1 >= voters/2+1
}
