package cluster

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/herald-mq/herald/fsm"
)

// Group commit on the leader: every local or forwarded write is queued for
// one committer goroutine, which turns whatever is queued into one raft
// entry (see DESIGN.md, "Group commit").
const (
	// maxBatchCommands bounds the commands of one proposed entry.
	maxBatchCommands = 256
	// maxBatchBytes bounds the encoded commands of one proposed entry; a
	// single larger command is proposed alone.
	maxBatchBytes = 1 << 20
	// maxInFlight is how many proposed entries may await their commit at
	// once: the next batch forms while the previous one commits. One, not
	// two: every entry costs a log write with two fdatasyncs on each node,
	// and with one in flight an entry carries about half again as many
	// commands at 64 clients (43 instead of 68 entries per 1000 requests)
	// for ~10% less CPU per request; a lone command is still proposed at
	// once (DESIGN.md, "Group commit").
	maxInFlight = 1
	// applyQueueSize is the capacity of the commit queue; callers beyond
	// it wait to enqueue (bounded by their context).
	applyQueueSize = 4 * maxBatchCommands
)

// pending states: a queued command is taken by the committer or abandoned
// by its caller, whichever comes first.
const (
	pendingQueued int32 = iota
	pendingTaken
	pendingAbandoned
)

// pending is one caller's command waiting in the commit queue.
type pending struct {
	enc   []byte      // the encoded command, Now unset: stamped per entry by the committer
	typ   fsm.CmdType // its type
	state atomic.Int32
	done  chan outcome // capacity 1: the committer's resolver never blocks
}

type outcome struct {
	res *fsm.Result
	err error
}

func (p *pending) size() int { return len(p.enc) }

// flight is one proposed entry awaiting its future.
type flight struct {
	f     raft.ApplyFuture
	batch []*pending // len 1: the command was proposed as itself
	err   error      // set when the entry could not even be built
}

// committer forms and proposes entries from the commit queue. Owner:
// Cluster; stops on shutdownCh. Before taking the next command it waits
// for an in-flight slot, so under load commands accumulate while earlier
// entries commit and the next entry carries all of them; at low load the
// first command is proposed at once (no linger).
func (c *Cluster) committer(rt *running, flights chan<- flight, slots chan struct{}) {
	defer c.wg.Done()
	var carry *pending // taken but left for the next entry (limits, or a Batch command)
	for {
		select {
		case slots <- struct{}{}:
		case <-c.shutdownCh:
			c.abandon(carry)
			return
		}
		first := carry
		carry = nil
		for first == nil {
			select {
			case p := <-c.applyQ:
				if p.state.CompareAndSwap(pendingQueued, pendingTaken) {
					first = p
				}
			case <-c.shutdownCh:
				return
			}
		}
		batch := []*pending{first}
		bytes := first.size()
	drain:
		for first.typ != fsm.CmdBatch && len(batch) < maxBatchCommands {
			select {
			case p := <-c.applyQ:
				if !p.state.CompareAndSwap(pendingQueued, pendingTaken) {
					continue // its caller gave up before it was proposed
				}
				if p.typ == fsm.CmdBatch || bytes+p.size() > maxBatchBytes {
					carry = p // a Batch is never nested; limits start a new entry
					break drain
				}
				batch = append(batch, p)
				bytes += p.size()
			default:
				break drain
			}
		}
		flights <- c.propose(rt, batch) // never blocks: a slot is held
	}
}

// abandon fails a taken command that will never be proposed.
func (c *Cluster) abandon(p *pending) {
	if p != nil {
		p.done <- outcome{err: ErrClosed}
	}
}

// propose stamps one Now for the batch and hands one entry to raft: the
// command itself when it is alone, else a CmdBatch of all of them.
func (c *Cluster) propose(rt *running, batch []*pending) flight {
	// Callers waited for a ready term before queueing, but leadership may
	// have changed since; stamping before a new term's barrier could read a
	// stale fsm.LastNow. Callers retry on ErrNotLeader.
	if !c.leading.Load().isReady() {
		return flight{batch: batch, err: raft.ErrNotLeader}
	}
	c.stampMu.Lock()
	defer c.stampMu.Unlock()
	now := max(time.Now().UnixNano(), c.lastStamp+1, c.sm.LastNow()+1)
	c.lastStamp = now
	var data []byte
	if len(batch) == 1 {
		var err error
		if data, err = fsm.AppendStamped(make([]byte, 0, len(batch[0].enc)+16), batch[0].enc, now); err != nil {
			return flight{batch: batch, err: fmt.Errorf("encode command: %w", err)}
		}
	} else {
		encs := make([][]byte, len(batch))
		size := fsm.EncodedBatchOverhead
		for i, p := range batch {
			encs[i] = p.enc
			size += len(p.enc)
		}
		data = fsm.AppendBatchEntry(make([]byte, 0, size), now, encs)
	}
	return flight{f: rt.raft.Apply(data, c.cfg.ApplyTimeout), batch: batch}
}

// resolver waits for proposed entries in proposal order and delivers each
// caller its result, or the entry's error to every caller of the entry.
// Owner: Cluster; stops on shutdownCh (raft's Shutdown resolves every
// outstanding future, so a wait in progress ends too).
func (c *Cluster) resolver(flights <-chan flight, slots <-chan struct{}) {
	defer c.wg.Done()
	for {
		select {
		case fl := <-flights:
			c.deliver(fl)
			<-slots
		case <-c.shutdownCh:
			return
		}
	}
}

func (c *Cluster) deliver(fl flight) {
	fail := func(err error) {
		for _, p := range fl.batch {
			p.done <- outcome{err: err}
		}
	}
	if fl.err != nil {
		fail(fl.err)
		return
	}
	// The future resolves when the entry is applied, when leadership is
	// lost (outcome unknown) or when raft shuts down.
	if err := fl.f.Error(); err != nil {
		if errors.Is(err, raft.ErrRaftShutdown) {
			err = ErrClosed
		}
		fail(err)
		return
	}
	res, ok := fl.f.Response().(*fsm.Result)
	if !ok || res == nil {
		fail(fmt.Errorf("cluster: unexpected apply response %T", fl.f.Response()))
		return
	}
	if len(fl.batch) == 1 {
		fl.batch[0].done <- outcome{res: res}
		return
	}
	if res.Code != fsm.CodeOK || len(res.Batch) != len(fl.batch) {
		fail(fmt.Errorf("cluster: batch of %d commands applied with result code %d and %d results: %s",
			len(fl.batch), res.Code, len(res.Batch), res.Msg))
		return
	}
	for i, p := range fl.batch {
		r := res.Batch[i]
		p.done <- outcome{res: &r}
	}
}
