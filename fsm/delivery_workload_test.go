package fsm

import (
	"encoding/json"
	"fmt"
	"testing"
)

// ownerAt is what the workload last assigned a subscription to.
type ownerAt struct {
	owner string
	epoch uint64
}

// deliveryCommand returns one random subscription, assignment or ack
// command for TestDeterminism's workload.
func (w *workload) deliveryCommand(pr, q string) (CmdType, any) {
	kind := SourceQueue
	if w.rng.intn(8) == 0 {
		kind = SourceTopic
	}
	subscriber := w.pick([]string{"http://a", "http://b", "mailto:c@d"})
	options := []string{"", `{"_dead_letter_queue": "dlq"}`, `{"x": [1], "post_data": "$zaqar_message$"}`, `{"_dead_letter_queue": "q1"}`}
	ttls := []int64{0, 60, 600, 3000, 20000, 100000}
	recent := w.subs
	if len(recent) > 8 { // recent ids are more likely alive
		recent = recent[len(recent)-8:]
	}
	switch n := w.rng.intn(100); {
	case n < 20:
		return CmdSubscriptionCreate, &SubscriptionCreate{Project: pr, SourceKind: kind, Source: q, Subscriber: subscriber,
			TTL: ttls[w.rng.intn(len(ttls))], Options: metaOf(w.tb, w.pick(options)), Secret: []byte(fmt.Sprint(w.rng.next()))}
	case n < 28:
		p := &SubscriptionUpdate{Project: pr, SourceKind: kind, Source: q, ID: w.pick(recent)}
		if w.rng.intn(2) == 0 {
			p.Subscriber = &subscriber
		}
		if w.rng.intn(2) == 0 {
			p.TTL = i64(ttls[w.rng.intn(len(ttls))])
		}
		if w.rng.intn(2) == 0 {
			p.Options = metaOf(w.tb, w.pick(options))
			if p.Options == nil {
				p.Options = map[string]json.RawMessage{}
			}
		}
		return CmdSubscriptionUpdate, p
	case n < 33:
		return CmdSubscriptionDelete, &SubscriptionDelete{Project: pr, SourceKind: kind, Source: q, ID: w.pick(recent)}
	case n < 40:
		return CmdSubscriptionConfirm, &SubscriptionConfirm{Project: pr, ID: w.pick(recent), Confirmed: w.rng.intn(3) > 0}
	case n < 50:
		epoch := w.epoch + 1
		if w.rng.intn(8) == 0 {
			epoch = uint64(w.rng.intn(int(w.epoch) + 1)) // stale
		} else {
			w.epoch = epoch
		}
		changes := make([]Assignment, 1+w.rng.intn(3))
		for i := range changes {
			changes[i] = Assignment{SubscriptionID: w.pick(recent), Owner: w.pick([]string{"n1", "n2", "n3", ""})}
			if epoch == w.epoch {
				w.owners[changes[i].SubscriptionID] = ownerAt{changes[i].Owner, epoch}
			}
		}
		return CmdAssign, &Assign{Epoch: epoch, Changes: changes}
	default:
		id := w.pick(recent)
		own := w.owners[id]
		if w.rng.intn(5) == 0 {
			own = ownerAt{w.pick([]string{"n1", "n2"}), uint64(w.rng.intn(int(w.epoch) + 1))}
		}
		p := &Ack{SubscriptionID: id, Owner: own.owner, Epoch: own.epoch,
			Cursor: uint64(w.rng.intn(int(w.index) + 1)), Delivered: uint64(w.rng.intn(5)), Skipped: uint64(w.rng.intn(2))}
		for i := w.rng.intn(3); i > 0; i-- {
			p.Failed = append(p.Failed, FailedDelivery{Seq: uint64(1 + w.rng.intn(int(w.index)/4+1)), MessageID: w.pick(w.msgIDs),
				Error: "HTTP 503", Attempts: 1 + w.rng.intn(15)})
		}
		if len(p.Failed) > 0 && w.rng.intn(2) == 0 {
			p.LastError, p.LastErrorAt = "HTTP 503", w.now
		}
		return CmdAck, p
	}
}

// checkDeliveryInvariants verifies the subscription and outbox indexes and
// counters against the data they summarize.
func checkDeliveryInvariants(tb testing.TB, s *state) {
	tb.Helper()
	var outBytes int64
	nsubs, due := 0, 0
	for key, src := range s.sources {
		n := src.subs.Len()
		if (n == 0 && !s.keepsSource(src)) || src.key != key || len(src.bySubscriber) != n || src.sexp.Len() != n || src.cursors.Len() != n {
			tb.Fatalf("source %v: %d subs, %d by subscriber, %d sexp, %d cursors", key, n, len(src.bySubscriber), src.sexp.Len(), src.cursors.Len())
		}
		nsubs += n
		src.subs.Ascend(func(id string) bool {
			sub := s.subs[id]
			if sub == nil || sub.ID != id || sub.key() != key || src.bySubscriber[sub.Subscriber] != id || sub.Cursor > src.tail ||
				!src.sexp.Has(expKey{sub.Expires, id}) || !src.cursors.Has(cursorKey{sub.Cursor, id}) ||
				!s.subExp.Has(expKey{sub.Expires, id}) || !s.subIDs.Has(id) || len(sub.Recent) > MaxRecentFailures ||
				(sub.Options != nil && len(sub.Options) == 0) {
				tb.Fatalf("source %v: subscription %s badly indexed: %+v", key, id, sub)
			}
			return true
		})
		horizon, _ := src.cursors.Min()
		var bytes int64
		var last uint64
		lastID := ""
		src.outbox.Ascend(func(e *OutboxEntry) bool {
			if e.Seq <= last || e.Seq > src.tail || e.Seq <= horizon.cursor || !src.oexp.Has(seqExpKey{e.Expires, e.Seq}) ||
				e.MessageID <= lastID {
				tb.Fatalf("source %v: entry %d (tail %d, horizon %d) misplaced", key, e.Seq, src.tail, horizon.cursor)
			}
			last, lastID = e.Seq, e.MessageID
			if f, ok := src.entryByID(e.MessageID); !ok || f != e {
				tb.Fatalf("source %v: entry %d not found by its message id", key, e.Seq)
			}
			// A body shared with the stored message counts once, in bodyBytes.
			var q *queue
			if key.kind == SourceQueue {
				q = s.queue(key.project, key.name)
			}
			if q == nil || q.getMsg(e.MessageID) == nil {
				bytes += int64(len(e.Body))
			} else if m := q.getMsg(e.MessageID); !m.outboxed || m.body != string(e.Body) {
				tb.Fatalf("source %v: message %s shares entry %d but is not marked or holds another body", key, e.MessageID, e.Seq)
			} else if &bytesOf(m.body)[0] != &e.Body[0] && len(e.Body) > 0 {
				tb.Fatalf("source %v: message %s and entry %d hold copies of one body", key, e.MessageID, e.Seq)
			}
			return true
		})
		if bytes != src.bytes || src.oexp.Len() != src.outbox.Len() {
			tb.Fatalf("source %v: %d bytes counted, %d stored; %d/%d expiry keys", key, src.bytes, bytes, src.oexp.Len(), src.outbox.Len())
		}
		outBytes += bytes
		k, on := src.oexp.Min()
		if on != src.dueOn || (on && k.at != src.dueAt) {
			tb.Fatalf("source %v: due registration stale", key)
		}
		if on {
			due++
			if d, ok := s.srcDue.Get(srcDueKey{at: k.at, key: key}); !ok || d.src != src {
				tb.Fatalf("source %v: not in the due index", key)
			}
		}
	}
	s.topics.Ascend(func(t *topic) bool {
		if s.sources[sourceKey{t.project, SourceTopic, t.name}] == nil {
			tb.Fatalf("topic %s/%s without its source", t.project, t.name)
		}
		return true
	})
	if nsubs != len(s.subs) || s.subIDs.Len() != nsubs || s.subExp.Len() != nsubs {
		tb.Fatalf("%d subscriptions in sources, %d stored, %d ids, %d expiry keys", nsubs, len(s.subs), s.subIDs.Len(), s.subExp.Len())
	}
	if outBytes != s.outboxBytes || due != s.srcDue.Len() {
		tb.Fatalf("outbox bytes %d counted, %d stored; %d due sources, index holds %d", s.outboxBytes, outBytes, due, s.srcDue.Len())
	}
}
