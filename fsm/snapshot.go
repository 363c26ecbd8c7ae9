package fsm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/google/btree"
	"github.com/vmihailenco/msgpack/v5"
)

// Snapshot stream format (version 4), all msgpack:
//
//	header  {m: "herald-fsm", v: 4}
//	then records, each a uint8 kind followed by its payload:
//	  recCounters      snapCounters (applied index, FSM time, body bytes,
//	                   outbox bytes, assignment epoch)
//	  recQueue         snapQueue (project, name, metadata); the messages and
//	                   claims that follow belong to it
//	  recMessage       Message
//	  recClaim         claim
//	  recSource        snapSource (project, kind, name, outbox tail); the
//	                   subscriptions and outbox entries that follow belong to it
//	  recSubscription  subscription (with secret and delivery state)
//	  recOutbox        OutboxEntry
//	  recTopic         snapTopic (project, name, metadata), version 3
//	  recDedupe        snapDedupe (request id, first result), oldest first
//	  recEnd           snapEnd (record counts, checked on restore)
//
// Queues come sorted by (project, name), messages in id order, claims in id
// order, then topics sorted by (project, name), then sources sorted by (project, kind, name), their subscriptions
// in id order and outbox entries in seq order, so the same state always
// yields the same bytes. Version 1 (no sources, no new counters) and
// version 2 (no topics) are subsets of version 3 and still restore.
// Version 4 has the records of version 3; only the outbox bytes counter
// means less: the bodies of entries whose message is not stored (version
// 3: of all entries). Restore checks each version's counter.
const (
	snapMagic   = "herald-fsm"
	snapVersion = 4
)

// Record kinds of the snapshot stream; never renumber.
const (
	recCounters uint8 = 1
	recQueue    uint8 = 2
	recMessage  uint8 = 3
	recClaim    uint8 = 4
	recDedupe   uint8 = 5
	recEnd      uint8 = 6

	recSource       uint8 = 7
	recSubscription uint8 = 8
	recOutbox       uint8 = 9
	recTopic        uint8 = 10
)

type snapHeader struct {
	Magic   string `msgpack:"m"`
	Version int    `msgpack:"v"`
}

type snapCounters struct {
	Applied     uint64 `msgpack:"a"`
	LastNow     int64  `msgpack:"n"`
	BodyBytes   int64  `msgpack:"b"`
	OutboxBytes int64  `msgpack:"o,omitempty"`
	AssignEpoch uint64 `msgpack:"e,omitempty"`
}

type snapSource struct {
	Project string `msgpack:"p"`
	Kind    string `msgpack:"k"`
	Name    string `msgpack:"q"`
	Tail    uint64 `msgpack:"t"`
}

type snapQueue struct {
	Project string                     `msgpack:"p"`
	Name    string                     `msgpack:"q"`
	Meta    map[string]json.RawMessage `msgpack:"m,omitempty"`
}

type snapTopic struct {
	Project string                     `msgpack:"p"`
	Name    string                     `msgpack:"q"`
	Meta    map[string]json.RawMessage `msgpack:"m,omitempty"`
}

type snapDedupe struct {
	ID     string `msgpack:"i"`
	Result Result `msgpack:"r"`
}

type snapEnd struct {
	Queues        int `msgpack:"q"`
	Messages      int `msgpack:"m"`
	Claims        int `msgpack:"c"`
	Dedupe        int `msgpack:"d"`
	Sources       int `msgpack:"s,omitempty"`
	Subscriptions int `msgpack:"u,omitempty"`
	Outbox        int `msgpack:"o,omitempty"`
	Topics        int `msgpack:"t,omitempty"`
}

// capture is a frozen view of the state taken under the write lock. It
// shares immutable values with the live state; message trees are lazy
// copy-on-write clones, so taking it costs O(queues + claims + dedupe
// window), not O(messages), and streaming it can run while Apply goes on.
type capture struct {
	counters snapCounters
	queues   []capturedQueue
	sources  []capturedSource
	topics   []snapTopic // metadata maps immutable (replaced on PATCH)
	dedupe   []dedupeEntry
}

type capturedSource struct {
	rec    snapSource
	subs   []*subscription             // items immutable, in id order
	outbox *btree.BTreeG[*OutboxEntry] // COW clone; items immutable
}

type capturedQueue struct {
	project, name string
	meta          map[string]json.RawMessage // immutable (replaced on PATCH)
	msgs          *msgTree                   // COW clone
	claims        []*claim                   // items immutable; sorted while persisting
}

// Snapshot captures the current state cheaply; the returned function streams
// it to w and may run concurrently with later ApplyEntry calls.
func (f *FSM) Snapshot() (persist func(w io.Writer) error, err error) {
	f.mu.Lock() // Clone mutates the live trees' copy-on-write context
	c := f.st.capture()
	f.mu.Unlock()
	return c.persist, nil
}

func (s *state) capture() *capture {
	c := &capture{
		counters: snapCounters{Applied: s.applied, LastNow: s.lastNow, BodyBytes: s.bodyBytes,
			OutboxBytes: s.outboxBytes, AssignEpoch: s.assignEpoch},
		dedupe: s.dedupe.entries(),
	}
	for _, pid := range s.sortedProjects() {
		s.projects[pid].order.Ascend(func(q *queue) bool {
			cq := capturedQueue{project: q.project, name: q.name, meta: q.meta, msgs: q.msgs.clone()}
			cq.claims = make([]*claim, 0, len(q.claims))
			for _, cl := range q.claims {
				cq.claims = append(cq.claims, cl)
			}
			c.queues = append(c.queues, cq)
			return true
		})
	}
	s.topics.Ascend(func(t *topic) bool {
		c.topics = append(c.topics, snapTopic{Project: t.project, Name: t.name, Meta: t.meta})
		return true
	})
	for _, k := range s.sortedSources() {
		src := s.sources[k]
		cs := capturedSource{
			rec:    snapSource{Project: k.project, Kind: k.kind, Name: k.name, Tail: src.tail},
			subs:   make([]*subscription, 0, src.subs.Len()),
			outbox: src.outbox.Clone(),
		}
		src.subs.Ascend(func(id string) bool {
			cs.subs = append(cs.subs, s.subs[id])
			return true
		})
		c.sources = append(c.sources, cs)
	}
	return c
}

// persist streams the capture to w.
func (c *capture) persist(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := msgpack.NewEncoder(bw)
	enc.SetSortMapKeys(true)
	rec := func(kind uint8, v any) error {
		if err := enc.EncodeUint8(kind); err != nil {
			return err
		}
		return enc.Encode(v)
	}
	if err := enc.Encode(snapHeader{Magic: snapMagic, Version: snapVersion}); err != nil {
		return err
	}
	if err := rec(recCounters, &c.counters); err != nil {
		return err
	}
	end := snapEnd{Queues: len(c.queues), Dedupe: len(c.dedupe), Sources: len(c.sources), Topics: len(c.topics)}
	re := &recordEncoder{enc: enc}
	for i := range c.queues {
		q := &c.queues[i]
		if err := rec(recQueue, &snapQueue{Project: q.project, Name: q.name, Meta: q.meta}); err != nil {
			return err
		}
		var err error
		q.msgs.ascend(mid{}, func(m *msg) bool {
			if err = enc.EncodeUint8(recMessage); err == nil {
				err = re.encode(m)
			}
			end.Messages++
			return err == nil
		})
		if err != nil {
			return err
		}
		sort.Slice(q.claims, func(a, b int) bool { return q.claims[a].ID < q.claims[b].ID })
		for _, cl := range q.claims {
			if err := rec(recClaim, cl); err != nil {
				return err
			}
			end.Claims++
		}
	}
	for i := range c.topics {
		if err := rec(recTopic, &c.topics[i]); err != nil {
			return err
		}
	}
	for i := range c.sources {
		cs := &c.sources[i]
		if err := rec(recSource, &cs.rec); err != nil {
			return err
		}
		for _, sub := range cs.subs {
			if err := rec(recSubscription, sub); err != nil {
				return err
			}
			end.Subscriptions++
		}
		var err error
		cs.outbox.Ascend(func(e *OutboxEntry) bool {
			err = rec(recOutbox, e)
			end.Outbox++
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	for _, e := range c.dedupe {
		if err := rec(recDedupe, &snapDedupe{ID: e.id, Result: *e.result()}); err != nil {
			return err
		}
	}
	if err := rec(recEnd, &end); err != nil {
		return err
	}
	return bw.Flush()
}

// Restore replaces the whole state with the snapshot read from r. The new
// state is built aside and swapped in under the write lock; on error the
// current state is left untouched.
func (f *FSM) Restore(r io.Reader) error {
	ns, err := readSnapshot(r, f.cfg)
	if err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = ns
	f.applied.Store(ns.applied)
	f.lastNow.Store(ns.lastNow)
	return nil
}

// errSnapshot reports a malformed snapshot stream.
var errSnapshot = errors.New("malformed snapshot")

func readSnapshot(r io.Reader, cfg Config) (*state, error) {
	dec := msgpack.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h snapHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errSnapshot, err)
	}
	if h.Magic != snapMagic || h.Version < 1 || h.Version > snapVersion {
		return nil, fmt.Errorf("%w: unsupported header %q version %d", errSnapshot, h.Magic, h.Version)
	}
	s := newState(cfg)
	rd := &recordDecoder{}
	var (
		cur      *queue
		curSrc   *source
		counters snapCounters
		got      snapEnd
		seenCnt  bool
	)
	for {
		kind, err := dec.DecodeUint8()
		if err != nil {
			return nil, fmt.Errorf("%w: truncated stream: %v", errSnapshot, err)
		}
		switch kind {
		case recCounters:
			if err := dec.Decode(&counters); err != nil {
				return nil, fmt.Errorf("%w: counters: %v", errSnapshot, err)
			}
			seenCnt = true
		case recQueue:
			var sq snapQueue
			if err := dec.Decode(&sq); err != nil {
				return nil, fmt.Errorf("%w: queue: %v", errSnapshot, err)
			}
			if s.queue(sq.Project, sq.Name) != nil {
				return nil, fmt.Errorf("%w: duplicate queue %s/%s", errSnapshot, sq.Project, sq.Name)
			}
			if len(sq.Meta) == 0 {
				sq.Meta = nil
			}
			cur, curSrc = s.createQueue(sq.Project, sq.Name, sq.Meta), nil
			got.Queues++
		case recMessage:
			m, err := rd.decode(dec)
			if err != nil {
				return nil, fmt.Errorf("%w: message: %v", errSnapshot, err)
			}
			if cur == nil {
				return nil, fmt.Errorf("%w: message %v outside a queue", errSnapshot, m.id())
			}
			if _, dup := cur.msgs.get(m.id()); dup {
				return nil, fmt.Errorf("%w: duplicate message %v", errSnapshot, m.id())
			}
			s.addMsg(cur, m)
			got.Messages++
		case recClaim:
			cl := new(claim)
			if err := dec.Decode(cl); err != nil {
				return nil, fmt.Errorf("%w: claim: %v", errSnapshot, err)
			}
			if cur == nil || !ValidID(cl.ID) || cur.claims[cl.ID] != nil {
				return nil, fmt.Errorf("%w: misplaced, invalid or duplicate claim %q", errSnapshot, cl.ID)
			}
			s.putClaim(cur, cl)
			got.Claims++
		case recSource, recSubscription, recOutbox:
			var err error
			if curSrc, err = s.readDeliveryRecord(dec, kind, curSrc, &got); err != nil {
				return nil, err
			}
			cur = nil
		case recTopic:
			var st snapTopic
			if err := dec.Decode(&st); err != nil {
				return nil, fmt.Errorf("%w: topic: %v", errSnapshot, err)
			}
			if s.topic(st.Project, st.Name) != nil || checkNames(st.Project, st.Name) != nil || len(s.sources) > 0 {
				return nil, fmt.Errorf("%w: invalid, duplicate or misplaced topic %s/%s", errSnapshot, st.Project, st.Name)
			}
			if len(st.Meta) == 0 {
				st.Meta = nil
			}
			s.topics.ReplaceOrInsert(&topic{project: st.Project, name: st.Name, meta: st.Meta, cfg: cfgFromMeta(st.Meta)})
			cur, curSrc = nil, nil
			got.Topics++
		case recDedupe:
			var d snapDedupe
			if err := dec.Decode(&d); err != nil {
				return nil, fmt.Errorf("%w: dedupe entry: %v", errSnapshot, err)
			}
			res := d.Result
			s.dedupe.put(d.ID, &res, idRun{})
			got.Dedupe++
		case recEnd:
			var want snapEnd
			if err := dec.Decode(&want); err != nil {
				return nil, fmt.Errorf("%w: end: %v", errSnapshot, err)
			}
			if want != got {
				return nil, fmt.Errorf("%w: record counts %+v, trailer says %+v", errSnapshot, got, want)
			}
			if !seenCnt {
				return nil, fmt.Errorf("%w: no counters record", errSnapshot)
			}
			outbox := s.outboxBytes
			if h.Version <= 3 { // the counter covered every entry's body
				outbox = s.allEntryBytes()
			}
			if counters.BodyBytes != s.bodyBytes || counters.OutboxBytes != outbox {
				return nil, fmt.Errorf("%w: body bytes %d+%d, counters say %d+%d", errSnapshot,
					s.bodyBytes, outbox, counters.BodyBytes, counters.OutboxBytes)
			}
			for _, src := range s.sources {
				if src.subs.Len() == 0 && !s.keepsSource(src) {
					return nil, fmt.Errorf("%w: source %v without subscriptions", errSnapshot, src.key)
				}
			}
			s.topics.Ascend(func(t *topic) bool { // a topic always has its source
				s.ensureSource(sourceKey{t.project, SourceTopic, t.name})
				return true
			})
			s.applied = counters.Applied
			s.lastNow = counters.LastNow
			s.assignEpoch = counters.AssignEpoch
			return s, nil
		default:
			return nil, fmt.Errorf("%w: unknown record kind %d", errSnapshot, kind)
		}
	}
}

// allEntryBytes sums the bodies of all outbox entries (the outbox bytes
// counter of snapshot versions up to 3).
func (s *state) allEntryBytes() int64 {
	var n int64
	for _, src := range s.sources {
		src.outbox.Ascend(func(e *OutboxEntry) bool {
			n += int64(len(e.Body))
			return true
		})
	}
	return n
}

// readDeliveryRecord decodes a source, subscription or outbox record into s
// and returns the source that following records belong to.
func (s *state) readDeliveryRecord(dec *msgpack.Decoder, kind uint8, cur *source, got *snapEnd) (*source, error) {
	switch kind {
	case recSource:
		var rs snapSource
		if err := dec.Decode(&rs); err != nil {
			return nil, fmt.Errorf("%w: source: %v", errSnapshot, err)
		}
		key := sourceKey{rs.Project, rs.Kind, rs.Name}
		if s.sources[key] != nil || checkSource(rs.Project, rs.Kind, rs.Name) != nil {
			return nil, fmt.Errorf("%w: invalid or duplicate source %v", errSnapshot, key)
		}
		src := s.ensureSource(key)
		src.tail = rs.Tail
		got.Sources++
		return src, nil
	case recSubscription:
		sub := new(subscription)
		if err := dec.Decode(sub); err != nil {
			return nil, fmt.Errorf("%w: subscription: %v", errSnapshot, err)
		}
		if cur == nil || sub.key() != cur.key || !ValidID(sub.ID) || s.subs[sub.ID] != nil ||
			cur.bySubscriber[sub.Subscriber] != "" || sub.Cursor > cur.tail {
			return nil, fmt.Errorf("%w: misplaced, invalid or duplicate subscription %q", errSnapshot, sub.ID)
		}
		s.putSub(cur, nil, sub)
		got.Subscriptions++
		return cur, nil
	default: // recOutbox
		e := new(OutboxEntry)
		if err := dec.Decode(e); err != nil {
			return nil, fmt.Errorf("%w: outbox entry: %v", errSnapshot, err)
		}
		if cur == nil || e.Seq == 0 || e.Seq > cur.tail {
			return nil, fmt.Errorf("%w: misplaced outbox entry %d", errSnapshot, e.Seq)
		}
		if last, ok := cur.outbox.Max(); ok && (e.Seq <= last.Seq || e.MessageID <= last.MessageID) {
			return nil, fmt.Errorf("%w: out-of-order outbox entry %d", errSnapshot, e.Seq)
		}
		if _, m := s.sharedMsg(cur, e); m != nil && m.body == string(e.Body) {
			e.Body = m.bodyBytes() // share the body again, as before the snapshot
		}
		s.addEntry(cur, e)
		got.Outbox++
		return cur, nil
	}
}
