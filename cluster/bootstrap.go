package cluster

import (
	"errors"
	"sort"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// maybeBootstrap forms a new cluster when this node has no raft state,
// BootstrapExpect > 0, no gossip member reports raft state, and at least
// BootstrapExpect fresh servers are alive in gossip. The voters are exactly
// those servers, sorted by id, so every node that bootstraps at the same
// moment writes the same configuration. Runs on gossipLoop only.
func (c *Cluster) maybeBootstrap(rt *running) {
	expect := c.cfg.BootstrapExpect
	if expect == 0 || c.hasState.Load() {
		return
	}
	// With Join set, hear from the named members first: they may already
	// form a cluster (this matters most for BootstrapExpect 1).
	if !c.joinTried.Load() {
		return
	}
	var fresh []nodeMeta
	for id, m := range c.memberSnapshot() {
		if m.state != memberlist.StateAlive || !m.valid {
			continue
		}
		if m.meta.HasState {
			// An existing cluster: its leader adds us when it sees us.
			if !c.sawCluster.Swap(true) {
				c.log.Info("found a member of an existing cluster; waiting to be added", "member", id)
			}
			return
		}
		fresh = append(fresh, m.meta)
	}
	if len(fresh) < expect {
		return
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].ID < fresh[j].ID })
	var conf raft.Configuration
	ids := make([]string, 0, len(fresh))
	for _, m := range fresh {
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       raft.ServerID(m.ID),
			Address:  raft.ServerAddress(m.RaftAddr),
		})
		ids = append(ids, m.ID)
	}
	err := rt.raft.BootstrapCluster(conf).Error()
	switch {
	case errors.Is(err, raft.ErrCantBootstrap):
		c.log.Info("not bootstrapping: raft already has state")
	case err != nil:
		c.log.Error("bootstrap failed; will retry", "err", err)
		return
	default:
		c.log.Info("bootstrapped a new cluster", "voters", ids)
	}
	c.setHasState(rt)
}
