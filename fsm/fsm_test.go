package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestTimeNeverGoesBackwards(t *testing.T) {
	h := newHarness(t, Config{})
	h.ok(CmdNoop, nil)
	if h.f.LastNow() != t0 || h.f.AppliedIndex() != 1 {
		t.Fatalf("LastNow %d, applied %d", h.f.LastNow(), h.f.AppliedIndex())
	}
	h.tick(100)
	h.ok(CmdNoop, nil)
	h.now = t0 // a new leader with a slow clock
	id := h.post("q", body(`1`))[0]
	if m := h.one("q", id); m.Created != t0+100*sec {
		t.Fatalf("created %d, want FSM time %d", m.Created, t0+100*sec)
	}
	if h.f.LastNow() != t0+100*sec || h.f.AppliedIndex() != 3 {
		t.Fatalf("LastNow %d, applied %d", h.f.LastNow(), h.f.AppliedIndex())
	}
}

func TestUnknownCommand(t *testing.T) {
	h := newHarness(t, Config{})
	r := h.apply(CmdType(999), "", nil)
	if r.Code != CodeUnknownCommand || !errors.Is(r.Err(), ErrUnknownCommand) {
		t.Fatalf("unknown type: %+v", r)
	}
	if r := h.apply(CmdType(999)|CmdOptionalBit, "", map[string]int{"x": 1}); r.Code != CodeOK {
		t.Fatalf("optional unknown type: %+v", r)
	}
	if h.f.AppliedIndex() != 2 {
		t.Fatal("unknown commands must still advance the applied index")
	}
}

func TestUndecodableEntryPanics(t *testing.T) {
	f := New(Config{})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	f.ApplyEntry(1, []byte{0xc1, 0xff, 0x00})
}

func TestMalformedPayload(t *testing.T) {
	h := newHarness(t, Config{})
	raw, _ := msgpack.Marshal("not a struct")
	h.index++
	cmd := &Command{Type: CmdMessagesPost, Now: h.now, Payload: raw}
	b, _ := cmd.Encode()
	if r := h.f.ApplyEntry(h.index, b); r.Code != CodeBadRequest {
		t.Fatalf("malformed payload: %+v", r)
	}
}

func TestDedupe(t *testing.T) {
	h := newHarness(t, Config{DedupeWindow: 3})
	post := &MessagesPost{Project: prj, Queue: "q", Messages: []NewMessage{body(`1`)}}
	first := h.apply(CmdMessagesPost, "req-1", post)
	h.tick(1)
	again := h.apply(CmdMessagesPost, "req-1", post)
	if !sameStrings(first.IDs, again.IDs) || h.stats("q").Total != 1 {
		t.Fatalf("retry reapplied: %v vs %v, total %d", first.IDs, again.IDs, h.stats("q").Total)
	}
	if h.f.LastNow() != t0+sec {
		t.Fatal("a deduplicated entry must still advance FSM time")
	}
	// Errors are remembered too.
	patch := &QueuePatch{Project: prj, Queue: "nope", Ops: []PatchOp{{Op: "add", Key: "a", Value: json.RawMessage(`1`)}}}
	if r := h.apply(CmdQueuePatch, "req-2", patch); r.Code != CodeNotFound {
		t.Fatal(r.Msg)
	}
	h.createQueue("nope", "")
	if r := h.apply(CmdQueuePatch, "req-2", patch); r.Code != CodeNotFound {
		t.Fatalf("retry of a failed command must return the first result: %+v", r)
	}
	// Inside a batch, inner request ids are deduplicated individually.
	batch := &Batch{Commands: []Command{
		mustCmd(t, CmdMessagesPost, "req-1", post),
		mustCmd(t, CmdMessagesPost, "req-3", post),
		mustCmd(t, CmdMessagesPost, "req-3", post),
	}}
	r := h.ok(CmdBatch, batch)
	if !sameStrings(r.Batch[0].IDs, first.IDs) || !sameStrings(r.Batch[1].IDs, r.Batch[2].IDs) || h.stats("q").Total != 2 {
		t.Fatalf("batch dedupe: %+v, total %d", r.Batch, h.stats("q").Total)
	}
	// Window of 3: req-1 is evicted by req-2, req-3 and req-4 (FIFO).
	h.apply(CmdNoop, "req-4", nil)
	if r := h.apply(CmdMessagesPost, "req-1", post); sameStrings(r.IDs, first.IDs) || h.stats("q").Total != 3 {
		t.Fatalf("evicted request id was not reapplied: %v", r.IDs)
	}
	if got := len(h.f.st.dedupe.byID); got != 3 {
		t.Fatalf("window holds %d ids", got)
	}
}

func mustCmd(tb testing.TB, typ CmdType, reqID string, p any) Command {
	tb.Helper()
	c, err := NewCommand(typ, reqID, p)
	if err != nil {
		tb.Fatal(err)
	}
	return *c
}

func TestBatch(t *testing.T) {
	h := newHarness(t, Config{})
	r := h.ok(CmdBatch, &Batch{Commands: []Command{
		mustCmd(t, CmdMessagesPost, "", &MessagesPost{Project: prj, Queue: "q", Messages: []NewMessage{body(`1`)}}),
		mustCmd(t, CmdMessagesPost, "", &MessagesPost{Project: prj, Queue: "q", Messages: []NewMessage{body(`2`), body(`3`)}}),
		mustCmd(t, CmdQueuePatch, "", &QueuePatch{Project: prj, Queue: "missing"}),
		mustCmd(t, CmdBatch, "", &Batch{}),
		mustCmd(t, CmdClaimCreate, "", &ClaimCreate{Project: prj, Queue: "q", Limit: 1, TTL: 60, Grace: 60}),
		mustCmd(t, CmdType(4242), "", nil),
	}})
	if len(r.Batch) != 6 {
		t.Fatalf("%d results", len(r.Batch))
	}
	want := [][]string{{formatID(1, 0)}, {formatID(1, 1), formatID(1, 2)}}
	for i, w := range want {
		if !sameStrings(r.Batch[i].IDs, w) {
			t.Fatalf("inner %d ids %v, want %v", i, r.Batch[i].IDs, w)
		}
	}
	if r.Batch[2].Code != CodeNotFound || r.Batch[3].Code != CodeBadRequest || r.Batch[5].Code != CodeUnknownCommand {
		t.Fatalf("inner errors %+v", r.Batch)
	}
	if r.Batch[4].ClaimID != formatID(1, 3) || len(r.Batch[4].Messages) != 1 {
		t.Fatalf("claim after failures: %+v", r.Batch[4])
	}
	if h.stats("q").Total != 3 {
		t.Fatal("a failing inner command affected the others")
	}
}

func TestMemoryBudget(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 100})
	b40 := body(`"` + strings.Repeat("x", 38) + `"`) // 40 bytes
	ids := h.post("q", b40, b40)
	r := h.fails(CodeNoSpace, "100 bytes", CmdMessagesPost, &MessagesPost{Project: prj, Queue: "new", Messages: []NewMessage{b40}})
	if !errors.Is(r.Err(), ErrNoSpace) {
		t.Fatal("not ErrNoSpace")
	}
	if _, ok := h.queueInfo("new"); ok || h.f.BodyBytes() != 80 {
		t.Fatalf("failed post stored something: %d bytes", h.f.BodyBytes())
	}
	check := func(step string, want int64) {
		t.Helper()
		if got := h.f.BodyBytes(); got != want {
			t.Fatalf("%s: body bytes %d, want %d", step, got, want)
		}
		// The counter always equals the sum over stored messages.
		var sum int64
		for _, p := range h.f.st.projects {
			for _, q := range p.queues {
				q.msgs.ascend(mid{}, func(m *msg) bool { sum += int64(len(m.body)); return true })
			}
		}
		if sum != want {
			t.Fatalf("%s: stored bodies sum to %d", step, sum)
		}
	}
	h.ok(CmdMessageDel, &MessageDelete{Project: prj, Queue: "q", ID: ids[0]})
	check("delete", 40)
	h.post("q", b40)
	check("post after delete", 80)
	h.ok(CmdMessagesPop, &MessagesPop{Project: prj, Queue: "q", Limit: 1})
	check("pop", 40)
	h.ok(CmdMessagesDel, &MessagesDelete{Project: prj, Queue: "q", IDs: idsOf(h.all("q"))})
	check("bulk delete", 0)
	h.post("q", b40)
	h.ok(CmdQueuePurge, &QueuePurge{Project: prj, Queue: "q", Messages: true})
	check("purge", 0)
	h.post("q", NewMessage{Body: b40.Body, TTL: i64(60)})
	h.tick(60)
	h.ok(CmdSweep, &Sweep{})
	check("sweep", 0)
	h.createQueue("d", `{"_max_claim_count": 0, "_dead_letter_queue": "dlq"}`)
	h.post("d", b40)
	h.claim("d", 1, 60)
	check("dead-letter move", 40)
	h.post("q", b40)
	h.ok(CmdQueueDelete, &QueueDelete{Project: prj, Queue: "dlq"})
	check("queue delete", 40)

	g := New(Config{MaxBodyBytes: 100})
	restoreInto(t, h.f, g)
	if g.BodyBytes() != 40 {
		t.Fatalf("restore: body bytes %d", g.BodyBytes())
	}
}

func TestResultIsolation(t *testing.T) {
	h := newHarness(t, Config{})
	h.createQueue("q", `{"a": 1}`)
	patch := &QueuePatch{Project: prj, Queue: "q", Ops: []PatchOp{{Op: "add", Key: "b", Value: json.RawMessage(`2`)}}}
	r := h.apply(CmdQueuePatch, "req", patch)
	before := h.f.Digest()
	r.Metadata[KeyDefaultMessageTTL] = json.RawMessage(`3600`) // what a handler merging defaults might do
	r.IDs = append(r.IDs, "x")
	if h.f.Digest() != before {
		t.Fatal("modifying a returned Result changed the state")
	}
	if qi, _ := h.queueInfo("q"); len(qi.Metadata) != 2 {
		t.Fatalf("stored metadata changed: %v", qi.Metadata)
	}
	if r2 := h.apply(CmdQueuePatch, "req", patch); len(r2.Metadata) != 2 {
		t.Fatalf("remembered result changed: %v", r2.Metadata)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	p := &MessagesPost{Project: prj, Queue: "q", ClientID: "c", Messages: []NewMessage{{Body: json.RawMessage(`{"k":[1,2]}`), TTL: i64(60)}}}
	b := encodeEntry(t, CmdMessagesPost, 42, "rid", p)
	c, err := DecodeCommand(b)
	if err != nil || c.Type != CmdMessagesPost || c.Now != 42 || c.RequestID != "rid" {
		t.Fatalf("%+v %v", c, err)
	}
	var got MessagesPost
	if err := msgpack.Unmarshal(c.Payload, &got); err != nil || string(got.Messages[0].Body) != `{"k":[1,2]}` || *got.Messages[0].TTL != 60 {
		t.Fatalf("%+v %v", got, err)
	}
	// A Result survives the forwarding hop.
	res := Result{Code: CodeConflict, Msg: "x", Batch: []Result{{IDs: []string{"a"}}}}
	rb, _ := msgpack.Marshal(&res)
	var back Result
	if err := msgpack.Unmarshal(rb, &back); err != nil || !errors.Is(back.Err(), ErrConflict) || back.Batch[0].IDs[0] != "a" {
		t.Fatalf("%+v %v", back, err)
	}
}

func TestMetadataEncodingIsCanonical(t *testing.T) {
	md := map[string]json.RawMessage{}
	for i := 0; i < 50; i++ {
		md[string(rune('a'+i%26))+string(rune('A'+i/26))] = json.RawMessage(`[1]`)
	}
	md["nil"] = nil
	first, err := msgpack.Marshal(&QueueCreate{Project: prj, Queue: "q", Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, _ := msgpack.Marshal(&QueueCreate{Project: prj, Queue: "q", Metadata: md})
		if !bytes.Equal(first, again) {
			t.Fatal("metadata encoding depends on map iteration order")
		}
	}
	var back QueueCreate
	if err := msgpack.Unmarshal(first, &back); err != nil || len(back.Metadata) != len(md) ||
		string(back.Metadata["aA"]) != `[1]` || back.Metadata["nil"] != nil {
		t.Fatalf("round trip: %v %v", err, back.Metadata)
	}
	var nilMeta QueueCreate
	b, _ := msgpack.Marshal(&QueueCreate{})
	if err := msgpack.Unmarshal(b, &nilMeta); err != nil || nilMeta.Metadata != nil {
		t.Fatalf("nil metadata: %v %v", err, nilMeta.Metadata)
	}
}
