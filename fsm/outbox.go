package fsm

// The outbox is the durable half of push delivery. Zaqar notifies at POST
// time; Herald instead records, at post time, one OutboxEntry per message
// posted to a source that has a live subscription, and the dispatcher
// delivers from there. The message itself may be deleted or popped at once:
// the entry (sharing its immutable body) stays until every subscription of
// the source has acknowledged past it (gcOutbox) or it expires with the
// message (sweepOutbox). Seqs are per source, start at 1 and never repeat
// while the source exists.

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

func entryLess(a, b *OutboxEntry) bool { return a.Seq < b.Seq }

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

// appendOutbox records that m was posted to src. delay is non-nil only when
// the queue has a truthy _default_message_delay (Zaqar's payload rule).
func (s *state) appendOutbox(src *source, m *Message, delay *int64) {
	src.tail++
	s.addEntry(src, &OutboxEntry{
		Seq:       src.tail,
		MessageID: m.ID,
		Body:      m.Body,
		TTL:       m.TTL,
		Delay:     delay,
		Created:   m.Created,
		Expires:   m.Expires,
	})
}

// addEntry stores an entry (Seq <= tail) and indexes it.
func (s *state) addEntry(src *source, e *OutboxEntry) {
	src.outbox.ReplaceOrInsert(e)
	src.oexp.ReplaceOrInsert(seqExpKey{e.Expires, e.Seq})
	src.bytes += int64(len(e.Body))
	s.outboxBytes += int64(len(e.Body))
	if src.byID != nil {
		src.byID[e.MessageID] = e.Seq
	}
	s.syncSrcDue(src)
}

// dropEntry removes a stored entry.
func (s *state) dropEntry(src *source, e *OutboxEntry) {
	src.outbox.Delete(e)
	src.oexp.Delete(seqExpKey{e.Expires, e.Seq})
	src.bytes -= int64(len(e.Body))
	s.outboxBytes -= int64(len(e.Body))
	if src.byID != nil {
		delete(src.byID, e.MessageID)
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
