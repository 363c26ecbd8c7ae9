package fsm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func (h *harness) outbox(q string, after uint64) (out []OutboxEntry) {
	h.f.Read(func(s *State) { out = s.OutboxEntries(prj, SourceQueue, q, after, 1000, h.now) })
	return out
}

func (h *harness) tail(q string) (t uint64) {
	h.f.Read(func(s *State) { t = s.OutboxTail(prj, SourceQueue, q) })
	return t
}

func (h *harness) assign(epoch uint64, changes ...Assignment) *Result {
	h.tb.Helper()
	return h.apply(CmdAssign, "", &Assign{Epoch: epoch, Changes: changes})
}

func seqs(es []OutboxEntry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func sameSeqs(a []uint64, b ...uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOutboxAppend(t *testing.T) {
	h := newHarness(t, Config{})
	h.post("q", body(`"before"`))
	if h.tail("q") != 0 || len(h.outbox("q", 0)) != 0 {
		t.Fatal("outbox without subscriptions")
	}
	sa := h.newSub("q", "http://a", 600, "")
	if h.mustSub("q", sa).Cursor != 0 {
		t.Fatal("first cursor")
	}
	ids := h.post("q", NewMessage{Body: []byte(`{"a":1}`), TTL: i64(120)}, body(`2`))
	es := h.outbox("q", 0)
	if !sameSeqs(seqs(es), 1, 2) || h.tail("q") != 2 {
		t.Fatalf("entries %v tail %d", seqs(es), h.tail("q"))
	}
	m := h.one("q", ids[0])
	e := es[0]
	if e.MessageID != ids[0] || string(e.Body) != `{"a":1}` || e.TTL != 120 || e.Created != m.Created ||
		e.Expires != m.Expires || e.Delay != nil || es[1].TTL != DefaultMessageTTL {
		t.Fatalf("entry %+v for %+v", e, m)
	}
	if first, _ := h.f.st.sources[sourceKey{prj, SourceQueue, "q"}].outbox.Min(); &first.Body[0] != &h.f.st.queue(prj, "q").getMsg(ids[0]).bodyBytes()[0] {
		t.Fatal("body not shared")
	}
	// Deleting or popping the message keeps its entry.
	h.ok(CmdMessageDel, &MessageDelete{Project: prj, Queue: "q", ID: ids[0]})
	h.ok(CmdMessagesPop, &MessagesPop{Project: prj, Queue: "q", Limit: 5})
	if len(h.outbox("q", 0)) != 2 {
		t.Fatal("consumer deletes removed outbox entries")
	}
	// A later subscription starts at the tail.
	sb := h.newSub("q", "http://b", 600, "")
	if si := h.mustSub("q", sb); si.Cursor != 2 || si.Pending != 0 {
		t.Fatalf("new cursor %+v", si)
	}
	if si := h.mustSub("q", sa); si.Pending != 2 {
		t.Fatalf("pending %d", si.Pending)
	}
	// Delay is carried only when the queue has a truthy _default_message_delay.
	h.createQueue("d", `{"_default_message_delay": 30}`)
	h.newSub("d", "http://a", 600, "")
	h.post("d", body(`1`), NewMessage{Body: []byte(`2`), Delay: i64(0)})
	if es := h.outbox("d", 0); len(es) != 2 || es[0].Delay == nil || *es[0].Delay != 30 || es[1].Delay == nil || *es[1].Delay != 0 {
		t.Fatalf("delays %+v", es)
	}
	// Paging, afterSeq and the read copy.
	if es := h.outbox("q", 1); !sameSeqs(seqs(es), 2) {
		t.Fatalf("after 1: %v", seqs(es))
	}
	var page []OutboxEntry
	h.f.Read(func(s *State) { page = s.OutboxEntries(prj, SourceQueue, "q", 0, 1, h.now) })
	if !sameSeqs(seqs(page), 1) {
		t.Fatalf("limit 1: %v", seqs(page))
	}
	if h.outbox("q", 1<<64-1) != nil {
		t.Fatal("afterSeq at max")
	}
	// An expired subscription does not make posts append; a topic
	// subscription of the same name is another source.
	h.newSub("e", "http://a", 60, "")
	h.ok(CmdSubscriptionCreate, &SubscriptionCreate{Project: prj, SourceKind: SourceTopic, Source: "t", Subscriber: "http://a", TTL: 600})
	h.tick(60)
	h.post("e", body(`1`))
	h.post("t", body(`1`))
	if h.tail("e") != 0 || h.tail("t") != 0 {
		t.Fatal("appended without a live queue subscription")
	}
}

func TestOutboxGCAndExpiry(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.newSub("q", "http://a", 6000, "")
	b := h.newSub("q", "http://b", 6000, "")
	h.ok(CmdAssign, &Assign{Epoch: 1, Changes: []Assignment{{a, "n1"}, {b, "n2"}}})
	h.post("q", body(`1`), body(`2`), body(`3`))
	ack := func(id, owner string, cursor uint64) *Result {
		return h.ok(CmdAck, &Ack{SubscriptionID: id, Owner: owner, Epoch: 1, Cursor: cursor, Delivered: 1})
	}
	if r := ack(a, "n1", 2); r.Cursor != 2 || !sameSeqs(seqs(h.outbox("q", 0)), 1, 2, 3) {
		t.Fatalf("one subscription acked: cursor %d, entries %v", r.Cursor, seqs(h.outbox("q", 0)))
	}
	ack(b, "n2", 1)
	if got := seqs(h.outbox("q", 0)); !sameSeqs(got, 2, 3) {
		t.Fatalf("after both passed 1: %v", got)
	}
	// Cursors only move forward and never past the tail.
	if r := ack(a, "n1", 1); r.Cursor != 2 {
		t.Fatalf("cursor went back to %d", r.Cursor)
	}
	if r := ack(a, "n1", 99); r.Cursor != 3 {
		t.Fatalf("cursor beyond tail: %d", r.Cursor)
	}
	if si := h.mustSub("q", a); si.Delivered != 3 || si.Pending != 0 {
		t.Fatalf("counters %+v", si)
	}
	// Deleting the lagging subscription releases what only it needed.
	h.ok(CmdSubscriptionDelete, &SubscriptionDelete{Project: prj, SourceKind: SourceQueue, Source: "q", ID: b})
	if got := h.outbox("q", 0); len(got) != 0 || h.f.BodyBytes() != 3 {
		t.Fatalf("after delete: %v, %d bytes", seqs(got), h.f.BodyBytes())
	}
	// Entries expire with their message: hidden at once, removed by Sweep.
	h.post("q", NewMessage{Body: []byte(`4`), TTL: i64(60)}, NewMessage{Body: []byte(`5`), TTL: i64(120)})
	h.tick(60)
	if got := seqs(h.outbox("q", 0)); !sameSeqs(got, 5) {
		t.Fatalf("expired entry visible: %v", got)
	}
	h.ok(CmdSweep, &Sweep{})
	src := h.f.st.sources[sourceKey{prj, SourceQueue, "q"}]
	if src.outbox.Len() != 1 || src.tail != 5 || h.mustSub("q", a).Pending != 2 {
		t.Fatalf("after sweep: %d entries, tail %d", src.outbox.Len(), src.tail)
	}
	h.tick(60)
	h.ok(CmdSweep, &Sweep{})
	if src.outbox.Len() != 0 || h.f.st.srcDue.Len() != 0 || h.f.st.outboxBytes != 0 {
		t.Fatal("outbox not swept")
	}
	// The tail survives: seqs are never reused while the source exists.
	h.post("q", body(`6`))
	if got := seqs(h.outbox("q", 0)); !sameSeqs(got, 6) {
		t.Fatalf("seq reused: %v", got)
	}
}

func TestAssignAndFencing(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.newSub("q", "http://a", 600, "")
	b := h.newSub("q", "http://b", 600, "")
	h.post("q", body(`1`))
	// Nobody owns a fresh subscription: even an empty owner is refused.
	h.fails(CodeForbidden, "not the owner", CmdAck, &Ack{SubscriptionID: a, Cursor: 1})
	h.fails(CodeNotFound, "does not exist", CmdAck, &Ack{SubscriptionID: formatID(99, 0), Owner: "n1", Epoch: 1})
	if r := h.assign(2, Assignment{a, "n1"}, Assignment{formatID(99, 0), "n1"}); r.Code != CodeOK {
		t.Fatalf("assign: %+v", r)
	}
	for _, ep := range []uint64{2, 1, 0} {
		h.fails(CodeConflict, "stale epoch", CmdAssign, &Assign{Epoch: ep, Changes: []Assignment{{a, "n9"}}})
	}
	var epoch uint64
	h.f.Read(func(s *State) { epoch = s.AssignmentEpoch() })
	if si := h.mustSub("q", a); epoch != 2 || si.Owner != "n1" || si.OwnerEpoch != 2 {
		t.Fatalf("epoch %d, sub %+v", epoch, si)
	}
	if si := h.mustSub("q", b); si.Owner != "" || si.OwnerEpoch != 0 {
		t.Fatalf("unlisted subscription changed: %+v", si)
	}
	for _, tc := range []struct {
		name  string
		owner string
		epoch uint64
		code  Code
	}{
		{"other node", "n2", 2, CodeForbidden},
		{"old epoch", "n1", 1, CodeForbidden},
		{"future epoch", "n1", 3, CodeForbidden},
		{"owner", "n1", 2, CodeOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.apply(CmdAck, "", &Ack{SubscriptionID: a, Owner: tc.owner, Epoch: tc.epoch, Cursor: 1, Delivered: 1})
			if r.Code != tc.code {
				t.Fatalf("%+v", r)
			}
		})
	}
	// Moving it to n2 fences n1 off; the subscription keeps its cursor.
	h.assign(5, Assignment{a, "n2"}, Assignment{b, "n2"}, Assignment{b, "n3"})
	h.fails(CodeForbidden, "not the owner", CmdAck, &Ack{SubscriptionID: a, Owner: "n1", Epoch: 2, Cursor: 1})
	if si := h.mustSub("q", b); si.Owner != "n3" || si.OwnerEpoch != 5 {
		t.Fatalf("last change should win: %+v", si)
	}
	if si := h.mustSub("q", a); si.Cursor != 1 || si.Delivered != 1 || si.Owner != "n2" {
		t.Fatalf("after reassign: %+v", si)
	}
	h.ok(CmdAck, &Ack{SubscriptionID: a, Owner: "n2", Epoch: 5})
	// An expired subscription takes no progress.
	h.tick(600)
	h.fails(CodeNotFound, "does not exist", CmdAck, &Ack{SubscriptionID: a, Owner: "n2", Epoch: 5})
}

func TestAckFailuresAndDeadLetter(t *testing.T) {
	h := newHarness(t, Config{})
	h.createQueue("dlq", `{"_default_message_ttl": 300, "_default_message_delay": 10}`)
	withDLQ := h.newSub("q", "http://a", 6000, `{"_dead_letter_queue": "dlq"}`)
	plain := h.newSub("q", "http://b", 6000, "")
	self := h.newSub("q", "http://c", 6000, `{"_dead_letter_queue": "q"}`)
	bad := h.newSub("q", "http://d", 6000, `{"_dead_letter_queue": 7}`)
	dlqSub := h.newSub("dlq", "http://watcher", 6000, "")
	h.assign(1, Assignment{withDLQ, "n"}, Assignment{plain, "n"}, Assignment{self, "n"}, Assignment{bad, "n"})
	ids := h.post("q", NewMessage{Body: []byte(`"m1"`), TTL: i64(100)}, NewMessage{Body: []byte(`"m2"`), TTL: i64(100)})
	h.tick(30)
	fail := func(sub string, seq uint64, mid string) *Result {
		return h.ok(CmdAck, &Ack{SubscriptionID: sub, Owner: "n", Epoch: 1, Cursor: seq,
			Failed:    []FailedDelivery{{Seq: seq, MessageID: mid, Error: "HTTP 500", Attempts: 14}},
			LastError: "HTTP 500", LastErrorAt: 12345})
	}
	r := fail(withDLQ, 1, ids[0])
	if len(r.IDs) != 1 {
		t.Fatalf("no dead-letter copy: %+v", r)
	}
	dm := h.one("dlq", r.IDs[0])
	if string(dm.Body) != `"m1"` || dm.TTL != 70 || dm.Expires != h.now+70*sec || dm.AvailableAt != h.now+10*sec {
		t.Fatalf("dead-letter message %+v", dm)
	}
	// The copy is a post: the dead-letter queue's own subscribers get it.
	if es := h.outbox("dlq", 0); len(es) != 1 || es[0].MessageID != dm.ID || es[0].Delay == nil || *es[0].Delay != 10 {
		t.Fatalf("dlq outbox %+v", es)
	}
	_ = dlqSub
	si := h.mustSub("q", withDLQ)
	if si.FailedCount != 1 || si.LastError != "HTTP 500" || si.LastErrorAt != 12345 || len(si.RecentFailures) != 1 {
		t.Fatalf("failure state %+v", si)
	}
	if f := si.RecentFailures[0]; f.Seq != 1 || f.MessageID != ids[0] || f.Attempts != 14 || f.At != h.now || f.DeadLetterID != dm.ID || f.DeadLetterError != "" {
		t.Fatalf("failure record %+v", f)
	}
	// No dead-letter queue configured (or not a valid name): recorded only.
	for _, sub := range []string{plain, bad} {
		if r := fail(sub, 1, ids[0]); len(r.IDs) != 0 {
			t.Fatalf("copied without a dead-letter queue: %+v", r)
		}
		if f := h.mustSub("q", sub).RecentFailures[0]; f.DeadLetterID != "" || f.DeadLetterError != "" {
			t.Fatalf("record %+v", f)
		}
	}
	// The source itself is refused.
	fail(self, 1, ids[0])
	if f := h.mustSub("q", self).RecentFailures[0]; f.DeadLetterID != "" || !strings.Contains(f.DeadLetterError, "own source") {
		t.Fatalf("self: %+v", f)
	}
	// Entry 1 is gone now that every subscription has passed it.
	if es := h.f.st.sources[sourceKey{prj, SourceQueue, "q"}].outbox; es.Len() != 1 {
		t.Fatalf("%d entries left", es.Len())
	}
	// A wrong message id or a gone entry is explained.
	r = h.ok(CmdAck, &Ack{SubscriptionID: withDLQ, Owner: "n", Epoch: 1,
		Failed: []FailedDelivery{{Seq: 2, MessageID: ids[0]}, {Seq: 1, MessageID: ids[0]}, {Seq: 2, MessageID: ids[1]}}})
	rf := h.mustSub("q", withDLQ).RecentFailures
	if len(rf) != 4 || !strings.Contains(rf[1].DeadLetterError, "no longer stored") ||
		!strings.Contains(rf[2].DeadLetterError, "no longer stored") || rf[3].DeadLetterID == "" || len(r.IDs) != 1 {
		t.Fatalf("records %+v", rf)
	}
	// An entry that expired but is not swept yet: the queue's default ttl.
	h.tick(70)
	r = fail(withDLQ, 2, ids[1])
	if dm := h.one("dlq", r.IDs[0]); dm.TTL != 300 {
		t.Fatalf("expired entry copy ttl %d", dm.TTL)
	}
	// The ring keeps the last MaxRecentFailures, oldest first.
	var many []FailedDelivery
	for i := 0; i < 25; i++ {
		many = append(many, FailedDelivery{Seq: uint64(100 + i), MessageID: "x", Error: strings.Repeat("é", 600)})
	}
	h.ok(CmdAck, &Ack{SubscriptionID: plain, Owner: "n", Epoch: 1, Failed: many})
	si = h.mustSub("q", plain)
	if len(si.RecentFailures) != MaxRecentFailures || si.RecentFailures[0].Seq != 105 || si.RecentFailures[19].Seq != 124 || si.FailedCount != 26 {
		t.Fatalf("ring: %d records, first %d, count %d", len(si.RecentFailures), si.RecentFailures[0].Seq, si.FailedCount)
	}
	if e := si.RecentFailures[0].Error; len(e) != maxErrorText || !strings.HasSuffix(e, "é") {
		t.Fatalf("error text clipped to %d bytes", len(e))
	}
	// Skipped counts; an ack without LastError keeps the last one.
	h.ok(CmdAck, &Ack{SubscriptionID: plain, Owner: "n", Epoch: 1, Skipped: 3})
	if si := h.mustSub("q", plain); si.Skipped != 3 || si.LastError != "HTTP 500" {
		t.Fatalf("%+v", si)
	}
	// Read copies are the caller's.
	si.RecentFailures[0].Error = "changed"
	si.Secret[0] = 'X'
	if again := h.mustSub("q", plain); again.RecentFailures[0].Error == "changed" || again.Secret[0] == 'X' {
		t.Fatal("read view shares state")
	}
}

func TestAckInBatch(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.newSub("q", "http://a", 600, `{"_dead_letter_queue": "dlq"}`)
	b := h.newSub("q", "http://b", 600, "")
	h.assign(1, Assignment{a, "n1"}, Assignment{b, "n1"})
	ids := h.post("q", body(`1`), body(`2`))
	r := h.ok(CmdBatch, &Batch{Commands: []Command{
		mustCmd(t, CmdAck, "ack-1", &Ack{SubscriptionID: a, Owner: "n1", Epoch: 1, Cursor: 2, Delivered: 1, Failed: []FailedDelivery{{Seq: 2, MessageID: ids[1]}}}),
		mustCmd(t, CmdAck, "", &Ack{SubscriptionID: b, Owner: "n2", Epoch: 1, Cursor: 2}),
		mustCmd(t, CmdAck, "", &Ack{SubscriptionID: b, Owner: "n1", Epoch: 1, Cursor: 2, Delivered: 2}),
		mustCmd(t, CmdAck, "ack-1", &Ack{SubscriptionID: a, Owner: "n1", Epoch: 1, Cursor: 2, Delivered: 1, Failed: []FailedDelivery{{Seq: 2, MessageID: ids[1]}}}),
	}})
	if r.Batch[0].Code != CodeOK || r.Batch[1].Code != CodeForbidden || r.Batch[2].Code != CodeOK || r.Batch[0].Cursor != 2 {
		t.Fatalf("batch results %+v", r.Batch)
	}
	if len(r.Batch[0].IDs) != 1 || r.Batch[0].IDs[0] != formatID(h.index, 0) || !sameStrings(r.Batch[3].IDs, r.Batch[0].IDs) {
		t.Fatalf("dead-letter ids %+v", r.Batch)
	}
	if si := h.mustSub("q", a); si.Delivered != 1 || si.FailedCount != 1 {
		t.Fatalf("a retried ack was applied twice: %+v", si)
	}
	if len(h.outbox("q", 0)) != 0 || len(h.all("dlq")) != 1 {
		t.Fatal("batch effects")
	}
}

func TestDeliverySnapshotAndDigest(t *testing.T) {
	h := newHarness(t, Config{})
	empty := New(Config{})
	emptyDigest := empty.Digest()
	a := h.newSub("q", "http://a", 600, `{"_dead_letter_queue": "dlq", "z": {"b": 1, "a": 2}}`)
	b := h.newSub("q", "http://b", 6000, "")
	h.ok(CmdSubscriptionCreate, &SubscriptionCreate{Project: "p2", SourceKind: SourceTopic, Source: "t", Subscriber: "mailto:x@y", TTL: 60})
	h.createQueue("d", `{"_default_message_delay": 5}`)
	h.newSub("d", "http://a", 600, "")
	h.assign(3, Assignment{a, "n1"}, Assignment{b, "n2"})
	ids := h.post("q", body(`1`), body(`2`), body(`3`))
	h.post("d", body(`4`))
	h.ok(CmdAck, &Ack{SubscriptionID: a, Owner: "n1", Epoch: 3, Cursor: 2, Delivered: 1, LastError: "boom",
		Failed: []FailedDelivery{{Seq: 2, MessageID: ids[1], Error: "boom", Attempts: 3}}})
	h.ok(CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: b, Confirmed: true})
	h.apply(CmdSubscriptionCreate, "rid", &SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "q", Subscriber: "http://b", TTL: 60})

	g := New(Config{})
	snap := restoreInto(t, h.f, g)
	if g.Digest() != h.f.Digest() {
		t.Fatal("restore did not reproduce the digest")
	}
	checkInvariants(t, g)
	again := restoreInto(t, g, New(Config{}))
	if !bytes.Equal(snap, again) {
		t.Fatal("snapshot bytes of equal states differ")
	}
	var want, got []SubscriptionInfo
	var wantE, gotE []OutboxEntry
	h.f.Read(func(s *State) {
		want = s.AllSubscriptions(h.now)
		wantE = s.OutboxEntries(prj, SourceQueue, "q", 0, 100, h.now)
	})
	g.Read(func(s *State) {
		got = s.AllSubscriptions(h.now)
		gotE = s.OutboxEntries(prj, SourceQueue, "q", 0, 100, h.now)
	})
	if len(got) != 4 || len(want) != len(got) || len(gotE) != 3 || len(wantE) != 3 {
		t.Fatalf("restored %d subscriptions, %d entries", len(got), len(gotE))
	}
	for i := range got {
		if got[i].Owner != want[i].Owner || got[i].Cursor != want[i].Cursor || !bytes.Equal(got[i].Secret, want[i].Secret) ||
			len(got[i].RecentFailures) != len(want[i].RecentFailures) || got[i].Pending != want[i].Pending {
			t.Fatalf("restored %+v, want %+v", got[i], want[i])
		}
	}
	// Both keep going in lockstep, including dedupe of subscription commands.
	for _, f := range []*FSM{h.f, g} {
		idx := h.index + 1
		f.ApplyEntry(idx, encodeEntry(t, CmdAck, h.now, "", &Ack{SubscriptionID: b, Owner: "n2", Epoch: 3, Cursor: 3}))
		f.ApplyEntry(idx+1, encodeEntry(t, CmdSubscriptionCreate, h.now, "rid", &SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "q", Subscriber: "http://zzz", TTL: 60}))
		f.ApplyEntry(idx+2, encodeEntry(t, CmdSweep, h.now+7000*sec, "", &Sweep{}))
	}
	if g.Digest() != h.f.Digest() {
		t.Fatal("diverged after restore")
	}
	// Only the (lazily created) topic t keeps its source.
	if len(h.f.st.subs) != 0 || len(h.f.st.sources) != 1 || h.f.BodyBytes() != 0 {
		t.Fatalf("sweep left %d subscriptions, %d bytes", len(h.f.st.subs), h.f.BodyBytes())
	}
	// The assignment epoch alone changes the digest.
	empty.ApplyEntry(1, encodeEntry(t, CmdAssign, t0, "", &Assign{Epoch: 1}))
	if empty.Digest() == emptyDigest {
		t.Fatal("epoch not digested")
	}
	e2 := New(Config{})
	restoreInto(t, empty, e2)
	var ep uint64
	e2.Read(func(s *State) { ep = s.AssignmentEpoch() })
	if ep != 1 || e2.Digest() != empty.Digest() {
		t.Fatal("epoch not restored")
	}
}

func TestRestoreDeliveryRecords(t *testing.T) {
	// A version 1 stream (no delivery records) still restores.
	h := newHarness(t, Config{})
	h.post("q", body(`1`))
	var buf bytes.Buffer
	persist, _ := h.f.Snapshot()
	if err := persist(&buf); err != nil {
		t.Fatal(err)
	}
	hdr2, _ := msgpack.Marshal(snapHeader{Magic: snapMagic, Version: snapVersion})
	hdr1, _ := msgpack.Marshal(snapHeader{Magic: snapMagic, Version: 1})
	if !bytes.HasPrefix(buf.Bytes(), hdr2) {
		t.Fatal("unexpected header encoding")
	}
	v1 := append(append([]byte(nil), hdr1...), buf.Bytes()[len(hdr2):]...)
	g := New(Config{})
	if err := g.Restore(bytes.NewReader(v1)); err != nil || g.Digest() != h.f.Digest() {
		t.Fatalf("version 1: %v", err)
	}

	// Hand-made streams with misplaced or inconsistent delivery records.
	stream := func(recs ...any) []byte {
		var b bytes.Buffer
		enc := msgpack.NewEncoder(&b)
		_ = enc.Encode(snapHeader{Magic: snapMagic, Version: snapVersion})
		for i := 0; i < len(recs); i += 2 {
			_ = enc.EncodeUint8(recs[i].(uint8))
			_ = enc.Encode(recs[i+1])
		}
		return b.Bytes()
	}
	src := &snapSource{Project: prj, Kind: SourceQueue, Name: "q", Tail: 5}
	sub := &subscription{ID: formatID(1, 0), Project: prj, Kind: SourceQueue, Source: "q", Subscriber: "http://a", Expires: t0, Cursor: 2}
	entry := func(seq uint64) *OutboxEntry {
		return &OutboxEntry{Seq: seq, MessageID: formatID(1, 1), Body: []byte(`1`), Expires: t0}
	}
	cnt := &snapCounters{OutboxBytes: 1}
	okEnd := &snapEnd{Sources: 1, Subscriptions: 1, Outbox: 1}
	good := stream(recCounters, cnt, recSource, src, recSubscription, sub, recOutbox, entry(3), recEnd, okEnd)
	if err := New(Config{}).Restore(bytes.NewReader(good)); err != nil {
		t.Fatalf("good hand-made stream: %v", err)
	}
	otherSub := *sub
	otherSub.Source = "other"
	lateSub := *sub
	lateSub.Cursor = 6
	for name, s := range map[string][]byte{
		"subscription without source": stream(recCounters, cnt, recSubscription, sub, recEnd, okEnd),
		"subscription of another":     stream(recCounters, cnt, recSource, src, recSubscription, &otherSub, recEnd, okEnd),
		"cursor beyond tail":          stream(recCounters, cnt, recSource, src, recSubscription, &lateSub, recEnd, okEnd),
		"duplicate subscription":      stream(recCounters, cnt, recSource, src, recSubscription, sub, recSubscription, sub, recEnd, okEnd),
		"entry beyond tail":           stream(recCounters, cnt, recSource, src, recSubscription, sub, recOutbox, entry(6), recEnd, okEnd),
		"entries out of order":        stream(recCounters, &snapCounters{OutboxBytes: 2}, recSource, src, recSubscription, sub, recOutbox, entry(4), recOutbox, entry(3), recEnd, &snapEnd{Sources: 1, Subscriptions: 1, Outbox: 2}),
		"entry after a queue":         stream(recCounters, cnt, recSource, src, recSubscription, sub, recQueue, &snapQueue{Project: prj, Name: "q"}, recOutbox, entry(3), recEnd, okEnd),
		"source without subscription": stream(recCounters, &snapCounters{}, recSource, src, recEnd, &snapEnd{Sources: 1}),
		"duplicate source":            stream(recCounters, cnt, recSource, src, recSubscription, sub, recSource, src, recEnd, okEnd),
		"bad source kind":             stream(recCounters, &snapCounters{}, recSource, &snapSource{Project: prj, Kind: "x", Name: "q"}, recEnd, &snapEnd{Sources: 1}),
		"outbox bytes mismatch":       stream(recCounters, &snapCounters{OutboxBytes: 7}, recSource, src, recSubscription, sub, recOutbox, entry(3), recEnd, okEnd),
	} {
		if err := New(Config{}).Restore(bytes.NewReader(s)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDeliveryDigestSensitivity applies, at the same index, commands that
// each change one delivery field; every resulting state must digest
// differently (a field the digest forgets would make two of them equal).
func TestDeliveryDigestSensitivity(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.newSub("q", "http://a", 600, `{"x": 1}`)
	h.newSub("q", "http://b", 600, "") // holds entries back: no GC
	h.assign(1, Assignment{a, "n1"})
	ids := h.post("q", body(`1`), body(`2`))
	ack := func(p Ack) (CmdType, any) {
		p.SubscriptionID, p.Owner, p.Epoch = a, "n1", 1
		return CmdAck, &p
	}
	variants := []func() (CmdType, any){
		func() (CmdType, any) { return CmdNoop, nil },
		func() (CmdType, any) { return ack(Ack{Cursor: 1}) },
		func() (CmdType, any) { return ack(Ack{Delivered: 1}) },
		func() (CmdType, any) { return ack(Ack{Skipped: 1}) },
		func() (CmdType, any) { return ack(Ack{LastError: "e", LastErrorAt: 1}) },
		func() (CmdType, any) { return ack(Ack{LastError: "e", LastErrorAt: 2}) },
		func() (CmdType, any) { return ack(Ack{Failed: []FailedDelivery{{Seq: 1, MessageID: ids[0]}}}) },
		func() (CmdType, any) {
			return ack(Ack{Failed: []FailedDelivery{{Seq: 1, MessageID: ids[0], Attempts: 2}}})
		},
		func() (CmdType, any) {
			return CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: a, Confirmed: true}
		},
		func() (CmdType, any) { return CmdAssign, &Assign{Epoch: 2} },
		func() (CmdType, any) { return CmdAssign, &Assign{Epoch: 2, Changes: []Assignment{{a, "n2"}}} },
		func() (CmdType, any) {
			return CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, Options: metaOf(t, `{"x": 2}`)}
		},
		func() (CmdType, any) {
			return CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, Subscriber: strp("http://c")}
		},
		func() (CmdType, any) {
			return CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, TTL: i64(601)}
		},
	}
	seen := map[string]int{}
	for i, v := range variants {
		f := New(Config{})
		restoreInto(t, h.f, f)
		typ, p := v()
		if r := f.ApplyEntry(h.index+1, encodeEntry(t, typ, h.now, "", p)); r.Code != CodeOK {
			t.Fatalf("variant %d: %+v", i, r)
		}
		d := f.Digest()
		if j, dup := seen[d]; dup {
			t.Fatalf("variants %d and %d digest alike", j, i)
		}
		seen[d] = i
	}
}
