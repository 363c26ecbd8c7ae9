package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/herald-mq/herald/fsm"
)

const (
	// retryBackoffMin and retryBackoffMax bound the wait between attempts
	// while the leader is changing; a leader change wakes the wait early.
	retryBackoffMin = 10 * time.Millisecond
	retryBackoffMax = 250 * time.Millisecond
)

// Apply commits cmd and returns the state machine's result and res.Err().
// On the leader it stamps Now and proposes the command to raft; on a
// follower it forwards the encoded command (without Now) to the leader.
// Without a reachable leader it waits up to Config.LeaderWait and then
// fails with ErrNoLeader; after a leader change it retries until
// Config.ApplyTimeout. Retries re-send the same RequestID, so the FSM's
// dedupe window applies the command at most once; a command without a
// RequestID is given a random one for that reason. cmd is not modified.
func (c *Cluster) Apply(ctx context.Context, cmd *fsm.Command) (*fsm.Result, error) {
	rt, err := c.runtime()
	if err != nil {
		return nil, err
	}
	cmd2 := *cmd
	cmd2.Now = 0
	if cmd2.RequestID == "" {
		cmd2.RequestID = newRequestID()
	}
	// Encoded once, here in the caller's goroutine: the leader's committer
	// copies these bytes into the entry, a follower forwards them as is.
	enc, err := cmd2.Encode()
	if err != nil {
		return nil, err
	}

	ctx, cancel := c.opContext(ctx)
	defer cancel()
	var res *fsm.Result
	err = c.withLeader(ctx, func(l leaderRef) (attempt, error) {
		var err error
		if l.self {
			res, err = c.applyLocal(ctx, rt, enc, cmd2.Type)
			return classifyLocal(err), err
		}
		res, err = c.forwardQueued(ctx, l, enc)
		return classifyRemote(err), err
	})
	if err != nil {
		return nil, err
	}
	return res, res.Err()
}

// applyLocal queues the encoded command enc of type typ for the group
// committer on this node, which must be the leader with its term
// established, and waits for its result. The
// returned error is raft's (or ErrClosed, or the context's), never the
// command's own result error. A command whose caller's ctx ends while it
// is still queued is never proposed; once proposed, the caller just stops
// waiting (the outcome is unknown, and a retry with the same RequestID is
// deduplicated).
func (c *Cluster) applyLocal(ctx context.Context, rt *running, enc []byte, typ fsm.CmdType) (*fsm.Result, error) {
	if err := c.waitLeaderReady(ctx, rt); err != nil {
		return nil, err
	}
	p, err := c.enqueue(ctx, enc, typ)
	if err != nil {
		return nil, err
	}
	return c.await(ctx, p)
}

// enqueue puts the encoded command enc of type typ into the group commit
// queue. enc must stay unmodified until the command's outcome is known.
func (c *Cluster) enqueue(ctx context.Context, enc []byte, typ fsm.CmdType) (*pending, error) {
	p := &pending{enc: enc, typ: typ, done: make(chan outcome, 1)}
	select {
	case c.applyQ <- p:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.shutdownCh:
		return nil, ErrClosed
	}
}

// await waits for a queued command's outcome (see applyLocal).
func (c *Cluster) await(ctx context.Context, p *pending) (*fsm.Result, error) {
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		p.state.CompareAndSwap(pendingQueued, pendingAbandoned)
		select {
		case o := <-p.done: // delivered meanwhile
			return o.res, o.err
		default:
		}
		return nil, ctx.Err()
	case <-c.shutdownCh:
		return nil, ErrClosed
	}
}

// waitLeaderReady waits until this node leads with its term's barrier
// applied. It returns raft.ErrNotLeader as soon as this node does not lead.
func (c *Cluster) waitLeaderReady(ctx context.Context, rt *running) error {
	for {
		ch := c.changes.wait()
		if rt.raft.State() != raft.Leader {
			return raft.ErrNotLeader
		}
		if c.leading.Load().isReady() {
			return nil
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

// leaderRef names the leader an attempt goes to.
type leaderRef struct {
	id       string
	httpAddr string
	raftAddr string // where its peer link is served
	link     bool   // it gossips that it serves peer links
	self     bool
}

// currentLeader returns the leader raft knows, if we can reach it: this
// node, or a peer whose HTTP address gossip told us.
func (c *Cluster) currentLeader(rt *running) (leaderRef, bool) {
	_, id := rt.raft.LeaderWithID()
	if id == "" {
		return leaderRef{}, false
	}
	if string(id) == c.cfg.NodeID {
		return leaderRef{id: string(id), self: true}, true
	}
	m, ok := c.member(string(id))
	if !ok || !m.valid {
		return leaderRef{}, false
	}
	return leaderRef{id: string(id), httpAddr: m.meta.HTTPAddr, raftAddr: m.meta.RaftAddr, link: m.meta.Link}, true
}

// attempt classifies the outcome of one try at the leader.
type attempt int

const (
	attemptFinal     attempt = iota // success or an error to return as is
	attemptNoLeader                 // no usable leader was reached; retry within LeaderWait
	attemptLeaderWas                // a leader took the request but lost leadership or timed out; retry
)

// classifyLocal classifies an error of applyLocal or leaderReadIndex.
func classifyLocal(err error) attempt {
	switch {
	case err == nil, errors.Is(err, ErrClosed):
		return attemptFinal
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return attemptNoLeader
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrEnqueueTimeout),
		errors.Is(err, raft.ErrAbortedByRestore):
		return attemptLeaderWas
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return attemptNoLeader // withLeader sees ctx end and decides
	}
	return attemptFinal
}

// withLeader runs try against the current leader until it succeeds, fails
// for good, or runs out of time. A period without a usable leader is
// bounded by LeaderWait (ErrNoLeader); the whole call by ctx, which
// opContext bounds by ApplyTimeout. Between attempts it waits for a
// change of leader or membership, with a short backoff as a fallback.
func (c *Cluster) withLeader(ctx context.Context, try func(leaderRef) (attempt, error)) error {
	rt, err := c.runtime()
	if err != nil {
		return err
	}
	var lastErr error
	holdStart := time.Now() // start of the current period without a usable leader
	backoff := retryBackoffMin
	for {
		ch := c.changes.wait()
		if c.closed.Load() {
			return ErrClosed
		}
		l, ok := c.currentLeader(rt)
		if ok {
			kind, err := try(l)
			if kind == attemptFinal {
				return err
			}
			lastErr = err
			if kind == attemptLeaderWas {
				holdStart = time.Now()
			}
		}
		// Wait for a change, a backoff step, or the end of the hold.
		hold := c.cfg.LeaderWait - time.Since(holdStart)
		if hold <= 0 {
			return noLeader(orNone(lastErr))
		}
		wait := hold
		if ok {
			wait = min(wait, backoff)
			backoff = min(2*backoff, retryBackoffMax)
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
		case <-t.C:
		case <-c.shutdownCh:
			t.Stop()
			return ErrClosed
		case <-ctx.Done():
			t.Stop()
			return c.ctxErr(ctx, lastErr)
		}
		t.Stop()
	}
}

func orNone(err error) error {
	if err == nil {
		return errors.New("none elected or reachable")
	}
	return err
}

// ctxErr maps the end of an operation's context: the caller's own
// cancellation comes back as is; our ApplyTimeout or shutdown as
// ErrNoLeader or ErrClosed.
func (c *Cluster) ctxErr(ctx context.Context, lastErr error) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, errApplyTimeout) {
		return cause
	}
	return noLeader(fmt.Errorf("gave up after ApplyTimeout: %w", orNone(lastErr)))
}

// errApplyTimeout is the cause of an operation context that reached
// Config.ApplyTimeout.
var errApplyTimeout = errors.New("apply timeout")

// opContext bounds an operation by ApplyTimeout and by the cluster's
// lifetime.
func (c *Cluster) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.ApplyTimeout, errApplyTimeout)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// newRequestID returns a random RequestID for commands that have none.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "cl-" + hex.EncodeToString(b[:])
}
