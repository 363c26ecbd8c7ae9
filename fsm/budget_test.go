package fsm

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestOutboxBodiesCountOnce checks the memory budget of subscribed queues:
// a body shared by a message and its outbox entry counts once, and moves
// to the entry when the message goes first.
func TestOutboxBodiesCountOnce(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 100})
	b20 := body(`"` + strings.Repeat("x", 18) + `"`) // 20 bytes
	id := h.newSub("q", "http://a", 600, `{"_dead_letter_queue": "dlq"}`)
	h.assign(1, Assignment{id, "n"})
	used := func(step string, want int64) {
		t.Helper()
		if got := h.f.BodyBytes(); got != want {
			t.Fatalf("%s: budget use %d, want %d", step, got, want)
		}
		checkInvariants(t, h.f)
	}
	ids := h.post("q", b20, b20)
	used("post to a subscribed queue", 40)
	// Deleting a message hands its body over to the entry still owed.
	h.ok(CmdMessagesDel, &MessagesDelete{Project: prj, Queue: "q", IDs: ids[:1]})
	used("delete", 40)
	h.ok(CmdMessagesPop, &MessagesPop{Project: prj, Queue: "q", Limit: 1})
	used("pop", 40)
	ids = append(ids, h.post("q", b20, b20, b20)...)
	used("full", 100)
	h.fails(CodeNoSpace, "100 bytes", CmdMessagesPost, &MessagesPost{Project: prj, Queue: "other", Messages: []NewMessage{b20}})
	// A dead-letter copy over the budget is explained, not made; the ack
	// itself is applied and releases the entry.
	r := h.ok(CmdAck, &Ack{SubscriptionID: id, Owner: "n", Epoch: 1, Cursor: 1, Failed: []FailedDelivery{{Seq: 1, MessageID: ids[0]}}})
	if len(r.IDs) != 0 || !strings.Contains(h.mustSub("q", id).RecentFailures[0].DeadLetterError, "memory budget") {
		t.Fatalf("over-budget dead letter: %+v %+v", r, h.mustSub("q", id).RecentFailures)
	}
	used("ack of an entry whose message is gone", 80)
	// With room, the copy is made; it shares the entry's body.
	r = h.ok(CmdAck, &Ack{SubscriptionID: id, Owner: "n", Epoch: 1, Failed: []FailedDelivery{{Seq: 2, MessageID: ids[1]}}})
	if len(r.IDs) != 1 {
		t.Fatalf("dead letter not made: %+v", h.mustSub("q", id).RecentFailures)
	}
	used("dead-letter copy", 100)
	// Acknowledging entries whose messages are stored changes nothing.
	h.ok(CmdAck, &Ack{SubscriptionID: id, Owner: "n", Epoch: 1, Cursor: 4})
	used("ack of entries of stored messages", 80)
	// Purging hands the remaining message's body to its entry.
	h.ok(CmdQueuePurge, &QueuePurge{Project: prj, Queue: "q", Messages: true})
	used("purge", 40)
	// Both expire: the message is swept first, then its entry.
	h.post("q", NewMessage{Body: b20.Body, TTL: i64(60)})
	h.tick(61)
	h.ok(CmdSweep, &Sweep{})
	used("sweep", 40)
	// Deleting the queue: the entry still owed keeps its body counted.
	h.post("q", b20)
	h.ok(CmdQueueDelete, &QueueDelete{Project: prj, Queue: "q"})
	used("queue delete", 60)
	// Snapshot and restore agree on the counters and share bodies again.
	g := New(Config{MaxBodyBytes: 100})
	restoreInto(t, h.f, g)
	if g.BodyBytes() != h.f.BodyBytes() || g.Digest() != h.f.Digest() {
		t.Fatalf("restored budget use %d, want %d", g.BodyBytes(), h.f.BodyBytes())
	}
	checkInvariants(t, g)
}

// TestDedupeWindowInBudget checks that the bodies and metadata held by
// remembered results count against the memory budget until evicted.
func TestDedupeWindowInBudget(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 100, DedupeWindow: 2})
	b20 := body(`"` + strings.Repeat("x", 18) + `"`)
	h.post("q", b20, b20, b20)
	if h.f.BodyBytes() != 60 {
		t.Fatalf("budget use %d", h.f.BodyBytes())
	}
	// A remembered pop keeps its bodies after they left the queue.
	if r := h.apply(CmdMessagesPop, "pop-1", &MessagesPop{Project: prj, Queue: "q", Limit: 2}); len(r.Messages) != 2 {
		t.Fatalf("popped %d", len(r.Messages))
	}
	if h.f.BodyBytes() != 60 {
		t.Fatalf("after a remembered pop: %d", h.f.BodyBytes())
	}
	// A remembered claim counts its bodies although they are still stored
	// (they usually go soon, the result stays).
	if r := h.apply(CmdClaimCreate, "claim-1", &ClaimCreate{Project: prj, Queue: "q", Limit: 5, TTL: 60}); len(r.Messages) != 1 {
		t.Fatalf("claimed %d", len(r.Messages))
	}
	if h.f.BodyBytes() != 80 {
		t.Fatalf("after a remembered claim: %d", h.f.BodyBytes())
	}
	h.fails(CodeNoSpace, "100 bytes", CmdMessagesPost, &MessagesPost{Project: prj, Queue: "q", Messages: []NewMessage{b20, b20}})
	// The retried pop gets its first result again, bodies included.
	if r := h.apply(CmdMessagesPop, "pop-1", &MessagesPop{Project: prj, Queue: "q", Limit: 2}); len(r.Messages) != 2 || string(r.Messages[0].Body) != string(b20.Body) {
		t.Fatalf("retried pop: %+v", r)
	}
	// Results without bodies evict the old ones.
	h.apply(CmdNoop, "noop-1", nil)
	if h.f.BodyBytes() != 40 { // the pop's 40 bytes left with it
		t.Fatalf("after evicting the pop: %d", h.f.BodyBytes())
	}
	h.createQueue("m", `{"k": "abcdefgh"}`)
	r := h.apply(CmdQueuePatch, "patch-1", &QueuePatch{Project: prj, Queue: "m", Ops: []PatchOp{{Op: "add", Key: "a", Value: []byte(`1`)}}})
	if r.Code != CodeOK || h.f.BodyBytes() != 20+int64(len(`k`+`"abcdefgh"`+`a`+`1`)) { // claim evicted, patch result held
		t.Fatalf("after a remembered patch: %d", h.f.BodyBytes())
	}
	g := New(Config{MaxBodyBytes: 100, DedupeWindow: 2})
	restoreInto(t, h.f, g)
	if g.BodyBytes() != h.f.BodyBytes() || g.Digest() != h.f.Digest() {
		t.Fatalf("restored budget use %d, want %d", g.BodyBytes(), h.f.BodyBytes())
	}
}

// TestRestoreVersion3 restores a snapshot written by a version 3 binary
// (testdata/snapshot-v3.bin: the workload of seed 5 after 2500 entries,
// with queue and topic sources whose entries partly share their body with a
// stored message), whose outbox counter covered every entry.
func TestRestoreVersion3(t *testing.T) {
	v3, err := os.ReadFile("testdata/snapshot-v3.bin")
	if err != nil {
		t.Fatal(err)
	}
	f := New(Config{DedupeWindow: 40})
	if err := f.Restore(bytes.NewReader(v3)); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, f)
	shared := 0
	for k, src := range f.st.sources {
		src.outbox.Ascend(func(e *OutboxEntry) bool {
			if q := f.st.queue(k.project, k.name); k.kind == SourceQueue && q != nil && q.getMsg(e.MessageID) != nil {
				shared++
			}
			return true
		})
	}
	const body, allEntries = 1062, 1094 // the version 3 counters
	if shared == 0 || f.st.bodyBytes != body || f.st.allEntryBytes() != allEntries || f.st.outboxBytes >= allEntries {
		t.Fatalf("%d shared entries, body %d, outbox %d", shared, f.st.bodyBytes, f.st.outboxBytes)
	}
	// It is written back as version 4 and restores to the same state.
	g := New(Config{DedupeWindow: 40})
	snap := restoreInto(t, f, g)
	if g.Digest() != f.Digest() || bytes.Equal(snap, v3) {
		t.Fatal("version 4 round trip")
	}
	// A version 3 stream is checked against its own counter.
	counter := []byte{0xa1, 'o', 0xd3, 0, 0, 0, 0, 0, 0, 0x04, 0x46} // "o": int64 1094
	bad := bytes.Replace(v3, counter, append(counter[:len(counter)-1:len(counter)-1], 0x47), 1)
	if bytes.Equal(bad, v3) {
		t.Fatal("counter not found in the stream")
	}
	if err := New(Config{}).Restore(bytes.NewReader(bad)); err == nil {
		t.Fatal("a wrong version 3 outbox counter was accepted")
	}
}
