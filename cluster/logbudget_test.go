package cluster

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
)

func TestTrailingFor(t *testing.T) {
	for _, tt := range []struct{ budget, mean, maxLogs, want uint64 }{
		{64 << 20, 0, 10240, 10240},        // no entry seen yet: the configured count
		{64 << 20, 400, 10240, 10240},      // small entries: the count bounds first
		{64 << 20, 80 << 10, 10240, 819},   // post10-sized batches: the bytes bound first
		{64 << 20, 1 << 20, 10240, 64},     // 1 MiB entries: at least minTrailingLogs
		{64 << 20, 1 << 20, 16, 16},        // a configured count below the minimum wins
		{1 << 10, 100, 4, 4},               // tests' tiny logs
		{64 << 20, 64 << 20, 10240, 64},    // one entry the size of the budget
		{128 << 20, 16 << 10, 10240, 8192}, // 128 MiB of 16 KiB entries
	} {
		if got := trailingFor(tt.budget, tt.mean, tt.maxLogs); got != tt.want {
			t.Errorf("trailingFor(%d, %d, %d) = %d, want %d", tt.budget, tt.mean, tt.maxLogs, got, tt.want)
		}
	}
}

func TestSnapshotDue(t *testing.T) {
	if got := snapshotDue(64<<20, 0, 0); got != 64<<20 {
		t.Errorf("before any snapshot: %d, want the configured bytes", got)
	}
	if got := snapshotDue(64<<20, 300<<20, 0); got != 300<<20 {
		t.Errorf("after a 300 MiB snapshot: %d, want its size", got)
	}
	if got := snapshotDue(64<<20, 300<<20, 256); got != 375<<20 {
		t.Errorf("after a 300 MiB snapshot, staggered by a quarter: %d, want 375 MiB", got)
	}
	seen := map[uint64]bool{}
	for range 100 {
		s := newStagger()
		if s >= maxStagger {
			t.Fatalf("stagger %d, want below %d", s, maxStagger)
		}
		seen[s] = true
	}
	if len(seen) < 10 {
		t.Errorf("100 staggers took only %d values; nodes would snapshot together", len(seen))
	}
}

func TestLogMeter(t *testing.T) {
	var m logMeter
	m.entry(1000)
	if got := m.meanEntry.Load(); got != 1000+logEntryOverhead {
		t.Fatalf("mean after one entry = %d, want %d", got, 1000+logEntryOverhead)
	}
	for range 200 {
		m.entry(10000)
	}
	if got, want := m.meanEntry.Load(), uint64(10000+logEntryOverhead); got < want*99/100 || got > want {
		t.Errorf("mean after 200 entries of 10000 bytes = %d, want about %d", got, want)
	}
	if got, want := m.sinceSnap.Load(), uint64(1000+200*10000+201*logEntryOverhead); got != want {
		t.Errorf("bytes since snapshot = %d, want %d", got, want)
	}
}

// bigQueue applies a QueueCreate carrying about size bytes of metadata, so
// each entry is large without many commands.
func bigQueue(t *testing.T, c *Cluster, name string, size int) {
	t.Helper()
	md := map[string]json.RawMessage{"pad": json.RawMessage(strconv.Quote(strings.Repeat("x", size)))}
	cmd, err := fsm.NewCommand(fsm.CmdQueueCreate, "", &fsm.QueueCreate{Project: "p", Queue: name, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctxFor(t, 15*time.Second), cmd); err != nil {
		t.Fatalf("apply QueueCreate %s: %v", name, err)
	}
}

// TestLogBudget: with raft's entry threshold out of reach, the bytes of
// log alone make every node snapshot and compact, the next snapshot waits
// for as many bytes as the last snapshot holds, and the trailing entries
// follow the mean entry size.
func TestLogBudget(t *testing.T) {
	const entry, snapBytes = 16 << 10, 256 << 10
	tc := newTestCluster(t)
	tc.configure = func(n *testNode, c *Config) {
		c.SnapshotThreshold = 1 << 20 // raft's own trigger never fires here
		c.SnapshotBytes = snapBytes   // 16 entries of 16 KiB
		c.TrailingBytes = 2 << 20     // about 127 of them (with raft's envelope)
		c.TrailingLogs = 10240
	}
	l := tc.start(3)
	for i := range 24 {
		bigQueue(t, l.c, "q"+strconv.Itoa(i), entry)
	}
	for _, n := range tc.nodes {
		poll(t, 10*time.Second, n.id+" snapshots by bytes", func() bool {
			s := n.c.Status()
			return s.LastSnapshotIndex > 0 && s.Log.LastSnapshotBytes > 0
		})
		s := n.c.Status()
		if s.Log.TrailingLogs < 100 || s.Log.TrailingLogs > 128 {
			t.Errorf("%s: trailing logs %d, want about 127 (2 MiB of 16 KiB entries)", n.id, s.Log.TrailingLogs)
		}
		if s.Log.MeanEntryBytes < entry || s.Log.MeanEntryBytes > 2*entry {
			t.Errorf("%s: mean entry %d bytes, want about %d", n.id, s.Log.MeanEntryBytes, entry)
		}
		// 24 queues of 16 KiB are in the snapshot: the next one is due at
		// its size, above SnapshotBytes.
		if last, due := s.Log.LastSnapshotBytes, s.Log.SnapshotDueBytes; last < 256<<10 || due < last || due > last+last/4 {
			t.Errorf("%s: snapshot of %d bytes, next due at %d; want a snapshot over 256 KiB and the next due at its size, staggered by up to a quarter",
				n.id, last, due)
		}
	}
	snapIdx := func() uint64 { return l.c.Status().LastSnapshotIndex }
	// Grow the state past twice SnapshotBytes, snapshotting whenever due.
	for i := 0; l.c.Status().Log.LastSnapshotBytes < 2*snapBytes; i++ {
		if i == 300 {
			t.Fatalf("300 more entries and no snapshot of %d bytes", 2*snapBytes)
		}
		bigQueue(t, l.c, "g"+strconv.Itoa(i), entry)
		if st := l.c.Status(); st.Log.BytesSinceSnapshot >= st.Log.SnapshotDueBytes {
			poll(t, 10*time.Second, "a snapshot once due", func() bool { return snapIdx() > st.LastSnapshotIndex })
		}
	}
	// More new log than SnapshotBytes but less than the snapshot's size:
	// no snapshot yet.
	first := snapIdx()
	for i := 0; l.c.Status().Log.BytesSinceSnapshot < snapBytes+entry; i++ {
		bigQueue(t, l.c, "r"+strconv.Itoa(i), entry)
	}
	if st := l.c.Status().Log; st.BytesSinceSnapshot >= st.SnapshotDueBytes {
		t.Fatalf("%d bytes since the snapshot already reach its size %d; the test needs a larger state", st.BytesSinceSnapshot, st.SnapshotDueBytes)
	}
	time.Sleep(3 * logBudgetInterval) // let logBudgetLoop look
	if got := snapIdx(); got != first {
		t.Fatalf("snapshot at %d after %d bytes of log; want none before the last snapshot's size, %d bytes",
			got, l.c.Status().Log.BytesSinceSnapshot, l.c.Status().Log.SnapshotDueBytes)
	}
	// As much new log as the snapshot holds: the next snapshot.
	for i := 0; l.c.Status().Log.BytesSinceSnapshot < l.c.Status().Log.SnapshotDueBytes; i++ {
		bigQueue(t, l.c, "s"+strconv.Itoa(i), entry)
	}
	poll(t, 10*time.Second, "the snapshot at the last one's size", func() bool { return snapIdx() > first })
	// Past the trailing entries, a snapshot compacts the log down to them.
	logs := l.c.rt.Load().parts.logs
	lo := uint64(1)
	for i := 0; lo == 1 && i < 400; i++ {
		bigQueue(t, l.c, "t"+strconv.Itoa(i), entry)
		var err error
		if lo, err = logs.FirstIndex(); err != nil {
			t.Fatal(err)
		}
	}
	if lo == 1 {
		t.Fatal("400 entries of 16 KiB after the trailing 2 MiB, and the log was never compacted")
	}
	hi, err := logs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	trailing := l.c.Status().Log.TrailingLogs
	if kept := hi - lo + 1; kept < trailing || kept > trailing+64 {
		t.Errorf("log holds %d entries (%d-%d) after compaction; want the %d trailing ones and the few since", kept, lo, hi, trailing)
	}
	poll(t, 10*time.Second, "followers apply everything", func() bool {
		for _, n := range tc.nodes {
			if n.c.Status().AppliedIndex != l.c.Status().AppliedIndex {
				return false
			}
		}
		return true
	})
	tc.sameDigests(t, l)

	// A restart restores the node's own snapshot and counts only the log
	// replayed after it.
	f := tc.followers()[0]
	f.kill()
	f.start()
	poll(t, 10*time.Second, f.id+" restores its snapshot", func() bool {
		st := f.c.Status()
		return st.RestoredFromSnapshot > 0 && st.Log.LastSnapshotBytes > 2*snapBytes
	})
	if st := f.c.Status().Log; st.BytesSinceSnapshot >= st.SnapshotDueBytes {
		t.Errorf("after the restart %d bytes since the snapshot, due at %d; want the replayed tail only", st.BytesSinceSnapshot, st.SnapshotDueBytes)
	}
}

// discardSink is a raft.SnapshotSink that keeps nothing.
type discardSink struct{ cancelled, closed bool }

func (d *discardSink) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardSink) Close() error                { d.closed = true; return nil }
func (d *discardSink) ID() string                  { return "discard" }
func (d *discardSink) Cancel() error               { d.cancelled = true; return nil }

// TestSnapshotMeterAccounting: a snapshot that is never stored gives the
// log bytes its capture took back, a stored one records its size, and an
// older snapshot's size never replaces a newer one's.
func TestSnapshotMeterAccounting(t *testing.T) {
	var m logMeter
	m.sinceSnap.Store(1000)
	failed := &fsmSnapshot{persist: func(io.Writer) error { return errors.New("disk full") }, meter: &m, index: 5, since: m.sinceSnap.Swap(0)}
	m.entry(36) // applied meanwhile: 36 + logEntryOverhead = 100 bytes
	sink := &discardSink{}
	if err := failed.Persist(sink); err == nil || !sink.cancelled {
		t.Fatalf("Persist = %v, cancelled %v; want the error and a cancelled sink", err, sink.cancelled)
	}
	failed.Release()
	if got := m.sinceSnap.Load(); got != 1100 {
		t.Fatalf("bytes since snapshot after a failed one = %d, want 1100", got)
	}

	stored := &fsmSnapshot{persist: func(w io.Writer) error { _, err := w.Write(make([]byte, 500)); return err }, meter: &m, index: 9, since: m.sinceSnap.Swap(0)}
	if err := stored.Persist(&discardSink{}); err != nil {
		t.Fatal(err)
	}
	stored.Release()
	if m.sinceSnap.Load() != 0 || m.lastSnap.Load() != 500 {
		t.Fatalf("after a stored snapshot: since %d, size %d; want 0 and 500", m.sinceSnap.Load(), m.lastSnap.Load())
	}
	m.snapshotSize(7, 99) // an older snapshot finishing late
	if m.lastSnap.Load() != 500 {
		t.Fatalf("an older snapshot's size replaced the newer one's: %d", m.lastSnap.Load())
	}
	m.snapshotSize(12, 800) // a newer one, e.g. installed from the leader
	if m.lastSnap.Load() != 800 {
		t.Fatalf("size after a newer snapshot = %d, want 800", m.lastSnap.Load())
	}
}
