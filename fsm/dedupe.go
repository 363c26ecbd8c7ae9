package fsm

// DefaultDedupeWindow is the number of recent RequestIDs remembered when
// Config.DedupeWindow is 0.
const DefaultDedupeWindow = 10000

// dedupeEntry is one remembered command: its RequestID and first Result.
// Stored Results are never modified after they are remembered.
type dedupeEntry struct {
	id  string
	res *Result
}

// dedupeWindow remembers the results of the last max commands that carried
// a RequestID, evicting the oldest first (a ring buffer plus an index).
// It is part of the replicated state: snapshotted and digested in FIFO order.
type dedupeWindow struct {
	max   int
	ring  []dedupeEntry // capacity max; entries ring[(start+i)%max], i < n
	start int
	n     int
	byID  map[string]*Result
}

func newDedupeWindow(max int) *dedupeWindow {
	if max <= 0 {
		max = DefaultDedupeWindow
	}
	return &dedupeWindow{max: max, byID: map[string]*Result{}}
}

// get returns the remembered result of id.
func (d *dedupeWindow) get(id string) (*Result, bool) {
	r, ok := d.byID[id]
	return r, ok
}

// put remembers res for id, evicting the oldest entry when full. An id that
// is already present is left alone (callers check get first).
func (d *dedupeWindow) put(id string, res *Result) {
	if _, ok := d.byID[id]; ok {
		return
	}
	if d.n == d.max {
		old := d.ring[d.start]
		delete(d.byID, old.id)
		d.ring[d.start] = dedupeEntry{id: id, res: res}
		d.start = (d.start + 1) % d.max
		d.byID[id] = res
		return
	}
	e := dedupeEntry{id: id, res: res}
	if len(d.ring) < d.max {
		d.ring = append(d.ring, e) // grows until full; start stays 0 meanwhile
	} else {
		d.ring[(d.start+d.n)%d.max] = e
	}
	d.n++
	d.byID[id] = res
}

// entries returns the remembered entries, oldest first.
func (d *dedupeWindow) entries() []dedupeEntry {
	out := make([]dedupeEntry, 0, d.n)
	for i := 0; i < d.n; i++ {
		out = append(out, d.ring[(d.start+i)%d.max])
	}
	return out
}
