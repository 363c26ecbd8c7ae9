package cluster

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/herald-mq/herald/fsm"
)

// stateMachine is what the cluster needs from *fsm.FSM.
type stateMachine interface {
	ApplyEntry(index uint64, data []byte) *fsm.Result
	Snapshot() (persist func(w io.Writer) error, err error)
	Restore(r io.Reader) error
	AppliedIndex() uint64
	LastNow() int64
	Read(fn func(s *fsm.State))
}

var _ stateMachine = (*fsm.FSM)(nil)

// fsmAdapter is the thin raft.FSM in front of the state machine: it routes
// entries, snapshots and restores, and tells waiting readers whenever the
// applied index moves. raft calls Apply, Snapshot and Restore from one
// goroutine.
type fsmAdapter struct {
	sm stateMachine
	// applied is the index of the last command entry the state machine has
	// applied, or the state machine's own applied index after a restore.
	// raft's other entry types (no-op, barrier, configuration) never reach
	// the state machine and so never move it; see readIndexFor.
	applied atomic.Uint64
	// restored is the state machine's applied index after the latest
	// Restore (0 before any).
	restored atomic.Uint64
	changed  notifier // broadcast after every Apply and Restore
	// meter measures the log for the log budget (logbudget.go).
	meter logMeter
}

var _ raft.FSM = (*fsmAdapter)(nil)

func newFSMAdapter(sm stateMachine) *fsmAdapter {
	a := &fsmAdapter{sm: sm}
	a.applied.Store(sm.AppliedIndex())
	return a
}

// Apply applies one committed command entry and returns its *fsm.Result,
// which raft hands to the ApplyFuture on the leader.
func (a *fsmAdapter) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	res := a.sm.ApplyEntry(l.Index, l.Data)
	a.meter.entry(len(l.Data))
	a.applied.Store(l.Index)
	a.changed.broadcast()
	return res
}

// Snapshot captures the state; persisting runs later, concurrently with
// Apply, in raft's snapshot goroutine. The log since the snapshot starts
// counting from here.
func (a *fsmAdapter) Snapshot() (raft.FSMSnapshot, error) {
	persist, err := a.sm.Snapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{persist: persist, meter: &a.meter, index: a.applied.Load(), since: a.meter.sinceSnap.Swap(0)}, nil
}

// Restore replaces the state with a snapshot's.
func (a *fsmAdapter) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	cr := &countingReader{r: rc}
	err := a.sm.Restore(cr)
	a.applied.Store(a.sm.AppliedIndex())
	if err == nil {
		a.restored.Store(max(a.sm.AppliedIndex(), 1))
		a.meter.sinceSnap.Store(0)
		a.meter.snapshotSize(a.sm.AppliedIndex(), cr.n)
	}
	a.changed.broadcast()
	return err
}

// waitApplied blocks until the state machine has applied index idx, ctx
// ends or stop closes. It waits on apply notifications, never by polling.
func (a *fsmAdapter) waitApplied(ctx context.Context, stop <-chan struct{}, idx uint64) error {
	for {
		ch := a.changed.wait()
		if a.applied.Load() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return ErrClosed
		}
	}
}

// fsmSnapshot adapts the state machine's persist function to raft.
// raft's snapshot goroutine calls Persist (unless the snapshot fails
// before it), then always Release.
type fsmSnapshot struct {
	persist func(w io.Writer) error
	meter   *logMeter // told the snapshot's size once it is stored
	index   uint64    // applied index the state was captured at
	since   uint64    // the meter's bytes since the previous snapshot, taken at capture
	stored  bool      // Persist succeeded
}

// Persist streams the snapshot into sink, cancelling it on error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	cw := &countingWriter{w: sink}
	if err := s.persist(cw); err != nil {
		sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	s.stored = true
	s.meter.snapshotSize(s.index, cw.n)
	return nil
}

// Release gives the log bytes the capture took back to the meter if the
// snapshot was never stored, so the next one stays due; the captured
// state itself is garbage collected.
func (s *fsmSnapshot) Release() {
	if !s.stored {
		s.meter.sinceSnap.Add(s.since)
	}
}

// notifier wakes every goroutine waiting for "something changed". Waiters
// take the channel first, then check their condition, then block on the
// channel; a broadcast between the check and the block is not lost.
type notifier struct {
	mu sync.Mutex    // guards ch
	ch chan struct{} // closed by the next broadcast; nil while nobody waits
}

// wait returns a channel that the next broadcast closes.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// broadcast wakes all current waiters.
func (n *notifier) broadcast() {
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}
