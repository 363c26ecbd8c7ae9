package fsm

import (
	"encoding/json"
	"sort"

	"github.com/google/btree"
)

// A subscription listens on a source: a (project, kind, name) triple where
// kind is SourceQueue or SourceTopic. Subscriptions live beside the queues,
// not inside them: deleting a queue keeps its subscriptions (§4.8), and
// topics reuse everything here with kind SourceTopic.
//
// Stored *subscription values are immutable (a change builds a copy and
// putSub swaps it in), so a snapshot capture may share them.

// sourceKey names a source.
type sourceKey struct {
	project, kind, name string
}

func sourceKeyLess(a, b sourceKey) bool {
	if a.project != b.project {
		return a.project < b.project
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.name < b.name
}

// source holds the subscriptions of one source and its outbox. A queue
// source exists exactly while it has at least one stored subscription:
// removing the last one drops the outbox too (nobody is left to deliver
// to). A topic source also exists while its topic does (keepsSource): the
// outbox holds the topic's messages.
type source struct {
	key          sourceKey
	subs         *btree.BTreeG[string]    // subscription ids, ordered (ListSubscriptions)
	bySubscriber map[string]string        // subscriber URI -> id (the unique key)
	sexp         *btree.BTreeG[expKey]    // subscriptions by expiry; Max() answers "is any alive?"
	cursors      *btree.BTreeG[cursorKey] // subscriptions by cursor; Min() is the outbox GC horizon

	// Outbox (outbox.go).
	outbox *btree.BTreeG[*OutboxEntry] // entries by Seq (the source of truth)
	oexp   *btree.BTreeG[seqExpKey]    // entries by (Expires, Seq)
	tail   uint64                      // Seq of the last entry ever appended
	bytes  int64                       // body bytes of the entries
	dueAt  int64                       // key under which the source is registered in state.srcDue
	dueOn  bool
}

// cursorKey orders a source's subscriptions by cursor.
type cursorKey struct {
	cursor uint64
	id     string
}

func cursorLess(a, b cursorKey) bool {
	if a.cursor != b.cursor {
		return a.cursor < b.cursor
	}
	return a.id < b.id
}

func stringLess(a, b string) bool { return a < b }

// subscription is a stored subscription with its delivery state; it is
// also the snapshot record. Values are immutable once stored.
type subscription struct {
	ID         string                     `msgpack:"i"`
	Project    string                     `msgpack:"p"`
	Kind       string                     `msgpack:"k"`
	Source     string                     `msgpack:"s"`
	Subscriber string                     `msgpack:"u"`
	Options    map[string]json.RawMessage `msgpack:"o,omitempty"` // nil when empty
	TTL        int64                      `msgpack:"t"`
	Created    int64                      `msgpack:"c"`
	Expires    int64                      `msgpack:"x"`
	Confirmed  bool                       `msgpack:"f,omitempty"`
	Secret     []byte                     `msgpack:"h,omitempty"` // nil when empty

	Owner       string          `msgpack:"w,omitempty"`
	OwnerEpoch  uint64          `msgpack:"e,omitempty"`
	Cursor      uint64          `msgpack:"r,omitempty"`
	Delivered   uint64          `msgpack:"d,omitempty"`
	Failed      uint64          `msgpack:"a,omitempty"`
	Skipped     uint64          `msgpack:"y,omitempty"`
	LastError   string          `msgpack:"l,omitempty"`
	LastErrorAt int64           `msgpack:"z,omitempty"`
	Recent      []FailureRecord `msgpack:"g,omitempty"` // oldest first, at most MaxRecentFailures; nil when empty

	// Confirmation notifications (ZAQAR-API.md §5.3): ConfirmRequested
	// counts the requests (create, duplicate unconfirmed create, unconfirm
	// of a confirmed subscription); ConfirmSent is the request the owner
	// last reported as sent (Ack.ConfirmSent). A request is pending while
	// ConfirmSent < ConfirmRequested; ConfirmUnsubscribe tells the kind of
	// the latest request.
	ConfirmRequested   uint64 `msgpack:"cq,omitempty"`
	ConfirmSent        uint64 `msgpack:"cs,omitempty"`
	ConfirmUnsubscribe bool   `msgpack:"cu,omitempty"`

	// SubscriberProject is the project that made a topic subscription when
	// it is not the topic's owner (Project); "" = the owner.
	SubscriberProject string `msgpack:"sp,omitempty"`
}

func (sub *subscription) key() sourceKey { return sourceKey{sub.Project, sub.Kind, sub.Source} }

func newSource(key sourceKey) *source {
	return &source{
		key:          key,
		subs:         btree.NewG(btreeDegree, stringLess),
		bySubscriber: map[string]string{},
		sexp:         btree.NewG(btreeDegree, expLess),
		cursors:      btree.NewG(btreeDegree, cursorLess),
		outbox:       btree.NewG(btreeDegree, entryLess),
		oexp:         btree.NewG(btreeDegree, seqExpLess),
	}
}

// ensureSource returns the source, creating an empty one (tail 0).
func (s *state) ensureSource(key sourceKey) *source {
	src := s.sources[key]
	if src == nil {
		src = newSource(key)
		s.sources[key] = src
	}
	return src
}

// putSub stores nw in src, replacing old (same id; nil for a new
// subscription), and maintains every index.
func (s *state) putSub(src *source, old, nw *subscription) {
	if old != nil {
		if old.Expires != nw.Expires {
			s.subExp.Delete(expKey{old.Expires, old.ID})
			src.sexp.Delete(expKey{old.Expires, old.ID})
		}
		if old.Cursor != nw.Cursor {
			src.cursors.Delete(cursorKey{old.Cursor, old.ID})
		}
		if old.Subscriber != nw.Subscriber {
			delete(src.bySubscriber, old.Subscriber)
		}
	} else {
		s.subIDs.ReplaceOrInsert(nw.ID)
		src.subs.ReplaceOrInsert(nw.ID)
	}
	s.subs[nw.ID] = nw
	s.subExp.ReplaceOrInsert(expKey{nw.Expires, nw.ID})
	src.sexp.ReplaceOrInsert(expKey{nw.Expires, nw.ID})
	src.cursors.ReplaceOrInsert(cursorKey{nw.Cursor, nw.ID})
	src.bySubscriber[nw.Subscriber] = nw.ID
}

// dropSub removes a subscription with its delivery state, then collects
// the outbox entries nobody needs any more (all of them, and the source
// itself, when it was the last subscription).
func (s *state) dropSub(sub *subscription) {
	src := s.sources[sub.key()]
	s.unindexSub(src, sub)
	s.gcOutbox(src)
}

// unindexSub removes sub from the global and per-source indexes.
func (s *state) unindexSub(src *source, sub *subscription) {
	delete(s.subs, sub.ID)
	s.subIDs.Delete(sub.ID)
	s.subExp.Delete(expKey{sub.Expires, sub.ID})
	src.subs.Delete(sub.ID)
	src.sexp.Delete(expKey{sub.Expires, sub.ID})
	src.cursors.Delete(cursorKey{sub.Cursor, sub.ID})
	if src.bySubscriber[sub.Subscriber] == sub.ID {
		delete(src.bySubscriber, sub.Subscriber)
	}
}

// removeSource forgets a source and its outbox in O(1) (plus its due
// registration); the caller removed its subscriptions.
func (s *state) removeSource(src *source) {
	s.outboxBytes -= src.bytes
	if src.dueOn {
		s.srcDue.Delete(srcDueKey{at: src.dueAt, key: src.key})
	}
	delete(s.sources, src.key)
}

// sortedSources returns the source keys in (project, kind, name) order.
func (s *state) sortedSources() []sourceKey {
	out := make([]sourceKey, 0, len(s.sources))
	for k := range s.sources {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return sourceKeyLess(out[i], out[j]) })
	return out
}

// checkSource guards the names of a subscription command.
func checkSource(projectID, kind, name string) *Error {
	if kind != SourceQueue && kind != SourceTopic {
		return Errorf(CodeBadRequest, "Unknown subscription source kind %q: must be %q or %q.", kind, SourceQueue, SourceTopic)
	}
	return checkNames(projectID, name)
}

// checkSubscriptionTTL rejects negative TTLs; expiry saturates, so any
// other value is safe (Zaqar has no upper bound).
func checkSubscriptionTTL(ttl int64) *Error {
	if ttl < 0 {
		return Errorf(CodeBadRequest, "Subscription ttl %d must not be negative.", ttl)
	}
	return nil
}

// Zaqar's wording (storage errors SubscriptionAlreadyExists and
// SubscriptionDoesNotExist).
const msgSubscriptionExists = "Such subscription already exists. Subscriptions are unique by project + queue + subscriber URI."

func errNoSubscription(id string) *Error {
	return Errorf(CodeNotFound, "Subscription %s does not exist", id)
}

// normOptions stores empty options as nil (one canonical form).
func normOptions(o map[string]json.RawMessage) map[string]json.RawMessage {
	if len(o) == 0 {
		return nil
	}
	return copyMeta(o)
}

// subscriptionCreate follows §1.5.1: the queue is created lazily first, an
// unexpired duplicate is returned (unconfirmed) or refused (confirmed), an
// expired but not yet swept duplicate is replaced.
func (s *state) subscriptionCreate(c *applyCtx, p *SubscriptionCreate) Result {
	if err := checkSource(p.Project, p.SourceKind, p.Source); err != nil {
		return errResult(err)
	}
	if p.SourceKind == SourceQueue {
		s.ensureQueue(p.Project, p.Source)
	}
	subscriberProject := ""
	if p.SourceKind == SourceTopic {
		if err := s.topicSubscribeGate(p); err != nil {
			return errResult(err)
		}
		if p.SubscriberProject != p.Project {
			subscriberProject = p.SubscriberProject
		}
	}
	if p.Subscriber == "" {
		return errResult(Errorf(CodeBadRequest, "Missing parameter subscriber in body."))
	}
	if err := checkSubscriptionTTL(p.TTL); err != nil {
		return errResult(err)
	}
	key := sourceKey{p.Project, p.SourceKind, p.Source}
	if src := s.sources[key]; src != nil {
		if id, ok := src.bySubscriber[p.Subscriber]; ok {
			old := s.subs[id]
			if old.Expires > c.now {
				if old.SubscriberProject != subscriberProject {
					return errResult(Errorf(CodeConflict, "This subscriber is already subscribed to %s %s by another project.", p.SourceKind, p.Source))
				}
				if old.Confirmed {
					return Result{Code: CodeConflict, Msg: msgSubscriptionExists, SubscriptionID: id}
				}
				// Zaqar sends the confirmation again (§5.3 step 1); only
				// the request marker changes.
				nw := *old
				nw.ConfirmRequested++
				nw.ConfirmUnsubscribe = false
				s.putSub(src, old, &nw)
				return Result{SubscriptionID: id}
			}
			s.dropSub(old)
		}
	}
	src := s.ensureSource(key)
	sub := &subscription{
		ID:         c.mint(),
		Project:    p.Project,
		Kind:       p.SourceKind,
		Source:     p.Source,
		Subscriber: p.Subscriber,
		Options:    normOptions(p.Options),
		TTL:        p.TTL,
		Created:    c.now,
		Expires:    addSeconds(c.now, p.TTL),
		Cursor:     src.tail, // receives what is posted from now on

		ConfirmRequested: 1, // the subscription confirmation (sent only with require_confirmation)

		SubscriberProject: subscriberProject,
	}
	if len(p.Secret) > 0 {
		sub.Secret = append([]byte(nil), p.Secret...)
	}
	s.putSub(src, nil, sub)
	if p.SourceKind == SourceTopic {
		// A topic keeps messages posted while nobody subscribed; the new
		// subscription starts after them, so they are now behind every
		// cursor.
		s.gcOutbox(src)
	}
	return Result{Created: true, SubscriptionID: sub.ID}
}

// liveSub returns the unexpired subscription id of the given source.
func (s *state) liveSub(projectID, kind, name, id string, now int64) *subscription {
	sub := s.subs[id]
	if sub == nil || sub.Project != projectID || sub.Kind != kind || sub.Source != name || sub.Expires <= now {
		return nil
	}
	return sub
}

// subscriptionUpdate follows §1.5.4. Everything is checked before anything
// changes.
func (s *state) subscriptionUpdate(c *applyCtx, p *SubscriptionUpdate) Result {
	sub := s.liveSub(p.Project, p.SourceKind, p.Source, p.ID, c.now)
	if sub == nil {
		return errResult(errNoSubscription(p.ID))
	}
	if p.TTL != nil {
		if err := checkSubscriptionTTL(*p.TTL); err != nil {
			return errResult(err)
		}
	}
	src := s.sources[sub.key()]
	nw := *sub
	if p.Subscriber != nil && *p.Subscriber != sub.Subscriber {
		if *p.Subscriber == "" {
			return errResult(Errorf(CodeBadRequest, "The subscriber may not be empty."))
		}
		if sub.Kind == SourceTopic {
			if err := s.topicProtocolGate(sub, *p.Subscriber); err != nil {
				return errResult(err)
			}
		}
		if id, ok := src.bySubscriber[*p.Subscriber]; ok {
			other := s.subs[id]
			if other.Expires > c.now {
				return errResult(Errorf(CodeConflict, msgSubscriptionExists))
			}
			s.dropSub(other) // expired, not yet swept: replaced (src keeps sub, so it stays)
		}
		nw.Subscriber = *p.Subscriber
	}
	if p.TTL != nil {
		nw.TTL = *p.TTL
		nw.Expires = addSeconds(c.now, *p.TTL)
	}
	if p.Options != nil {
		nw.Options = normOptions(p.Options)
	}
	s.putSub(src, sub, &nw)
	return Result{}
}

// subscriptionDelete removes a subscription of the source, expired or not;
// anything else is a successful no-op (§1.5.5).
func (s *state) subscriptionDelete(_ *applyCtx, p *SubscriptionDelete) Result {
	sub := s.subs[p.ID]
	if sub != nil && sub.Project == p.Project && sub.Kind == p.SourceKind && sub.Source == p.Source {
		s.dropSub(sub)
	}
	return Result{}
}

// subscriptionConfirm sets the confirmed flag, matching project and id only.
func (s *state) subscriptionConfirm(c *applyCtx, p *SubscriptionConfirm) Result {
	sub := s.subs[p.ID]
	if sub == nil || sub.Project != p.Project || sub.Expires <= c.now {
		return errResult(errNoSubscription(p.ID))
	}
	if sub.Confirmed != p.Confirmed {
		nw := *sub
		nw.Confirmed = p.Confirmed
		if p.Confirmed {
			// Confirmed: a still pending request is moot.
			nw.ConfirmSent = nw.ConfirmRequested
		} else {
			// true -> false: an UnsubscribeConfirmation is owed (§5.3 step 4).
			nw.ConfirmRequested++
			nw.ConfirmUnsubscribe = true
		}
		s.putSub(s.sources[sub.key()], sub, &nw)
	}
	return Result{}
}

// purgeSubscriptions deletes every subscription of a source (QueuePurge),
// with the source's outbox.
func (s *state) purgeSubscriptions(projectID, kind, name string) {
	src := s.sources[sourceKey{projectID, kind, name}]
	if src == nil {
		return
	}
	var ids []string
	src.subs.Ascend(func(id string) bool {
		ids = append(ids, id)
		return true
	})
	for _, id := range ids {
		s.unindexSub(src, s.subs[id])
	}
	if !s.keepsSource(src) {
		s.removeSource(src)
	}
}

// sweepSubscriptions removes subscriptions expired at now, earliest expiry
// first, at most limit of them (0 = no bound). Cost with nothing due: O(1).
func (s *state) sweepSubscriptions(now int64, limit int) int {
	n := 0
	for limit <= 0 || n < limit {
		k, ok := s.subExp.Min()
		if !ok || k.at > now {
			break
		}
		if sub := s.subs[k.id]; sub != nil {
			s.dropSub(sub)
		} else { // cannot happen: subExp mirrors subs
			s.subExp.Delete(k)
		}
		n++
	}
	return n
}

// info builds the read view of a stored subscription.
func (s *state) info(sub *subscription) SubscriptionInfo {
	var pending uint64
	if src := s.sources[sub.key()]; src != nil && src.tail > sub.Cursor {
		pending = src.tail - sub.Cursor
	}
	si := SubscriptionInfo{
		ID: sub.ID, Project: sub.Project, SourceKind: sub.Kind, Source: sub.Source,
		Subscriber: sub.Subscriber, Options: copyMeta(sub.Options), TTL: sub.TTL,
		Created: sub.Created, Expires: sub.Expires, Confirmed: sub.Confirmed,
		Owner: sub.Owner, OwnerEpoch: sub.OwnerEpoch, Cursor: sub.Cursor, Pending: pending,
		Delivered: sub.Delivered, FailedCount: sub.Failed, Skipped: sub.Skipped,
		LastError: sub.LastError, LastErrorAt: sub.LastErrorAt,
		ConfirmRequested: sub.ConfirmRequested, ConfirmSent: sub.ConfirmSent,
		ConfirmUnsubscribe: sub.ConfirmUnsubscribe,
		SubscriberProject:  sub.SubscriberProject,
	}
	if sub.Secret != nil {
		si.Secret = append([]byte(nil), sub.Secret...)
	}
	if sub.Recent != nil {
		si.RecentFailures = append([]FailureRecord(nil), sub.Recent...)
	}
	return si
}

// Subscription returns an unexpired subscription of the given source.
func (s *State) Subscription(project, kind, source, id string, now int64) (SubscriptionInfo, bool) {
	sub := s.st.liveSub(project, kind, source, id, now)
	if sub == nil {
		return SubscriptionInfo{}, false
	}
	return s.st.info(sub), true
}

// SubscriptionByID returns an unexpired subscription of the project,
// whatever its source (the confirm endpoint matches on project and id).
func (s *State) SubscriptionByID(project, id string, now int64) (SubscriptionInfo, bool) {
	sub := s.st.subs[id]
	if sub == nil || sub.Project != project || sub.Expires <= now {
		return SubscriptionInfo{}, false
	}
	return s.st.info(sub), true
}

// ListSubscriptions returns up to limit (0 = DefaultPageSize) unexpired
// subscriptions of a source with ids greater than marker, ordered by id
// (= creation order). Cost: O(log S + scanned).
func (s *State) ListSubscriptions(project, kind, source, marker string, limit int, now int64) []SubscriptionInfo {
	return s.listSubs(project, kind, source, marker, limit, now, func(*subscription) bool { return true })
}

// AllSubscriptions returns every unexpired subscription of every project
// and source, ordered by id, with its delivery state: what the dispatcher
// coordinator assigns and its workers deliver.
func (s *State) AllSubscriptions(now int64) []SubscriptionInfo {
	var out []SubscriptionInfo
	s.st.subIDs.Ascend(func(id string) bool {
		if sub := s.st.subs[id]; sub.Expires > now {
			out = append(out, s.st.info(sub))
		}
		return true
	})
	return out
}
