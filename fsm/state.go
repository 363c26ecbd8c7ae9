package fsm

import (
	"encoding/json"
	"sort"

	"github.com/google/btree"
)

// btreeDegree is the degree of every btree in the state (up to 63 items per
// node: shallow trees, cheap copy-on-write node copies).
const btreeDegree = 32

// state is the whole replicated state. It is only touched with FSM.mu held
// (for writing by apply and restore code, for reading by State methods).
//
// Stored values reachable from a snapshot capture are immutable: a *Message
// or *claim is replaced, never modified, and a queue's metadata map is
// replaced on PATCH. Trees and maps owned by the live state are mutated.
type state struct {
	maxBody  int64               // Config.MaxBodyBytes (0 = unlimited)
	projects map[string]*project // project id -> its queues
	// due orders the queues that hold something that will expire (a message
	// or a claim) by their earliest such time, so Sweep finds work in
	// O(log Q) and does nothing when nothing is due. Derived, not snapshotted.
	due       *btree.BTreeG[dueKey]
	bodyBytes int64  // total bytes of stored message bodies (the memory budget counter)
	lastNow   int64  // FSM time of the last applied entry (unix ns)
	applied   uint64 // index of the last applied entry
	dedupe    *dedupeWindow

	// Subscriptions and delivery state (subscriptions.go, outbox.go,
	// delivery.go). sources and subs are the state; subIDs, subExp and
	// srcDue are derived indexes, rebuilt on restore.
	sources     map[sourceKey]*source    // sources with at least one subscription
	subs        map[string]*subscription // by id; values immutable
	subIDs      *btree.BTreeG[string]    // every subscription id, ordered (AllSubscriptions)
	subExp      *btree.BTreeG[expKey]    // subscriptions by (Expires, id) (Sweep)
	srcDue      *btree.BTreeG[srcDueKey] // sources with outbox entries by earliest entry expiry (Sweep)
	outboxBytes int64                    // body bytes of all outbox entries (also under the memory budget)
	assignEpoch uint64                   // epoch of the last accepted Assign

	// Topics (topics.go): by (project, name). Each topic's messages are the
	// outbox of its source (project, SourceTopic, name), which lives as long
	// as the topic.
	topics *btree.BTreeG[*topic]
}

// project holds one project's queues.
type project struct {
	name   string
	queues map[string]*queue     // by name, for O(1) lookup
	order  *btree.BTreeG[*queue] // by name, for paging ListQueues
}

// queue is one queue with its messages and claims. msgs is the source of
// truth; free, exp and cexp are indexes derived from msgs and claims.
type queue struct {
	project string
	name    string
	meta    map[string]json.RawMessage // stored metadata; replaced, never mutated in place
	cfg     queueCfg                   // derived from meta

	msgs   *btree.BTreeG[*Message] // all messages by id (= post order)
	free   *btree.BTreeG[*Message] // messages with no ClaimID, by id (claim and pop candidates)
	exp    *btree.BTreeG[expKey]   // messages by (Expires, ID)
	claims map[string]*claim       // claim id -> claim (values immutable)
	cexp   *btree.BTreeG[expKey]   // claims by (Expires, ID)

	dueAt int64 // key under which the queue is registered in state.due
	dueOn bool  // whether it is registered
}

// claim is a stored claim. Values are immutable once stored.
type claim struct {
	ID      string   `msgpack:"i"`
	TTL     int64    `msgpack:"t"`
	Grace   int64    `msgpack:"g"`
	Updated int64    `msgpack:"u"`
	Expires int64    `msgpack:"x"`
	MsgIDs  []string `msgpack:"m"` // messages taken by the claim, in queue order
}

// expKey orders messages or claims by expiry; ids break ties (ids are unique).
type expKey struct {
	at int64
	id string
}

func expLess(a, b expKey) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.id < b.id
}

// dueKey registers a queue in state.due.
type dueKey struct {
	at      int64
	project string
	name    string
	q       *queue
}

func dueLess(a, b dueKey) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.project != b.project {
		return a.project < b.project
	}
	return a.name < b.name
}

func msgLess(a, b *Message) bool { return a.ID < b.ID }

func queueLess(a, b *queue) bool { return a.name < b.name }

func newState(cfg Config) *state {
	return &state{
		maxBody:  cfg.MaxBodyBytes,
		projects: map[string]*project{},
		due:      btree.NewG(btreeDegree, dueLess),
		dedupe:   newDedupeWindow(cfg.DedupeWindow),
		sources:  map[sourceKey]*source{},
		subs:     map[string]*subscription{},
		subIDs:   btree.NewG(btreeDegree, stringLess),
		subExp:   btree.NewG(btreeDegree, expLess),
		srcDue:   btree.NewG(btreeDegree, srcDueLess),
		topics:   btree.NewG(btreeDegree, topicLess),
	}
}

func newQueue(projectID, name string, meta map[string]json.RawMessage) *queue {
	return &queue{
		project: projectID,
		name:    name,
		meta:    meta,
		cfg:     cfgFromMeta(meta),
		msgs:    btree.NewG(btreeDegree, msgLess),
		free:    btree.NewG(btreeDegree, msgLess),
		exp:     btree.NewG(btreeDegree, expLess),
		claims:  map[string]*claim{},
		cexp:    btree.NewG(btreeDegree, expLess),
	}
}

// queue returns a queue or nil.
func (s *state) queue(projectID, name string) *queue {
	p := s.projects[projectID]
	if p == nil {
		return nil
	}
	return p.queues[name]
}

// createQueue adds a new, empty queue; the caller checked it does not exist.
func (s *state) createQueue(projectID, name string, meta map[string]json.RawMessage) *queue {
	p := s.projects[projectID]
	if p == nil {
		p = &project{name: projectID, queues: map[string]*queue{}, order: btree.NewG(btreeDegree, queueLess)}
		s.projects[projectID] = p
	}
	q := newQueue(projectID, name, meta)
	p.queues[name] = q
	p.order.ReplaceOrInsert(q)
	return q
}

// ensureQueue returns the queue, creating it lazily without metadata.
func (s *state) ensureQueue(projectID, name string) *queue {
	if q := s.queue(projectID, name); q != nil {
		return q
	}
	return s.createQueue(projectID, name, nil)
}

// deleteQueue removes a queue with its messages and claims.
func (s *state) deleteQueue(q *queue) {
	s.clearMessages(q)
	p := s.projects[q.project]
	delete(p.queues, q.name)
	p.order.Delete(q)
	if len(p.queues) == 0 {
		delete(s.projects, q.project)
	}
}

// clearMessages drops every message and claim of q.
func (s *state) clearMessages(q *queue) {
	q.msgs.Ascend(func(m *Message) bool {
		s.bodyBytes -= int64(len(m.Body))
		return true
	})
	q.msgs = btree.NewG(btreeDegree, msgLess)
	q.free = btree.NewG(btreeDegree, msgLess)
	q.exp = btree.NewG(btreeDegree, expLess)
	q.claims = map[string]*claim{}
	q.cexp = btree.NewG(btreeDegree, expLess)
	s.syncDue(q)
}

// sortedProjects returns the project ids in ascending order.
func (s *state) sortedProjects() []string {
	out := make([]string, 0, len(s.projects))
	for id := range s.projects {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// addMsg stores a new message and indexes it.
func (s *state) addMsg(q *queue, m *Message) {
	q.msgs.ReplaceOrInsert(m)
	if m.ClaimID == "" {
		q.free.ReplaceOrInsert(m)
	}
	q.exp.ReplaceOrInsert(expKey{m.Expires, m.ID})
	s.bodyBytes += int64(len(m.Body))
	s.syncDue(q)
}

// dropMsg removes a stored message from q, its indexes and its claim.
func (s *state) dropMsg(q *queue, m *Message) {
	q.msgs.Delete(m)
	q.free.Delete(m)
	q.exp.Delete(expKey{m.Expires, m.ID})
	s.bodyBytes -= int64(len(m.Body))
	if m.ClaimID != "" {
		if c := q.claims[m.ClaimID]; c != nil {
			q.claims[c.ID] = c.without(m.ID)
		}
	}
	s.syncDue(q)
}

// swapMsg replaces a stored message by nm (same ID) and fixes the indexes.
func (s *state) swapMsg(q *queue, old, nm *Message) {
	q.msgs.ReplaceOrInsert(nm)
	if nm.ClaimID == "" {
		q.free.ReplaceOrInsert(nm)
	} else if old.ClaimID == "" {
		q.free.Delete(old)
	}
	if old.Expires != nm.Expires {
		q.exp.Delete(expKey{old.Expires, old.ID})
		q.exp.ReplaceOrInsert(expKey{nm.Expires, nm.ID})
		s.syncDue(q)
	}
}

// getMsg looks a message up by id.
func (q *queue) getMsg(id string) *Message {
	m, _ := q.msgs.Get(&Message{ID: id})
	return m
}

// putClaim stores (or replaces) a claim and indexes its expiry.
func (s *state) putClaim(q *queue, c *claim) {
	if old := q.claims[c.ID]; old != nil {
		q.cexp.Delete(expKey{old.Expires, old.ID})
	}
	q.claims[c.ID] = c
	q.cexp.ReplaceOrInsert(expKey{c.Expires, c.ID})
	s.syncDue(q)
}

// without returns a copy of c that no longer lists message id.
func (c *claim) without(id string) *claim {
	nc := *c
	nc.MsgIDs = make([]string, 0, len(c.MsgIDs))
	for _, x := range c.MsgIDs {
		if x != id {
			nc.MsgIDs = append(nc.MsgIDs, x)
		}
	}
	return &nc
}

// nextDue is the earliest expiry of a message or claim of q.
func (q *queue) nextDue() (int64, bool) {
	var at int64
	on := false
	if k, ok := q.exp.Min(); ok {
		at, on = k.at, true
	}
	if k, ok := q.cexp.Min(); ok && (!on || k.at < at) {
		at, on = k.at, true
	}
	return at, on
}

// syncDue re-registers q in s.due after its expiry indexes changed.
func (s *state) syncDue(q *queue) {
	at, on := q.nextDue()
	if on == q.dueOn && at == q.dueAt {
		return
	}
	if q.dueOn {
		s.due.Delete(dueKey{at: q.dueAt, project: q.project, name: q.name})
	}
	if on {
		s.due.ReplaceOrInsert(dueKey{at: at, project: q.project, name: q.name, q: q})
	}
	q.dueAt, q.dueOn = at, on
}

// claimActive reports whether m is held by a claim that is active at now.
func claimActive(m *Message, now int64) bool {
	return m.ClaimID != "" && m.ClaimExpires > now
}

// available reports whether m can be listed as free, claimed or popped at
// now: unexpired, not actively claimed and (with delay handling on) not
// delayed.
func (q *queue) available(m *Message, now int64) bool {
	return m.Expires > now && !claimActive(m, now) && (q.cfg.delay <= 0 || m.AvailableAt <= now)
}

// view returns a copy of m as seen at now: claim fields are cleared unless
// the claim is active.
func view(m *Message, now int64) Message {
	v := *m
	if !claimActive(m, now) {
		v.ClaimID = ""
		v.ClaimExpires = 0
	}
	return v
}

// addSeconds returns t + secs seconds in nanoseconds, saturating instead of
// overflowing.
func addSeconds(t, secs int64) int64 {
	const maxInt64 = 1<<63 - 1
	if secs <= 0 {
		return t
	}
	if secs > maxInt64/1_000_000_000 {
		return maxInt64
	}
	d := secs * 1e9
	if t > maxInt64-d {
		return maxInt64
	}
	return t + d
}
