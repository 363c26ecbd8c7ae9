package cluster

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"
)

const (
	// metaVersion is the version of the gossiped node metadata.
	metaVersion = 1
	// gossipLeaveTimeout bounds broadcasting our leave on Close.
	gossipLeaveTimeout = 2 * time.Second
	// metaUpdateTimeout bounds broadcasting a metadata change.
	metaUpdateTimeout = 2 * time.Second
	// joinBackoffMin and joinBackoffMax bound the retry delay of joinLoop.
	joinBackoffMin = 100 * time.Millisecond
	joinBackoffMax = 5 * time.Second
	// deadNodeReclaimTime: see startGossip.
	deadNodeReclaimTime = 30 * time.Second
	// gossipTick is how often gossipLoop re-checks bootstrap and metadata
	// without an event.
	gossipTick = time.Second
)

// nodeMeta is what each node gossips about itself (memberlist limits it to
// 512 bytes; this is well under 200).
type nodeMeta struct {
	Version  int    `msgpack:"v"`
	ID       string `msgpack:"i"`
	RaftAddr string `msgpack:"r"`
	HTTPAddr string `msgpack:"h"`
	Expect   int    `msgpack:"e,omitempty"` // BootstrapExpect, for diagnostics
	// HasState is true once the node has raft state (it bootstrapped or
	// received log entries): a fresh node that sees one never bootstraps.
	HasState bool `msgpack:"s,omitempty"`
	// Leaving is set just before a graceful leave, so that peers record
	// the following leave event as "left" rather than "dead" (memberlist
	// v0.6 does not tell its event delegate which one it was).
	Leaving bool `msgpack:"l,omitempty"`
	// Link is set by nodes that serve peer links on their raft address
	// (link.go); a follower forwards to a leader without it over HTTP.
	Link bool `msgpack:"k,omitempty"`
}

// memberInfo is the last known gossip view of one node.
type memberInfo struct {
	meta       nodeMeta
	valid      bool // meta decoded and names a raft and an HTTP address
	gossipAddr string
	state      memberlist.NodeStateType // from the last event
	since      time.Time                // when state last changed
}

// gone reports whether the member left or failed according to gossip.
func (m *memberInfo) gone() bool {
	return m.state == memberlist.StateDead || m.state == memberlist.StateLeft
}

// gossipStateName maps memberlist states to Status strings.
func gossipStateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return "unknown"
}

// startGossip creates the memberlist. Join happens later, in joinLoop.
func (c *Cluster) startGossip() (*memberlist.Memberlist, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.cfg.NodeID
	mc.Delegate = gossipDelegate{c}
	mc.Events = gossipDelegate{c}
	mc.Logger = newStdLogger(c.cfg.Log, "memberlist", &c.closed)
	// A node restarted on a new address may reclaim its name once its old
	// incarnation has been dead this long (memberlist's default never).
	mc.DeadNodeReclaimTime = deadNodeReclaimTime
	if c.cfg.GossipTransport != nil {
		mc.Transport = c.cfg.GossipTransport
	} else {
		host, port, _ := splitHostPort(c.cfg.GossipBind) // checked by Validate
		mc.BindAddr, mc.BindPort = host, port
	}
	if c.cfg.GossipAdvertise != "" {
		host, port, _ := splitHostPort(c.cfg.GossipAdvertise)
		mc.AdvertiseAddr, mc.AdvertisePort = host, port
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	return ml, nil
}

// localMeta is this node's current metadata.
func (c *Cluster) localMeta() nodeMeta {
	return nodeMeta{
		Version:  metaVersion,
		ID:       c.cfg.NodeID,
		RaftAddr: c.cfg.RaftAddr,
		HTTPAddr: c.cfg.HTTPAddr,
		Expect:   c.cfg.BootstrapExpect,
		HasState: c.hasState.Load(),
		Leaving:  c.leaving.Load(),
		Link:     !c.noLink,
	}
}

// noteMember records a gossip event and wakes everyone who cares. gone is
// true for a leave event (failed or left).
func (c *Cluster) noteMember(n *memberlist.Node, gone bool) {
	m := &memberInfo{
		gossipAddr: n.Address(),
		state:      memberlist.StateAlive,
		since:      time.Now(),
	}
	if err := msgpack.Unmarshal(n.Meta, &m.meta); err != nil {
		m.meta = nodeMeta{} // not a Herald node, or an incompatible one
	} else {
		m.valid = m.meta.ID == n.Name && m.meta.RaftAddr != "" && m.meta.HTTPAddr != ""
	}
	c.mu.Lock()
	if old, ok := c.members[n.Name]; ok {
		if !m.valid && old.valid { // a leave event may carry no metadata
			m.meta, m.valid = old.meta, true
		}
	}
	if gone {
		m.state = memberlist.StateDead
		if m.meta.Leaving {
			m.state = memberlist.StateLeft
		}
	}
	if old, ok := c.members[n.Name]; ok && old.state == m.state {
		m.since = old.since
	}
	c.members[n.Name] = m
	c.mu.Unlock()

	c.changes.broadcast()
	kick(c.memberCh)
	kick(c.reconcileCh)
}

// member returns a copy of the gossip view of id.
func (c *Cluster) member(id string) (memberInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.members[id]
	if !ok {
		return memberInfo{}, false
	}
	return *m, true
}

// memberSnapshot returns a copy of the whole gossip view.
func (c *Cluster) memberSnapshot() map[string]memberInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]memberInfo, len(c.members))
	for id, m := range c.members {
		out[id] = *m
	}
	return out
}

// httpAddrOf returns the gossiped HTTP address of node id ("" if unknown).
func (c *Cluster) httpAddrOf(id string) string {
	if id == c.cfg.NodeID {
		return c.cfg.HTTPAddr
	}
	if m, ok := c.member(id); ok && m.valid {
		return m.meta.HTTPAddr
	}
	return ""
}

// kick does a non-blocking send on a capacity-1 channel: several events
// before the reader wakes collapse into one.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// gossipLoop keeps this node's metadata current and bootstraps raft when
// enough fresh servers are seen. Owner: Cluster; stops on shutdownCh.
func (c *Cluster) gossipLoop(rt *running) {
	defer c.wg.Done()
	t := time.NewTicker(gossipTick)
	defer t.Stop()
	for {
		c.refreshHasState(rt)
		c.maybeBootstrap(rt)
		select {
		case <-c.shutdownCh:
			return
		case <-c.memberCh:
		case <-t.C:
		}
	}
}

// refreshHasState notices that raft gained state (a leader replicated to
// us) and gossips it, so that fresh nodes do not bootstrap a second
// cluster beside ours.
func (c *Cluster) refreshHasState(rt *running) {
	if c.hasState.Load() || rt.raft.LastIndex() == 0 {
		return
	}
	c.setHasState(rt)
}

// setHasState marks this node as having raft state and gossips it.
func (c *Cluster) setHasState(rt *running) {
	if c.hasState.Swap(true) {
		return
	}
	if err := rt.ml.UpdateNode(metaUpdateTimeout); err != nil {
		c.log.Warn("cannot gossip metadata update", "err", err)
	}
}

// joinLoop joins the configured members, retrying with backoff until one
// answers, so that nodes can start in any order. Owner: Cluster; stops on
// success or shutdownCh.
func (c *Cluster) joinLoop(rt *running, addrs []string) {
	defer c.wg.Done()
	backoff := joinBackoffMin
	for attempt := 1; ; attempt++ {
		n, err := rt.ml.Join(addrs)
		if !c.joinTried.Swap(true) {
			kick(c.memberCh) // let gossipLoop reconsider bootstrapping
		}
		if n > 0 {
			c.log.Info("joined gossip", "contacted", n, "attempts", attempt)
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			c.log.Warn("cannot join gossip yet; retrying", "join", addrs, "attempts", attempt, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-c.shutdownCh:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, joinBackoffMax)
	}
}

// joinTargets drops this node's own gossip address from Join, so that one
// flag value can name every member without "joining" ourselves.
func (c *Cluster) joinTargets(ml *memberlist.Memberlist) []string {
	self := ml.LocalNode()
	own := map[string]bool{
		self.Address(): true,
		"localhost:" + strconv.Itoa(int(self.Port)): true,
	}
	if c.cfg.GossipAdvertise != "" {
		own[c.cfg.GossipAdvertise] = true
	}
	var out []string
	for _, a := range c.cfg.Join {
		if !own[a] {
			out = append(out, a)
		}
	}
	return out
}

// gossipDelegate connects memberlist to the cluster. Its methods run on
// memberlist goroutines and must not block.
type gossipDelegate struct{ c *Cluster }

var (
	_ memberlist.Delegate      = gossipDelegate{}
	_ memberlist.EventDelegate = gossipDelegate{}
)

// NodeMeta returns this node's encoded metadata.
func (d gossipDelegate) NodeMeta(limit int) []byte {
	b, err := msgpack.Marshal(d.c.localMeta())
	if err != nil || len(b) > limit {
		d.c.log.Error("node metadata does not fit", "len", len(b), "limit", limit, "err", err)
		return nil
	}
	return b
}

// NotifyMsg ignores user messages (none are sent).
func (d gossipDelegate) NotifyMsg([]byte) {}

// GetBroadcasts has nothing to broadcast.
func (d gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState has no extra state for push/pull.
func (d gossipDelegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState ignores remote extra state.
func (d gossipDelegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyJoin records a member that became alive.
func (d gossipDelegate) NotifyJoin(n *memberlist.Node) { d.c.noteMember(n, false) }

// NotifyLeave records a member that left or failed.
func (d gossipDelegate) NotifyLeave(n *memberlist.Node) { d.c.noteMember(n, true) }

// NotifyUpdate records a member's new metadata.
func (d gossipDelegate) NotifyUpdate(n *memberlist.Node) { d.c.noteMember(n, false) }
