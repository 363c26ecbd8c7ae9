package fsm

// The outbox is the durable half of push delivery. Zaqar notifies at POST
// time; Herald instead records, at post time, one OutboxEntry per message
// posted to a source that has a live subscription, and the dispatcher
// delivers from there. The message itself may be deleted or popped at once:
// the entry (sharing its immutable body) stays until every subscription of
// the source has acknowledged past it (gcOutbox) or it expires with the
// message (sweepOutbox). Seqs are per source, start at 1 and never repeat
// while the source exists.
//
// Memory budget: an entry of a queue source shares its body with its
// message. While that message is stored, the body counts once, in
// bodyBytes; outboxBytes (and the source's bytes) count the bodies of the
// other entries: topic messages, and entries whose message was deleted,
// popped, swept or moved. The hand-over happens in releaseShared (message
// gone first) and dropEntry (entry gone first).

// seqExpKey orders outbox entries by expiry; seqs break ties.
type seqExpKey struct {
	at  int64
	seq uint64
}

func seqExpLess(a, b seqExpKey) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// entryLess orders a source's entries by Seq. A probe without a Seq (0)
// compares by MessageID instead: within a source, entries get their seqs
// and their messages their (fixed-width, minted) ids in the same post
// order, so both orders agree and entryByID finds an entry by id in
// O(log n) without an index (restore checks the agreement).
func entryLess(a, b *OutboxEntry) bool {
	if a.Seq != 0 && b.Seq != 0 {
		return a.Seq < b.Seq
	}
	return a.MessageID < b.MessageID
}

// entryByID returns the entry of message id in src.
func (src *source) entryByID(id string) (*OutboxEntry, bool) {
	if !ValidID(id) {
		return nil, false
	}
	return src.outbox.Get(&OutboxEntry{MessageID: id})
}

// srcDueKey registers a source with outbox entries in state.srcDue.
type srcDueKey struct {
	at  int64
	key sourceKey
	src *source
}

func srcDueLess(a, b srcDueKey) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return sourceKeyLess(a.key, b.key)
}

// liveSource returns the source when it has a subscription unexpired at
// now (only then do posts append to its outbox), else nil. O(log S).
func (s *state) liveSource(key sourceKey, now int64) *source {
	src := s.sources[key]
	if src == nil {
		return nil
	}
	if k, ok := src.sexp.Max(); ok && k.at > now {
		return src
	}
	return nil
}

// appendOutbox records that m (whose id text is id) was posted to src; the
// entry shares m's body. delay is non-nil only when the queue has a truthy
// _default_message_delay (Zaqar's payload rule).
func (s *state) appendOutbox(src *source, id string, m *msg, delay *int64) {
	src.tail++
	s.addEntry(src, &OutboxEntry{
		Seq:       src.tail,
		MessageID: id,
		Body:      m.bodyBytes(),
		TTL:       m.ttl,
		Delay:     delay,
		Created:   m.created,
		Expires:   m.expires,
	})
}

// addEntry stores an entry (Seq <= tail, MessageID above every stored
// entry's) and indexes it. Its body counts in outboxBytes unless its
// message is stored; that message is then marked outboxed.
func (s *state) addEntry(src *source, e *OutboxEntry) {
	src.outbox.ReplaceOrInsert(e)
	src.oexp.ReplaceOrInsert(seqExpKey{e.Expires, e.Seq})
	if q, m := s.sharedMsg(src, e); m == nil {
		s.countEntry(src, int64(len(e.Body)))
	} else if !m.outboxed {
		q.msgs.update(m.id(), func(x *msg) { x.outboxed = true })
	}
	s.syncSrcDue(src)
}

// dropEntry removes a stored entry.
func (s *state) dropEntry(src *source, e *OutboxEntry) {
	src.outbox.Delete(e)
	src.oexp.Delete(seqExpKey{e.Expires, e.Seq})
	if _, m := s.sharedMsg(src, e); m == nil {
		s.countEntry(src, -int64(len(e.Body)))
	}
}

// countEntry adds n body bytes of entries that no stored message shares.
func (s *state) countEntry(src *source, n int64) {
	src.bytes += n
	s.outboxBytes += n
}

// sharedMsg returns the stored message whose body e shares, if any: the
// message of a queue source's entry while it is still in its queue. The
// pointer is valid until the queue changes.
func (s *state) sharedMsg(src *source, e *OutboxEntry) (*queue, *msg) {
	if src.key.kind != SourceQueue {
		return nil, nil
	}
	q := s.queue(src.key.project, src.key.name)
	if q == nil {
		return nil, nil
	}
	return q, q.getMsg(e.MessageID)
}

// releaseShared is called when m, marked outboxed, has left q: if its
// entry is still stored, the entry's body counts from now on.
func (s *state) releaseShared(q *queue, m *msg) {
	src := s.sources[sourceKey{q.project, SourceQueue, q.name}]
	if src == nil {
		return
	}
	if _, ok := src.entryByID(m.id().String()); ok {
		s.countEntry(src, int64(len(m.body)))
	}
}

// gcOutbox removes the entries every subscription of src has passed (Seq <=
// the smallest cursor). A source without subscriptions is removed whole,
// unless it is a live topic's: its entries then stay until they expire.
func (s *state) gcOutbox(src *source) {
	k, ok := src.cursors.Min()
	if !ok {
		if !s.keepsSource(src) {
			s.removeSource(src)
		}
		return
	}
	for {
		e, ok := src.outbox.Min()
		if !ok || e.Seq > k.cursor {
			break
		}
		s.dropEntry(src, e)
	}
	s.syncSrcDue(src)
}

// sweepOutbox removes entries expired at now, visiting sources in (earliest
// expiry, key) order; at most limit entries (0 = no bound). O(1) when
// nothing is due.
func (s *state) sweepOutbox(now int64, limit int) int {
	n := 0
	for limit <= 0 || n < limit {
		d, ok := s.srcDue.Min()
		if !ok || d.at > now {
			break
		}
		src := d.src
		for limit <= 0 || n < limit {
			k, ok := src.oexp.Min()
			if !ok || k.at > now {
				break
			}
			if e, ok := src.outbox.Get(&OutboxEntry{Seq: k.seq}); ok {
				s.dropEntry(src, e)
			} else { // cannot happen: oexp mirrors outbox
				src.oexp.Delete(k)
			}
			n++
		}
		s.syncSrcDue(src)
	}
	return n
}

// syncSrcDue re-registers src in s.srcDue after its expiry index changed.
func (s *state) syncSrcDue(src *source) {
	var at int64
	k, on := src.oexp.Min()
	if on {
		at = k.at
	}
	if on == src.dueOn && at == src.dueAt {
		return
	}
	if src.dueOn {
		s.srcDue.Delete(srcDueKey{at: src.dueAt, key: src.key})
	}
	if on {
		s.srcDue.ReplaceOrInsert(srcDueKey{at: at, key: src.key, src: src})
	}
	src.dueAt, src.dueOn = at, on
}

// OutboxEntries returns up to limit (0 = DefaultPageSize) entries of a
// source with Seq > afterSeq that are unexpired at now, in Seq order. Seqs
// may have gaps (expired entries). Cost: O(log n + page + expired skipped).
func (s *State) OutboxEntries(project, kind, source string, afterSeq uint64, limit int, now int64) []OutboxEntry {
	src := s.st.sources[sourceKey{project, kind, source}]
	if src == nil || afterSeq >= src.tail {
		return nil
	}
	if limit <= 0 {
		limit = DefaultPageSize
	}
	var out []OutboxEntry
	src.outbox.AscendGreaterOrEqual(&OutboxEntry{Seq: afterSeq + 1}, func(e *OutboxEntry) bool {
		if e.Expires > now {
			v := *e
			if e.Delay != nil { // the caller may keep and modify its copy
				d := *e.Delay
				v.Delay = &d
			}
			out = append(out, v)
		}
		return len(out) < limit
	})
	return out
}

// OutboxTail returns the Seq of the last entry appended to a source's
// outbox (0 when the source has no subscriptions).
func (s *State) OutboxTail(project, kind, source string) uint64 {
	if src := s.st.sources[sourceKey{project, kind, source}]; src != nil {
		return src.tail
	}
	return 0
}
