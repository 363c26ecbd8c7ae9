package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"sync/atomic"

	"github.com/herald-mq/herald/fsm"
)

// Coalescing on the way to the leader (DESIGN.md, "Forward batching and
// read-index rounds"): a follower sends the commands its clients write
// concurrently in one PathApplyBatch call, and concurrent linearizable
// reads share one read-index round. Neither waits on a timer: a batch or
// round starts as soon as a slot is free, and everything that queued
// while the previous ones were in flight goes with it.
const (
	// maxFwdInFlight is how many batch calls a node keeps in flight to
	// the leader at once.
	maxFwdInFlight = 4
	// maxFwdCommands and maxFwdBytes bound one batch call.
	maxFwdCommands = 256
	maxFwdBytes    = 4 << 20
	// fwdQueueSize is the capacity of the forwarding queue.
	fwdQueueSize = 4 * maxFwdCommands
)

// coalesceStats counts what batching saved, for Status and tests.
type coalesceStats struct {
	fwdCalls    atomic.Uint64 // batch calls made (peer link or PathApplyBatch)
	fwdCommands atomic.Uint64 // commands sent in them
	linkCalls   atomic.Uint64 // batch and read-index calls over the peer link
	readRounds  atomic.Uint64 // read-index rounds run
	readWaiters atomic.Uint64 // readers that joined a round
}

// errNoBatchEndpoint: the leader does not serve PathApplyBatch (an older
// version during a rolling upgrade); the caller forwards on its own.
var errNoBatchEndpoint = errors.New("cluster: leader has no batch endpoint")

// fwdReq is one forwarded command waiting for a batch call.
type fwdReq struct {
	target leaderRef // the leader it goes to
	body   []byte    // the encoded command
	state  atomic.Int32
	done   chan outcome // capacity 1: the sender never blocks
}

// take claims a queued request for a batch; false if its caller left.
func (r *fwdReq) take() bool { return r.state.CompareAndSwap(pendingQueued, pendingTaken) }

// forwardQueued hands an encoded command to the forwarder and waits for
// its result. A request whose ctx ends while queued is never sent; once
// sent, the caller stops waiting and the outcome is unknown (a retry with
// the same RequestID is deduplicated).
func (c *Cluster) forwardQueued(ctx context.Context, target leaderRef, body []byte) (*fsm.Result, error) {
	r := &fwdReq{target: target, body: body, done: make(chan outcome, 1)}
	select {
	case c.fwdQ <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.shutdownCh:
		return nil, ErrClosed
	}
	select {
	case o := <-r.done:
		if errors.Is(o.err, errNoBatchEndpoint) {
			return c.forwardApply(ctx, target.httpAddr, body)
		}
		return o.res, o.err
	case <-ctx.Done():
		r.state.CompareAndSwap(pendingQueued, pendingAbandoned)
		return nil, ctx.Err()
	case <-c.shutdownCh:
		return nil, ErrClosed
	}
}

// forwarder forms batch calls from the forwarding queue, like the
// committer forms raft entries. Owner: Cluster; stops on shutdownCh after
// its calls (bounded by c.ctx) have returned.
func (c *Cluster) forwarder() {
	defer c.wg.Done()
	var calls sync.WaitGroup // the batch calls in flight
	defer calls.Wait()
	slots := make(chan struct{}, maxFwdInFlight)
	var carry *fwdReq // taken but for another target or over the limits
	for {
		select {
		case slots <- struct{}{}:
		case <-c.shutdownCh:
			if carry != nil {
				carry.done <- outcome{err: ErrClosed}
			}
			return
		}
		first := carry
		carry = nil
		for first == nil {
			select {
			case r := <-c.fwdQ:
				if r.take() {
					first = r
				}
			case <-c.shutdownCh:
				return
			}
		}
		batch := []*fwdReq{first}
		size := len(first.body)
	drain:
		for len(batch) < maxFwdCommands {
			select {
			case r := <-c.fwdQ:
				if !r.take() {
					continue
				}
				if r.target != first.target || size+len(r.body) > maxFwdBytes {
					carry = r
					break drain
				}
				batch = append(batch, r)
				size += len(r.body)
			default:
				break drain
			}
		}
		calls.Add(1)
		go func() { // owner: forwarder; waited for by calls.Wait
			defer calls.Done()
			defer func() { <-slots }()
			c.sendBatch(first.target, batch)
		}()
	}
}

// sendBatch makes one PathApplyBatch call and resolves every request.
func (c *Cluster) sendBatch(target leaderRef, batch []*fwdReq) {
	fail := func(err error) {
		for _, r := range batch {
			r.done <- outcome{err: err}
		}
	}
	size := 5
	for _, r := range batch {
		size += 5 + len(r.body)
	}
	// Built behind room for a link frame header; HTTP sends the body alone.
	frame := appendArrayLen(newFrame(size), len(batch))
	for _, r := range batch {
		frame = appendBin(frame, r.body)
	}
	ctx, cancel := c.opContext(c.ctx)
	defer cancel()
	ctx, release := c.boundToLeader(ctx, target.id)
	defer release()
	c.coalesce.fwdCalls.Add(1)
	c.coalesce.fwdCommands.Add(uint64(len(batch)))
	var rep *wireBatchReply
	var err error
	if c.useLink(target) {
		var b []byte
		if b, err = c.linkCall(ctx, target, frameApplyBatch, frame); err == nil {
			rep, err = decodeBatchReply(b, "peer link reply")
		}
	} else {
		rep, err = c.callBatch(ctx, target.httpAddr, frame[linkHeaderLen:])
	}
	if err != nil {
		fail(err)
		return
	}
	if len(rep.Replies) != len(batch) {
		fail(&remoteError{code: wireInternal, msg: "batch reply does not match the batch"})
		return
	}
	for i, r := range batch {
		one := &rep.Replies[i]
		if one.Code != wireOK {
			r.done <- outcome{err: &remoteError{code: one.Code, msg: one.Msg}}
			continue
		}
		res := one.Result
		if res == nil {
			res = &fsm.Result{} // an all-zero Result encodes as nil
		}
		r.done <- outcome{res: res}
	}
}

// readRound is one read-index request shared by every reader that joined
// it before it started.
type readRound struct {
	target leaderRef
	done   chan struct{} // closed when idx and err are set
	idx    uint64
	err    error
}

// readBatcher coalesces read-index requests: per target at most one
// round is in flight, and the readers arriving meanwhile share the next.
// A reader only joins a round that has not started, so the leader confirms
// its leadership after every reader of the round arrived, which keeps
// reads linearizable.
type readBatcher struct {
	mu       sync.Mutex               // guards next and inflight
	next     map[leaderRef]*readRound // rounds collecting readers, not started
	inflight map[leaderRef]bool       // targets with a round in flight
	kick     chan struct{}            // capacity 1: next may have a startable round
}

func newReadBatcher() *readBatcher {
	return &readBatcher{
		next:     map[leaderRef]*readRound{},
		inflight: map[leaderRef]bool{},
		kick:     make(chan struct{}, 1),
	}
}

// readIndex returns a read index from target, sharing the round with
// other concurrent readers.
func (c *Cluster) readIndex(ctx context.Context, target leaderRef) (uint64, error) {
	b := c.reads
	b.mu.Lock()
	r := b.next[target]
	if r == nil {
		r = &readRound{target: target, done: make(chan struct{})}
		b.next[target] = r
	}
	b.mu.Unlock()
	c.coalesce.readWaiters.Add(1)
	kick(b.kick)
	select {
	case <-r.done:
		return r.idx, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.shutdownCh:
		return 0, ErrClosed
	}
}

// readLoop starts the collected rounds of targets without one in flight.
// Owner: Cluster; stops on shutdownCh after its rounds (bounded by c.ctx)
// have returned.
func (c *Cluster) readLoop() {
	defer c.wg.Done()
	b := c.reads
	var rounds sync.WaitGroup // the rounds in flight
	defer rounds.Wait()
	for {
		select {
		case <-b.kick:
		case <-c.shutdownCh:
			return
		}
		b.mu.Lock()
		for t, r := range b.next {
			if b.inflight[t] {
				continue
			}
			b.inflight[t] = true
			delete(b.next, t)
			rounds.Add(1)
			go func() { // owner: readLoop; waited for by rounds.Wait
				defer rounds.Done()
				c.runRound(r)
				b.mu.Lock()
				delete(b.inflight, r.target)
				b.mu.Unlock()
				kick(b.kick)
			}()
		}
		b.mu.Unlock()
	}
}

// runRound fetches one read index and wakes the round's readers.
func (c *Cluster) runRound(r *readRound) {
	defer close(r.done)
	c.coalesce.readRounds.Add(1)
	rt, err := c.runtime()
	if err != nil {
		r.err = err
		return
	}
	ctx, cancel := c.opContext(c.ctx)
	defer cancel()
	if r.target.self {
		r.idx, r.err = c.leaderReadIndex(ctx, rt)
		return
	}
	ctx, release := c.boundToLeader(ctx, r.target.id)
	defer release()
	r.idx, r.err = c.forwardReadIndex(ctx, r.target)
}

// errLeaderChanged ends a call to a leader once another one is known.
var errLeaderChanged = errors.New("cluster: another leader was elected while the call was in flight")

// leaderCalls are the calls in flight to a leader (forward batches and
// read-index rounds). A peer that is cut off silently never resets the
// connection, so without this a call would wait for ApplyTimeout although
// the majority elected a new leader within an election timeout. Once this
// node's raft knows another leader the calls to the old one are cancelled
// and their callers retry on the new one (the same RequestID, so a command
// the old leader did commit is not applied twice).
type leaderCalls struct {
	mu    sync.Mutex // guards calls
	calls map[*leaderCall]struct{}
}

type leaderCall struct {
	leaderID string
	cancel   context.CancelCauseFunc
}

// boundToLeader derives a context that leaderObserved cancels when a
// leader other than leaderID is observed; release unregisters it.
func (c *Cluster) boundToLeader(ctx context.Context, leaderID string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	lc := &leaderCall{leaderID: leaderID, cancel: cancel}
	lcs := &c.leaderCalls
	lcs.mu.Lock()
	if lcs.calls == nil {
		lcs.calls = map[*leaderCall]struct{}{}
	}
	lcs.calls[lc] = struct{}{}
	lcs.mu.Unlock()
	// A change observed before the registration would be missed otherwise.
	if rt := c.rt.Load(); rt != nil {
		if _, id := rt.raft.LeaderWithID(); id != "" && string(id) != leaderID {
			cancel(errLeaderChanged)
		}
	}
	return ctx, func() {
		lcs.mu.Lock()
		delete(lcs.calls, lc)
		lcs.mu.Unlock()
		cancel(nil)
	}
}

// leaderObserved cancels the calls to every leader but id ("" = none known
// yet: an election is running and the old leader may still win, so calls
// keep waiting).
func (c *Cluster) leaderObserved(id string) {
	if id == "" {
		return
	}
	lcs := &c.leaderCalls
	lcs.mu.Lock()
	defer lcs.mu.Unlock()
	for lc := range lcs.calls {
		if lc.leaderID != id {
			lc.cancel(errLeaderChanged)
		}
	}
}

// The body of a PathApplyBatch call is a msgpack array of bin values, each
// one encoded command (what msgpack.Marshal makes of a [][]byte). It is
// written and split by hand: the commands are not copied on either side.

// appendArrayLen appends a msgpack array header for n elements.
func appendArrayLen(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
}

// appendBin appends b as a msgpack bin value.
func appendBin(dst, b []byte) []byte {
	switch n := len(b); {
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, b...)
}

// errBadBatch reports a PathApplyBatch body that is not an array of bin
// (or str) values.
var errBadBatch = errors.New("cluster: malformed batch body")

// splitBins splits a msgpack array of bin or str values into its elements,
// which share b.
func splitBins(b []byte) ([][]byte, error) {
	i := 0
	hdr := func(n int) (int, bool) { // reads an n-byte big-endian length
		if len(b)-i < n {
			return 0, false
		}
		v := 0
		for _, c := range b[i : i+n] {
			v = v<<8 | int(c)
		}
		i += n
		return v, true
	}
	if len(b) == 0 {
		return nil, errBadBatch
	}
	var count int
	var ok bool
	switch c := b[0]; {
	case c >= 0x90 && c <= 0x9f:
		count, ok, i = int(c&0x0f), true, 1
	case c == 0xdc:
		i = 1
		count, ok = hdr(2)
	case c == 0xdd:
		i = 1
		count, ok = hdr(4)
	}
	if !ok || count > len(b)-i {
		return nil, errBadBatch
	}
	out := make([][]byte, count)
	for k := range out {
		if i >= len(b) {
			return nil, errBadBatch
		}
		c := b[i]
		i++
		var n int
		switch {
		case c >= 0xa0 && c <= 0xbf:
			n, ok = int(c&0x1f), true
		case c == 0xc4 || c == 0xd9:
			n, ok = hdr(1)
		case c == 0xc5 || c == 0xda:
			n, ok = hdr(2)
		case c == 0xc6 || c == 0xdb:
			n, ok = hdr(4)
		default:
			ok = false
		}
		if !ok || n > len(b)-i {
			return nil, errBadBatch
		}
		out[k] = b[i : i+n : i+n]
		i += n
	}
	if i != len(b) {
		return nil, errBadBatch
	}
	return out, nil
}
