package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"sort"

	"github.com/vmihailenco/msgpack/v5"
)

// Digest returns a hex SHA-256 over a canonical traversal of the state:
// counters, then projects and queues sorted by name (metadata sorted by
// key, messages in id order, claims in id order), then the dedupe window
// oldest first, then (when there are any) the assignment epoch and the
// sources sorted by (project, kind, name) with their subscriptions in id
// order and outbox entries in seq order. Derived indexes are not included. Two replicas that applied
// the same log, or one restored from the other's snapshot, have equal
// digests.
func (f *FSM) Digest() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.digest()
}

// digester writes length-prefixed fields so that distinct states can never
// produce the same byte stream.
type digester struct {
	h   hash.Hash
	buf [8]byte
}

func (d *digester) u64(v uint64) {
	binary.BigEndian.PutUint64(d.buf[:], v)
	d.h.Write(d.buf[:])
}

func (d *digester) i64(v int64) { d.u64(uint64(v)) }

func (d *digester) bytes(b []byte) {
	d.u64(uint64(len(b)))
	d.h.Write(b)
}

func (d *digester) str(s string) {
	d.u64(uint64(len(s)))
	d.h.Write([]byte(s))
}

// id digests an id exactly as str(id.String()) would, without allocating.
func (d *digester) id(id mid) {
	var b [idLen]byte
	d.u64(idLen)
	d.h.Write(appendID(b[:0], id))
}

func (d *digester) msg(m *msg) {
	d.id(m.id())
	d.bytes(bytesOf(m.body))
	d.i64(m.ttl)
	d.i64(m.created)
	d.i64(m.expires)
	d.i64(m.availAt)
	d.str(m.clientID())
	if m.claimed {
		d.id(m.claimID())
	} else {
		d.str("")
	}
	d.i64(m.claimExp)
	d.i64(int64(m.claims))
}

func (s *state) digest() string {
	d := &digester{h: sha256.New()}
	d.str("herald-fsm-digest-v1")
	d.u64(s.applied)
	d.i64(s.lastNow)
	d.i64(s.bodyBytes)
	pids := s.sortedProjects()
	d.u64(uint64(len(pids)))
	for _, pid := range pids {
		p := s.projects[pid]
		d.str(pid)
		d.u64(uint64(len(p.queues)))
		p.order.Ascend(func(q *queue) bool {
			d.str(q.name)
			d.meta(q.meta)
			d.u64(uint64(q.msgs.Len()))
			q.msgs.ascend(mid{}, func(m *msg) bool {
				d.msg(m)
				return true
			})
			ids := make([]string, 0, len(q.claims))
			for id := range q.claims {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			d.u64(uint64(len(ids)))
			for _, id := range ids {
				cl := q.claims[id]
				d.str(cl.ID)
				d.i64(cl.TTL)
				d.i64(cl.Grace)
				d.i64(cl.Updated)
				d.i64(cl.Expires)
				d.u64(uint64(len(cl.MsgIDs)))
				for _, id := range cl.MsgIDs {
					d.str(id)
				}
			}
			return true
		})
	}
	entries := s.dedupe.entries()
	d.u64(uint64(len(entries)))
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	for _, e := range entries {
		d.str(e.id)
		buf.Reset()
		if err := enc.Encode(e.result()); err != nil {
			d.str("unencodable result: " + err.Error())
			continue
		}
		d.bytes(buf.Bytes())
	}
	s.digestDelivery(d)
	s.digestTopics(d)
	return hex.EncodeToString(d.h.Sum(nil))
}

// digestTopics appends the topics sorted by (project, name) with their
// metadata; a state without topics digests as before they existed.
func (s *state) digestTopics(d *digester) {
	if s.topics.Len() == 0 {
		return
	}
	d.str("topics")
	d.u64(uint64(s.topics.Len()))
	s.topics.Ascend(func(t *topic) bool {
		d.str(t.project)
		d.str(t.name)
		d.meta(t.meta)
		return true
	})
}

// digestDelivery appends the subscriptions, outboxes and assignment epoch.
// A state without any leaves the stream (and so the digest) exactly as
// before they existed; since it comes last, the longer stream of a state
// with them can never equal a shorter one.
func (s *state) digestDelivery(d *digester) {
	if s.assignEpoch == 0 && len(s.sources) == 0 {
		return
	}
	d.str("delivery")
	d.u64(s.assignEpoch)
	d.i64(s.outboxBytes)
	keys := s.sortedSources()
	d.u64(uint64(len(keys)))
	for _, k := range keys {
		src := s.sources[k]
		d.str(k.project)
		d.str(k.kind)
		d.str(k.name)
		d.u64(src.tail)
		d.u64(uint64(src.subs.Len()))
		src.subs.Ascend(func(id string) bool {
			d.sub(s.subs[id])
			return true
		})
		d.u64(uint64(src.outbox.Len()))
		src.outbox.Ascend(func(e *OutboxEntry) bool {
			d.u64(e.Seq)
			d.str(e.MessageID)
			d.bytes(e.Body)
			d.i64(e.TTL)
			if e.Delay != nil {
				d.u64(1)
				d.i64(*e.Delay)
			} else {
				d.u64(0)
			}
			d.i64(e.Created)
			d.i64(e.Expires)
			return true
		})
	}
}

func (d *digester) sub(sub *subscription) {
	d.str(sub.ID)
	d.str(sub.Subscriber)
	d.meta(sub.Options)
	d.i64(sub.TTL)
	d.i64(sub.Created)
	d.i64(sub.Expires)
	d.flag(sub.Confirmed)
	d.bytes(sub.Secret)
	d.str(sub.Owner)
	d.u64(sub.OwnerEpoch)
	d.u64(sub.Cursor)
	d.u64(sub.Delivered)
	d.u64(sub.Failed)
	d.u64(sub.Skipped)
	d.str(sub.LastError)
	d.i64(sub.LastErrorAt)
	d.u64(sub.ConfirmRequested)
	d.u64(sub.ConfirmSent)
	d.flag(sub.ConfirmUnsubscribe)
	d.u64(uint64(len(sub.Recent)))
	for _, r := range sub.Recent {
		d.u64(r.Seq)
		d.str(r.MessageID)
		d.str(r.Error)
		d.i64(int64(r.Attempts))
		d.i64(r.At)
		d.str(r.DeadLetterID)
		d.str(r.DeadLetterError)
	}
	if sub.SubscriberProject != "" { // only topic subscriptions of other projects have one
		d.str("subscriber-project")
		d.str(sub.SubscriberProject)
	}
}

func (d *digester) flag(b bool) {
	if b {
		d.u64(1)
	} else {
		d.u64(0)
	}
}

// meta digests a metadata or options map, keys sorted.
func (d *digester) meta(md map[string]json.RawMessage) {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	d.u64(uint64(len(keys)))
	for _, k := range keys {
		d.str(k)
		d.bytes(md[k])
	}
}
