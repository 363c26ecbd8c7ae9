package cluster

import (
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// The raft log is bounded in bytes, not only in entries. raft counts its
// snapshot threshold and trailing logs in entries, but group commit makes
// an entry anything from one command to maxBatchBytes of them, so an
// entry count says little about the log's size on disk (raft.db, which
// bolt also maps into memory) or about what a snapshot saves. The log
// budget adds two rules in bytes (DESIGN.md "The log budget"):
//
//   - a snapshot is taken once the entries applied since the last one
//     reach max(SnapshotBytes, the last snapshot's size), raised by a
//     random stagger of up to a quarter per node: the log between
//     snapshots stays below that, and the bytes written into snapshots
//     stay at most the bytes written into the log;
//   - a snapshot leaves about TrailingBytes of the newest entries in the
//     log for lagging followers, as raft's TrailingLogs sized by the mean
//     entry (within [minTrailingLogs, TrailingLogs]).
const (
	// DefaultSnapshotBytes is the least log, in bytes applied since the
	// last snapshot, that makes the node take a snapshot.
	DefaultSnapshotBytes = 256 << 20
	// DefaultTrailingBytes is about how many bytes of the newest entries
	// a snapshot leaves in the log.
	DefaultTrailingBytes = 64 << 20
	// minTrailingLogs is the fewest entries a snapshot leaves in the log
	// however large they are (unless Config.TrailingLogs is smaller).
	minTrailingLogs = 64
	// logEntryOverhead is what an entry costs in raft.db beyond its data:
	// the key, raft's msgpack envelope and bolt's element header.
	logEntryOverhead = 64
	// logBudgetInterval is how often logBudgetLoop checks the budget.
	logBudgetInterval = time.Second
	// maxStagger bounds newStagger: a threshold is raised by up to a
	// quarter.
	maxStagger = 256
	// snapshotRetryInterval is how long logBudgetLoop waits after a
	// snapshot failed (raft refuses one while a configuration change is
	// not yet followed by a command) before it asks again.
	snapshotRetryInterval = 30 * time.Second
	// minSnapshotBytes and minTrailingBytes are the least SnapshotBytes
	// and TrailingBytes Validate accepts.
	minSnapshotBytes = 64 << 10
	minTrailingBytes = 4 << 10
)

// logMeter measures the log as the state machine consumes it. raft's FSM
// goroutine (Apply, Snapshot, Restore) writes sinceSnap and meanEntry;
// raft's snapshot goroutine adds to sinceSnap (a snapshot that failed) and
// sets lastSnap (Persist), as Restore does; anyone reads.
type logMeter struct {
	// sinceSnap is the bytes of the entries applied since the latest
	// snapshot capture or restore (plus those of a capture that was never
	// stored).
	sinceSnap atomic.Uint64
	// meanEntry is a moving mean of an entry's bytes (weight 1/16 per
	// entry); 0 before the first entry.
	meanEntry atomic.Uint64
	// lastSnap is the size in bytes of the newest snapshot stored or
	// restored (by index); 0 before any.
	lastSnap atomic.Uint64
	// stagger raises this node's next snapshot threshold (newStagger);
	// written by logBudgetLoop.
	stagger atomic.Uint64

	snapMu    sync.Mutex // guards lastIndex and orders writes of lastSnap
	lastIndex uint64     // index of the snapshot lastSnap measures
}

// snapshotSize records the size of a snapshot stored or restored at index,
// unless a newer one was recorded: a restore from the leader may land
// while an older local snapshot is still being persisted.
func (m *logMeter) snapshotSize(index, size uint64) {
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	if index < m.lastIndex {
		return
	}
	m.lastIndex = index
	m.lastSnap.Store(size)
}

// entry counts one applied entry of n data bytes.
func (m *logMeter) entry(n int) {
	b := uint64(n) + logEntryOverhead
	m.sinceSnap.Add(b)
	mean := m.meanEntry.Load()
	if mean == 0 {
		mean = b
	} else {
		mean = mean - mean/16 + b/16
	}
	m.meanEntry.Store(mean)
}

// snapshotDue is the bytes since the last snapshot that call for the
// next: max(minBytes, lastSnap), raised by stagger/1024 of itself.
func snapshotDue(minBytes, lastSnap, stagger uint64) uint64 {
	b := max(minBytes, lastSnap)
	return b + b/1024*stagger
}

// newStagger draws the fraction (in 1/1024) by which a node raises its
// next snapshot's threshold, so that the nodes of a cluster, whose logs
// are the same, do not all snapshot at once (as raft staggers its own
// snapshot checks): while one node writes its snapshot, the others still
// make a quorum with undisturbed disks and CPU.
func newStagger() uint64 { return rand.Uint64N(maxStagger) }

// trailingFor is raft's TrailingLogs for a byte budget and a mean entry
// size: budget/mean entries, at least minTrailingLogs and at most maxLogs
// (the configured TrailingLogs, which also wins over minTrailingLogs).
func trailingFor(budget, mean, maxLogs uint64) uint64 {
	if mean == 0 {
		return maxLogs
	}
	return min(max(budget/mean, minTrailingLogs), maxLogs)
}

// logBudgetLoop applies the log budget: it resizes raft's TrailingLogs to
// the mean entry and takes a snapshot when the log since the last one has
// outgrown snapshotDue. A snapshot blocks this loop until it is persisted
// and the log compacted, never raft or Apply. Owner: Cluster; stops on
// shutdownCh.
func (c *Cluster) logBudgetLoop(rt *running) {
	defer c.wg.Done()
	t := time.NewTicker(logBudgetInterval)
	defer t.Stop()
	var retryAt time.Time // after a failed snapshot, no new one before
	m := &c.adapter.meter
	m.stagger.Store(newStagger())
	for {
		select {
		case <-c.shutdownCh:
			return
		case <-t.C:
		}
		c.sizeTrailing(rt)
		since, due := m.sinceSnap.Load(), snapshotDue(c.cfg.SnapshotBytes, m.lastSnap.Load(), m.stagger.Load())
		if since < due || time.Now().Before(retryAt) {
			continue
		}
		c.log.Info("log budget: taking a snapshot", "log_bytes_since_snapshot", since, "due_at", due)
		err := rt.raft.Snapshot().Error()
		switch {
		case err == nil, errors.Is(err, raft.ErrNothingNewToSnapshot):
			m.stagger.Store(newStagger())
		case errors.Is(err, raft.ErrRaftShutdown) || c.closed.Load():
			return
		default:
			c.log.Warn("log budget: snapshot failed; retrying later", "err", err, "retry_in", snapshotRetryInterval)
			retryAt = time.Now().Add(snapshotRetryInterval)
		}
	}
}

// sizeTrailing sets raft's TrailingLogs to trailingFor the budget when it
// is off by more than an eighth. Reading raft's reloadable config and
// writing it back is only safe because logBudgetLoop is the one caller of
// ReloadConfig; keep it so.
func (c *Cluster) sizeTrailing(rt *running) {
	want := trailingFor(c.cfg.TrailingBytes, c.adapter.meter.meanEntry.Load(), c.cfg.TrailingLogs)
	rc := rt.raft.ReloadableConfig()
	have := rc.TrailingLogs
	if diff := max(want, have) - min(want, have); diff <= have/8 {
		return
	}
	rc.TrailingLogs = want
	if err := rt.raft.ReloadConfig(rc); err != nil {
		c.log.Warn("log budget: cannot set trailing logs", "trailing_logs", want, "err", err)
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n uint64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += uint64(n)
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n uint64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += uint64(n)
	return n, err
}
