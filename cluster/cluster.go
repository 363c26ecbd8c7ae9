// Package cluster makes a Herald node a member of a replicated cluster:
// hashicorp/raft (log and stable store in raft-boltdb, file snapshots, TCP
// transport) replicates the fsm; memberlist gossip discovers members and
// carries their addresses; the leader turns gossip into raft voters; Apply
// forwards writes from followers to the leader; Read is linearizable by
// read index. See DESIGN.md.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

const (
	// observerBuffer is the capacity of the raft observation channel; the
	// observer never blocks raft, and a dropped observation only delays a
	// waiter until the next one or its own timer.
	observerBuffer = 64
	// leaderNotifyBuffer is the capacity of raft's NotifyCh; raft blocks
	// on it, and monitorLeadership drains it at once.
	leaderNotifyBuffer = 16
)

// Cluster is one node's membership in the Herald cluster. Its methods are
// safe for concurrent use.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	sm      stateMachine
	adapter *fsmAdapter

	client *http.Client    // forwarding client; dials through cfg.Dial
	httpTr *http.Transport // client's pooled transport
	links  links           // the peer link to the leader (link.go)
	// noLink turns peer links off on this node (tests of the HTTP path
	// and of mixed versions): it neither serves nor uses them.
	noLink bool

	leaderNotify chan bool     // raft's NotifyCh; read by monitorLeadership
	memberCh     chan struct{} // capacity 1: gossip changed; read by gossipLoop
	reconcileCh  chan struct{} // capacity 1: gossip changed; read by the leader loop
	// changes is broadcast whenever the leader, this node's leadership
	// readiness or the gossip membership changes; waiters re-check.
	changes notifier

	shutdownCh chan struct{}   // closed when Close/Kill tears down; stops every goroutine
	ctx        context.Context // cancelled with shutdownCh; bounds in-flight forwarding
	cancel     context.CancelFunc
	wg         sync.WaitGroup // goroutines started by Start (each owned by Cluster)

	// lifeMu serialises Start, Close and Kill and guards started and
	// stopErr.
	lifeMu  sync.Mutex
	started bool
	stopErr error

	rt       atomic.Pointer[running]    // set once Start succeeds
	closed   atomic.Bool                // teardown began: Apply and Read return ErrClosed
	stopped  atomic.Bool                // Close or Kill was called
	leading  atomic.Pointer[leaderTerm] // non-nil while this node leads (see leader.go)
	hasState atomic.Bool                // raft has state; gossiped in nodeMeta
	leaving  atomic.Bool                // graceful leave in progress; gossiped in nodeMeta
	// joinTried is set after the first join attempt (or at Start when
	// there is nobody to join); bootstrapping waits for it.
	joinTried  atomic.Bool
	sawCluster atomic.Bool // logged "found an existing cluster" once

	mu      sync.Mutex             // guards members
	members map[string]*memberInfo // gossip view by node id, including failed and left nodes

	// applyQ is the group commit queue: applyLocal enqueues, the committer
	// (groupcommit.go) drains it into raft entries.
	applyQ chan *pending
	// fwdQ is the forwarding queue of a follower: forwardQueued enqueues,
	// the forwarder (batching.go) sends batches to the leader.
	fwdQ chan *fwdReq
	// reads coalesces read-index requests into rounds (batching.go).
	reads *readBatcher
	// coalesce counts forwarding batches and read-index rounds.
	coalesce coalesceStats
	// leaderCalls are forward batches and read rounds in flight to a
	// leader, cancelled when another leader is observed (batching.go).
	leaderCalls leaderCalls

	// stampMu guards lastStamp, and is held from stamping an entry's Now
	// until raft has queued it, so that log order matches Now order.
	stampMu   sync.Mutex
	lastStamp int64
}

// running holds what Start builds; it never changes afterwards.
type running struct {
	parts    *raftParts
	raft     *raft.Raft
	ml       *memberlist.Memberlist
	observer *raft.Observer
}

// New validates cfg and prepares a Cluster; nothing runs until Start.
func New(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{
		cfg:          cfg,
		log:          cfg.Log.With("component", "cluster"),
		sm:           cfg.FSM,
		leaderNotify: make(chan bool, leaderNotifyBuffer),
		memberCh:     make(chan struct{}, 1),
		reconcileCh:  make(chan struct{}, 1),
		shutdownCh:   make(chan struct{}),
		ctx:          ctx,
		cancel:       cancel,
		members:      map[string]*memberInfo{},
		applyQ:       make(chan *pending, applyQueueSize),
		fwdQ:         make(chan *fwdReq, fwdQueueSize),
		reads:        newReadBatcher(),
	}
	c.adapter = newFSMAdapter(c.sm)
	c.httpTr = &http.Transport{
		DialContext:         cfg.Dial,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	c.client = &http.Client{Transport: c.httpTr}
	return c, nil
}

// Start opens raft, starts gossip, bootstraps when configured to, and
// starts the background loops. Joining runs in the background, so nodes may
// start in any order. If Start fails, everything it opened is closed,
// including the raft listener and the gossip transport, and the Cluster
// behaves as closed.
func (c *Cluster) Start() error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.started || c.stopped.Load() {
		return errors.New("cluster: Start called twice or after Close")
	}
	c.started = true
	rt, err := c.start()
	if err != nil {
		c.stopped.Store(true)
		c.closed.Store(true)
		close(c.shutdownCh)
		c.cancel()
		c.cfg.RaftListener.Close()
		return err
	}
	c.rt.Store(rt)
	c.changes.broadcast()
	return nil
}

func (c *Cluster) start() (*running, error) {
	parts, err := c.openRaft()
	if err != nil {
		if c.cfg.GossipTransport != nil {
			c.cfg.GossipTransport.Shutdown()
		}
		return nil, err
	}
	c.hasState.Store(parts.hadState)
	rt := &running{parts: parts, raft: parts.raft}
	if rt.ml, err = c.startGossip(); err != nil {
		if c.cfg.GossipTransport != nil {
			c.cfg.GossipTransport.Shutdown()
		}
		parts.shutdown()
		return nil, err
	}

	obsCh := make(chan raft.Observation, observerBuffer)
	rt.observer = raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	rt.raft.RegisterObserver(rt.observer)

	join := c.joinTargets(rt.ml)
	flights := make(chan flight, maxInFlight)
	slots := make(chan struct{}, maxInFlight)
	c.wg.Add(8)
	go c.committer(rt, flights, slots)
	go c.logBudgetLoop(rt)
	go c.forwarder()
	go c.readLoop()
	go c.resolver(flights, slots)
	go c.observeLoop(obsCh)
	go c.monitorLeadership(rt)
	go c.gossipLoop(rt)
	if len(join) > 0 {
		c.wg.Add(1)
		go c.joinLoop(rt, join)
	} else {
		c.joinTried.Store(true)
		kick(c.memberCh)
	}

	expect := c.cfg.BootstrapExpect
	if c.cfg.Secret == "" && (expect > 1 || len(join) > 0) {
		c.log.Warn("no cluster secret: the internal forwarding endpoints accept unauthenticated requests")
	}
	if expect == 1 && len(join) > 0 && !parts.hadState {
		c.log.Warn("bootstrap-expect 1 with join addresses: if no member answers the first join, this node forms a cluster of its own")
	}
	c.log.Info("cluster started", "node", c.cfg.NodeID, "raft_addr", c.cfg.RaftAddr,
		"gossip_addr", rt.ml.LocalNode().Address(), "http_addr", c.cfg.HTTPAddr,
		"existing_state", parts.hadState, "bootstrap_expect", expect)
	return rt, nil
}

// observeLoop turns raft leader observations into change broadcasts.
// Owner: Cluster; stops on shutdownCh.
func (c *Cluster) observeLoop(ch <-chan raft.Observation) {
	defer c.wg.Done()
	for {
		select {
		case <-c.shutdownCh:
			return
		case o := <-ch:
			if lo, ok := o.Data.(raft.LeaderObservation); ok {
				c.log.Info("leader changed", "leader", string(lo.LeaderID), "leader_addr", string(lo.LeaderAddr))
				c.leaderObserved(string(lo.LeaderID))
			}
			c.changes.broadcast()
			kick(c.memberCh) // gossipLoop notices new raft state
		}
	}
}

// Close stops gracefully and is idempotent: if this node leads and has
// peers it transfers leadership first (bounded by raft to about two
// election timeouts), then gossips its leave, then stops raft and closes
// the store and the listener. A graceful leave does not remove the node
// from the raft configuration: a restarted node rejoins as the same voter.
func (c *Cluster) Close() error { return c.stop(true) }

// Kill stops abruptly, as a crash would: no leadership transfer, no gossip
// leave; connections are cut and the stores closed. Idempotent with Close.
func (c *Cluster) Kill() error { return c.stop(false) }

func (c *Cluster) stop(graceful bool) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.stopped.Swap(true) {
		return c.stopErr
	}
	rt := c.rt.Load()
	if rt == nil { // never started (or Start failed and cleaned up)
		if !c.closed.Swap(true) {
			close(c.shutdownCh)
			c.cancel()
			c.cfg.RaftListener.Close()
		}
		return nil
	}
	if graceful {
		c.transferLeadership(rt)
		c.leaving.Store(true)
		if err := rt.ml.UpdateNode(metaUpdateTimeout); err != nil {
			c.log.Debug("cannot gossip leaving flag", "err", err)
		}
		if err := rt.ml.Leave(gossipLeaveTimeout); err != nil {
			c.log.Warn("gossip leave failed", "err", err)
		}
	}
	c.closed.Store(true)
	close(c.shutdownCh)
	c.cancel()
	c.changes.broadcast()

	var errs []error
	if err := rt.ml.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("gossip shutdown: %w", err))
	}
	rt.raft.DeregisterObserver(rt.observer)
	if err := rt.parts.shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
	}
	c.closeLinks()
	c.wg.Wait()
	c.httpTr.CloseIdleConnections()
	c.stopErr = errors.Join(errs...)
	if graceful {
		c.log.Info("cluster stopped")
	} else {
		c.log.Info("cluster killed")
	}
	return c.stopErr
}

// transferLeadership hands leadership to another voter when this node
// leads and has one, so that a graceful stop costs no election timeout.
func (c *Cluster) transferLeadership(rt *running) {
	if rt.raft.State() != raft.Leader || c.otherVoters(rt) == 0 {
		return
	}
	start := time.Now()
	if err := rt.raft.LeadershipTransfer().Error(); err != nil {
		c.log.Warn("leadership transfer failed", "err", err)
		return
	}
	c.log.Info("leadership transferred", "took", time.Since(start))
}

// otherVoters counts the voters other than this node.
func (c *Cluster) otherVoters(rt *running) int {
	f := rt.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	n := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && s.ID != raft.ServerID(c.cfg.NodeID) {
			n++
		}
	}
	return n
}

// LeadershipTransfer asks raft to hand leadership to another voter. It
// fails when this node is not the leader.
func (c *Cluster) LeadershipTransfer() error {
	rt, err := c.runtime()
	if err != nil {
		return err
	}
	return rt.raft.LeadershipTransfer().Error()
}

// runtime returns what Start built, or ErrClosed / a "starting"
// ErrNoLeader.
func (c *Cluster) runtime() (*running, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	rt := c.rt.Load()
	if rt == nil {
		return nil, noLeader(errors.New("cluster not started yet"))
	}
	return rt, nil
}
