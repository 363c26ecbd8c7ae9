package fsm

import "strings"

// DefaultDedupeWindow is the number of recent RequestIDs remembered when
// Config.DedupeWindow is 0.
const DefaultDedupeWindow = 10000

// dedupeEntry is one remembered command: its RequestID and first Result.
// Stored Results are never modified after they are remembered. The ids of
// a post are a run of consecutive minted ids: the entry keeps the run
// (24 bytes) instead of the strings (40 bytes each), and result() renders
// them again. A result that is nothing but such ids (a post) or empty (a
// delete) is not stored at all.
type dedupeEntry struct {
	id  string
	res *Result // without IDs when ids is set; nil when nothing else is left
	ids idRun
}

// idRun is n consecutive minted ids starting at first (n = 0: none).
type idRun struct {
	first mid
	n     uint32
}

// runOf returns ids as a run, if they are one.
func runOf(ids []string) (idRun, bool) {
	if len(ids) == 0 || len(ids) > 1<<31 {
		return idRun{}, false
	}
	first, ok := parseID(ids[0])
	if !ok {
		return idRun{}, false
	}
	for i, s := range ids {
		id, ok := parseID(s)
		if !ok || id.idx != first.idx || uint64(id.n) != uint64(first.n)+uint64(i) {
			return idRun{}, false
		}
	}
	return idRun{first, uint32(len(ids))}, true
}

// result returns the remembered Result (a fresh copy when its ids were
// kept as a run or nothing was stored).
func (e *dedupeEntry) result() *Result {
	if e.ids.n == 0 && e.res != nil {
		return e.res
	}
	var r Result
	if e.res != nil {
		r = *e.res
	}
	if e.ids.n > 0 {
		r.IDs = formatRun(e.ids.first, int(e.ids.n))
	}
	return &r
}

// empty reports whether r holds nothing at all.
func (r *Result) empty() bool {
	return r.Code == CodeOK && r.Msg == "" && !r.Created && r.IDs == nil && r.ClaimID == "" &&
		r.Messages == nil && r.Metadata == nil && r.Batch == nil && r.Swept == 0 &&
		r.SubscriptionID == "" && r.Cursor == 0
}

// dedupeWindow remembers the results of the last max commands that carried
// a RequestID, evicting the oldest first (a ring buffer plus an index).
// It is part of the replicated state: snapshotted and digested in FIFO order.
type dedupeWindow struct {
	max   int
	ring  []dedupeEntry // capacity max; entries ring[(start+i)%max], i < n
	start int
	n     int
	byID  map[string]int // request id -> its entry's index in ring
	// bytes is the size of the message bodies and metadata held by the
	// remembered results (resultBytes). It counts against the memory
	// budget: a popped message's body, say, lives on here after it left
	// the queue. Derived: rebuilt by put on restore.
	bytes int64
}

// resultBytes is the size of the message bodies and metadata a result
// holds (claims, pops, metadata patches, and batches of them).
func resultBytes(r *Result) int64 {
	var n int64
	for i := range r.Messages {
		n += int64(len(r.Messages[i].Body))
	}
	for k, v := range r.Metadata {
		n += int64(len(k) + len(v))
	}
	for i := range r.Batch {
		n += resultBytes(&r.Batch[i])
	}
	return n
}

func newDedupeWindow(max int) *dedupeWindow {
	if max <= 0 {
		max = DefaultDedupeWindow
	}
	return &dedupeWindow{max: max, byID: map[string]int{}}
}

// get returns the remembered result of id.
func (d *dedupeWindow) get(id string) (*Result, bool) {
	i, ok := d.byID[id]
	if !ok {
		return nil, false
	}
	return d.ring[i].result(), true
}

// put remembers res for id, evicting the oldest entry when full, and
// reports whether the window now shares a slice or map of res (then the
// caller must not hand res out without cloneResult). An id that is
// already present is left alone (callers check get first). run, when
// non-empty, is res.IDs as a run (from the post that minted them).
func (d *dedupeWindow) put(id string, res *Result, run idRun) (shared bool) {
	if _, ok := d.byID[id]; ok {
		return false
	}
	return d.add(id, res, run)
}

// add is put for an id known to be absent (one map lookup less).
func (d *dedupeWindow) add(id string, res *Result, run idRun) (shared bool) {
	id = strings.Clone(id) // it may share a raft entry (decode.go)
	d.bytes += resultBytes(res)
	e := dedupeEntry{id: id}
	if run.n == 0 || int(run.n) != len(res.IDs) {
		run, _ = runOf(res.IDs)
	}
	r := *res
	if run.n > 0 {
		r.IDs, e.ids = nil, run
	}
	if !r.empty() {
		e.res = new(Result) // allocated only here: r itself stays on the stack
		*e.res = r
		shared = r.IDs != nil || r.Messages != nil || r.Metadata != nil || r.Batch != nil
	}
	if d.n == d.max {
		old := d.ring[d.start]
		if old.res != nil {
			d.bytes -= resultBytes(old.res)
		}
		delete(d.byID, old.id)
		d.ring[d.start] = e
		d.byID[id] = d.start
		d.start = (d.start + 1) % d.max
		return shared
	}
	i := (d.start + d.n) % d.max
	if len(d.ring) < d.max {
		d.ring = append(d.ring, e) // grows until full; start stays 0 meanwhile
	} else {
		d.ring[i] = e
	}
	d.n++
	d.byID[id] = i
	return shared
}

// entries returns the remembered entries, oldest first.
func (d *dedupeWindow) entries() []dedupeEntry {
	out := make([]dedupeEntry, 0, d.n)
	for i := 0; i < d.n; i++ {
		out = append(out, d.ring[(d.start+i)%d.max])
	}
	return out
}
