package fsm

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// MaxRecentFailures is how many failed deliveries a subscription keeps for
// visibility (SubscriptionInfo.RecentFailures), newest last.
const MaxRecentFailures = 20

// maxErrorText bounds the error texts an Ack may store (bytes, cut at a
// rune boundary), so one chatty worker cannot bloat the state.
const maxErrorText = 1024

// The subscription option KeyDeadLetterQueue ("_dead_letter_queue", a
// Herald extension; Zaqar has no such subscription option) names a queue of
// the same project that receives a copy of every entry whose delivery
// failed for good. It is active when its value is a JSON string that is a
// valid queue name other than the subscription's own source queue.

// assign records the coordinator's decisions, fenced by a strictly growing
// epoch so that a deposed leader's late Assign cannot win.
func (s *state) assign(_ *applyCtx, p *Assign) Result {
	if p.Epoch <= s.assignEpoch {
		return errResult(Errorf(CodeConflict, "stale epoch: %d is not greater than the current assignment epoch %d", p.Epoch, s.assignEpoch))
	}
	s.assignEpoch = p.Epoch
	for _, ch := range p.Changes {
		sub := s.subs[ch.SubscriptionID]
		if sub == nil {
			continue
		}
		nw := *sub
		nw.Owner = ch.Owner
		nw.OwnerEpoch = p.Epoch
		s.putSub(s.sources[sub.key()], sub, &nw)
	}
	return Result{}
}

// ack applies a worker's progress report (see Ack).
func (s *state) ack(c *applyCtx, p *Ack) Result {
	sub := s.subs[p.SubscriptionID]
	if sub == nil || sub.Expires <= c.now {
		return errResult(errNoSubscription(p.SubscriptionID))
	}
	if sub.Owner == "" || p.Owner != sub.Owner || p.Epoch != sub.OwnerEpoch {
		return errResult(Errorf(CodeForbidden, "not the owner: subscription %s is owned by %q at epoch %d, not by %q at epoch %d",
			sub.ID, sub.Owner, sub.OwnerEpoch, p.Owner, p.Epoch))
	}
	src := s.sources[sub.key()]
	nw := *sub
	nw.Cursor = min(max(sub.Cursor, p.Cursor), src.tail)
	nw.Delivered += p.Delivered
	nw.Skipped += p.Skipped
	nw.ConfirmSent = max(sub.ConfirmSent, min(p.ConfirmSent, sub.ConfirmRequested))
	nw.Failed += uint64(len(p.Failed))
	if p.LastError != "" {
		nw.LastError = clipText(p.LastError)
		nw.LastErrorAt = p.LastErrorAt
		if nw.LastErrorAt == 0 {
			nw.LastErrorAt = c.now
		}
	}
	var dlqIDs []string
	if len(p.Failed) > 0 {
		recent := append([]FailureRecord(nil), sub.Recent...)
		for _, f := range p.Failed {
			rec := FailureRecord{Seq: f.Seq, MessageID: f.MessageID, Error: clipText(f.Error), Attempts: f.Attempts, At: c.now}
			rec.DeadLetterID, rec.DeadLetterError = s.deadLetterEntry(c, src, sub, f)
			if rec.DeadLetterID != "" {
				dlqIDs = append(dlqIDs, rec.DeadLetterID)
			}
			recent = append(recent, rec)
		}
		if len(recent) > MaxRecentFailures {
			recent = append([]FailureRecord(nil), recent[len(recent)-MaxRecentFailures:]...)
		}
		nw.Recent = recent
	}
	s.putSub(src, sub, &nw)
	s.gcOutbox(src)
	return Result{Cursor: nw.Cursor, IDs: dlqIDs}
}

// subscriptionDLQ returns the dead-letter queue named by a subscription's
// options, if any.
func subscriptionDLQ(sub *subscription) (string, bool) {
	raw, ok := sub.Options[KeyDeadLetterQueue]
	if !ok {
		return "", false
	}
	var name string
	if json.Unmarshal(raw, &name) != nil || !ValidQueueName(name) {
		return "", false
	}
	return name, true
}

// deadLetterEntry posts the body of the failed entry f to the
// subscription's dead-letter queue (created lazily) as a new message with
// an id minted from the entry: ttl = the entry's remaining ttl (rounded up)
// or, if it has expired, the queue's default ttl. Like any post, it is
// subject to the memory budget, honours the queue's default delay and feeds
// the queue's own subscribers. It returns the new id, or why none was made
// although a dead-letter queue is configured.
func (s *state) deadLetterEntry(c *applyCtx, src *source, sub *subscription, f FailedDelivery) (id, why string) {
	dlq, ok := subscriptionDLQ(sub)
	if !ok {
		return "", ""
	}
	if src.key.kind == SourceQueue && dlq == src.key.name {
		return "", "the dead-letter queue is the subscription's own source"
	}
	e, ok := src.outbox.Get(&OutboxEntry{Seq: f.Seq})
	if !ok || e.MessageID != f.MessageID {
		return "", fmt.Sprintf("outbox entry %d of message %s is no longer stored", f.Seq, f.MessageID)
	}
	q := s.queue(src.key.project, dlq)
	var cfg queueCfg
	if q != nil {
		cfg = q.cfg
	}
	var ttl int64
	if e.Expires > c.now {
		ttl = (e.Expires - c.now + 1e9 - 1) / 1e9
	} else {
		ttl = int64(DefaultMessageTTL)
		if cfg.defaultTTL > 0 {
			ttl = cfg.defaultTTL
		}
	}
	dsrc := s.liveSource(sourceKey{src.key.project, SourceQueue, dlq}, c.now)
	need := int64(len(e.Body)) // the copy's own outbox entry shares its body
	if s.maxBody > 0 && s.budgetUsed()+need > s.maxBody {
		return "", fmt.Sprintf("memory budget exhausted: %d more bytes would exceed the limit of %d bytes", need, s.maxBody)
	}
	if q == nil {
		q = s.createQueue(src.key.project, dlq, nil)
	}
	nid := c.mintID()
	m := msg{
		body:     stringOf(e.Body), // shared with the entry, immutable
		idx:      nid.idx,
		n:        nid.n,
		ttl:      ttl,
		created:  c.now,
		expires:  addSeconds(c.now, ttl),
		availAt:  addSeconds(c.now, cfg.delay),
		outboxed: dsrc != nil,
	}
	s.addMsg(q, m)
	text := nid.String()
	if dsrc != nil {
		var delay *int64
		if cfg.delay > 0 {
			d := cfg.delay
			delay = &d
		}
		s.appendOutbox(dsrc, text, &m, delay)
	}
	return text, ""
}

// clipText bounds an error text to maxErrorText bytes at a rune boundary.
func clipText(t string) string {
	if len(t) <= maxErrorText {
		return t
	}
	i := maxErrorText
	for i > 0 && !utf8.RuneStart(t[i]) {
		i--
	}
	return t[:i]
}

// AssignmentEpoch returns the epoch of the last accepted Assign (0 before
// the first).
func (s *State) AssignmentEpoch() uint64 { return s.st.assignEpoch }
