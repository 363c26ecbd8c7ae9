package fsm

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/google/btree"
)

// btreeDegree is the degree of every btree in the state (up to 63 items per
// node: shallow trees, cheap copy-on-write node copies).
const btreeDegree = 32

// state is the whole replicated state. It is only touched with FSM.mu held
// (for writing by apply and restore code, for reading by State methods).
//
// Stored values reachable from a snapshot capture are immutable: a *claim
// is replaced, never modified, and a queue's metadata map is replaced on
// PATCH. Messages live by value in copy-on-write trees (msgtree.go), which
// copy a node before changing it once a capture shares it. Trees and maps
// owned by the live state are mutated.
type state struct {
	maxBody  int64               // Config.MaxBodyBytes (0 = unlimited)
	projects map[string]*project // project id -> its queues
	// due orders the queues that hold something that will expire (a message
	// or a claim) by their earliest such time, so Sweep finds work in
	// O(log Q) and does nothing when nothing is due. Derived, not snapshotted.
	due       *btree.BTreeG[dueKey]
	bodyBytes int64  // total bytes of stored message bodies (under the memory budget)
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
	outboxBytes int64                    // body bytes of outbox entries no stored message shares (also under the budget)
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

// queue is one queue with its messages and claims. msgs and claims are the
// source of truth; cexp is an index derived from claims. msgs also answers
// "which messages have no claim" and "which expires first" (msgtree.go).
type queue struct {
	project string
	name    string
	meta    map[string]json.RawMessage // stored metadata; replaced, never mutated in place
	cfg     queueCfg                   // derived from meta

	msgs   *msgTree              // all messages by id (= post order)
	bytes  int64                 // body bytes of msgs
	claims map[string]*claim     // claim id -> claim (values immutable)
	cexp   *btree.BTreeG[expKey] // claims by (Expires, ID)

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
		msgs:    newMsgTree(),
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
// It keeps clones of the names, which may share a raft entry (decode.go).
func (s *state) createQueue(projectID, name string, meta map[string]json.RawMessage) *queue {
	projectID, name = strings.Clone(projectID), strings.Clone(name)
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

// clearMessages drops every message and claim of q. The outbox entries of
// q's source that shared a body with one of them count from now on.
func (s *state) clearMessages(q *queue) {
	if src := s.sources[sourceKey{q.project, SourceQueue, q.name}]; src != nil {
		src.outbox.Ascend(func(e *OutboxEntry) bool {
			if q.getMsg(e.MessageID) != nil {
				s.countEntry(src, int64(len(e.Body)))
			}
			return true
		})
	}
	s.bodyBytes -= q.bytes
	q.bytes = 0
	q.msgs = newMsgTree()
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

// addMsg stores a new message.
func (s *state) addMsg(q *queue, m msg) {
	q.msgs.insert(m)
	q.bytes += int64(len(m.body))
	s.bodyBytes += int64(len(m.body))
	s.syncDue(q)
}

// dropMsg removes a stored message from q and from its claim, and returns
// it.
func (s *state) dropMsg(q *queue, id mid) (msg, bool) {
	m, ok := q.msgs.remove(id)
	if !ok {
		return msg{}, false
	}
	q.bytes -= int64(len(m.body))
	s.bodyBytes -= int64(len(m.body))
	if m.outboxed {
		s.releaseShared(q, &m)
	}
	if m.claimed {
		if c := q.claims[m.claimID().String()]; c != nil {
			q.claims[c.ID] = c.without(id.String())
		}
	}
	s.syncDue(q)
	return m, true
}

// updateMsg changes a stored message in place (fn must keep its id) and
// returns the message afterwards.
func (s *state) updateMsg(q *queue, id mid, fn func(*msg)) (msg, bool) {
	var out msg
	if !q.msgs.update(id, func(m *msg) { fn(m); out = *m }) {
		return msg{}, false
	}
	s.syncDue(q)
	return out, true
}

// getMsg looks a message up by the text of its id. The result is valid
// until the next change of q and must not be written through.
func (q *queue) getMsg(id string) *msg {
	n, ok := parseID(id)
	if !ok {
		return nil
	}
	m, _ := q.msgs.get(n)
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

// without returns a copy of c that no longer lists message id. When id is
// the first or last listed (messages are usually deleted in claim order),
// the copy shares c's array: both are immutable.
func (c *claim) without(id string) *claim {
	nc := *c
	switch n := len(c.MsgIDs); {
	case n > 0 && c.MsgIDs[0] == id:
		nc.MsgIDs = c.MsgIDs[1:n:n]
		return &nc
	case n > 0 && c.MsgIDs[n-1] == id:
		nc.MsgIDs = c.MsgIDs[: n-1 : n-1]
		return &nc
	}
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
	at, on := q.msgs.minExp()
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

// available reports whether m can be listed as free, claimed or popped at
// now: unexpired, not actively claimed and (with delay handling on) not
// delayed.
func (q *queue) available(m *msg, now int64) bool {
	return m.expires > now && !m.active(now) && (q.cfg.delay <= 0 || m.availAt <= now)
}

// addSeconds returns t + secs seconds in nanoseconds, saturating instead of
// overflowing.
func addSeconds(t, secs int64) int64 {
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
