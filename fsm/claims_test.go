package fsm

import (
	"testing"
)

func TestClaimCreate(t *testing.T) {
	h := newHarness(t, Config{})
	if r := h.claim("missing", 5, 60); r.ClaimID != "" || r.Messages != nil {
		t.Fatalf("claim on a missing queue: %+v", r)
	}
	if _, ok := h.queueInfo("missing"); ok {
		t.Fatal("claim created the queue")
	}
	ids := h.post("q", body(`1`), body(`2`), body(`3`))
	expired := h.post("q", NewMessage{Body: []byte(`4`), TTL: i64(60)})
	h.tick(60)
	r := h.claim("q", 2, 120)
	if !ValidID(r.ClaimID) || r.ClaimID != formatID(h.index, 0) {
		t.Fatalf("claim id %q", r.ClaimID)
	}
	if !sameStrings(idsOf(r.Messages), ids[:2]) {
		t.Fatalf("claimed %v", idsOf(r.Messages))
	}
	for _, m := range r.Messages {
		if m.ClaimID != r.ClaimID || m.ClaimExpires != h.now+120*sec || m.ClaimCount != 1 {
			t.Fatalf("claimed view %+v", m)
		}
	}
	r2 := h.claim("q", 0, 120) // default limit; skips claimed and expired
	if !sameStrings(idsOf(r2.Messages), ids[2:]) {
		t.Fatalf("second claim %v (expired %v)", idsOf(r2.Messages), expired)
	}
	if r3 := h.claim("q", 5, 120); r3.ClaimID != "" || len(r3.Messages) != 0 {
		t.Fatalf("nothing left to claim, got %+v", r3)
	}
	// After expiry the messages are claimable again and the count grows.
	h.tick(120)
	r4 := h.claim("q", 5, 60)
	if len(r4.Messages) != 3 || r4.Messages[0].ClaimCount != 2 {
		t.Fatalf("reclaim %+v", r4.Messages)
	}
	h.fails(CodeBadRequest, "ttl", CmdClaimCreate, &ClaimCreate{Project: prj, Queue: "q", TTL: 0, Grace: 60})
	h.fails(CodeBadRequest, "grace", CmdClaimCreate, &ClaimCreate{Project: prj, Queue: "q", TTL: 60, Grace: -1})
}

func TestClaimGrace(t *testing.T) {
	h := newHarness(t, Config{})
	short := h.post("q", NewMessage{Body: []byte(`"short"`), TTL: i64(60)})[0]
	long := h.post("q", NewMessage{Body: []byte(`"long"`), TTL: i64(3600)})[0]
	h.tick(10)
	r := h.ok(CmdClaimCreate, &ClaimCreate{Project: prj, Queue: "q", Limit: 2, TTL: 120, Grace: 30})
	claimExp := h.now + 120*sec
	s := h.one("q", short)
	if s.Expires != claimExp+30*sec || s.TTL != 150 || s.Created != t0 {
		t.Fatalf("short message not extended: expires +%ds ttl %d", (s.Expires-h.now)/sec, s.TTL)
	}
	l := h.one("q", long)
	if l.Expires != t0+3600*sec || l.TTL != 3600 {
		t.Fatalf("long message touched: %+v", l)
	}
	// Renewal re-applies the rule.
	h.tick(100)
	h.ok(CmdClaimUpdate, &ClaimUpdate{Project: prj, Queue: "q", ClaimID: r.ClaimID, TTL: 300, Grace: 60})
	s = h.one("q", short)
	if s.Expires != h.now+360*sec || s.TTL != 360 || s.ClaimExpires != h.now+300*sec {
		t.Fatalf("short message after renew: expires +%ds ttl %d", (s.Expires-h.now)/sec, s.TTL)
	}
	if l := h.one("q", long); l.Expires != t0+3600*sec || l.ClaimExpires != h.now+300*sec {
		t.Fatalf("long message after renew: %+v", l)
	}
}

func TestClaimUpdate(t *testing.T) {
	h := newHarness(t, Config{})
	h.post("q", body(`1`), body(`2`))
	r := h.claim("q", 2, 60)
	h.tick(30)
	h.ok(CmdClaimUpdate, &ClaimUpdate{Project: prj, Queue: "q", ClaimID: r.ClaimID, TTL: 90, Grace: 60})
	ci, ok := h.claimInfo("q", r.ClaimID)
	if !ok || ci.Updated != h.now || ci.Expires != h.now+90*sec || ci.TTL != 90 || ci.Grace != 60 || len(ci.Messages) != 2 {
		t.Fatalf("renewed claim %+v", ci)
	}
	for _, m := range ci.Messages {
		if m.ClaimExpires != ci.Expires {
			t.Fatalf("message claim expiry %d, want %d", m.ClaimExpires, ci.Expires)
		}
	}
	h.tick(89)
	if _, ok := h.claimInfo("q", r.ClaimID); !ok {
		t.Fatal("renewed claim expired early")
	}
	h.tick(1)
	h.fails(CodeNotFound, r.ClaimID, CmdClaimUpdate, &ClaimUpdate{Project: prj, Queue: "q", ClaimID: r.ClaimID, TTL: 60, Grace: 60})
	h.fails(CodeNotFound, "", CmdClaimUpdate, &ClaimUpdate{Project: prj, Queue: "q", ClaimID: formatID(77, 0), TTL: 60, Grace: 60})
	h.fails(CodeNotFound, "", CmdClaimUpdate, &ClaimUpdate{Project: prj, Queue: "nope", ClaimID: r.ClaimID, TTL: 60, Grace: 60})
	h.fails(CodeBadRequest, "ttl", CmdClaimUpdate, &ClaimUpdate{Project: prj, Queue: "q", ClaimID: r.ClaimID, TTL: -5})
}

func TestClaimDelete(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.post("q", body(`1`), body(`2`))
	r := h.claim("q", 2, 300)
	h.ok(CmdClaimDelete, &ClaimDelete{Project: prj, Queue: "q", ClaimID: r.ClaimID})
	if _, ok := h.claimInfo("q", r.ClaimID); ok {
		t.Fatal("released claim still readable")
	}
	page, _ := h.list("q", ListOptions{Echo: true})
	if !sameStrings(idsOf(page), ids) || page[0].ClaimID != "" || page[0].ClaimCount != 1 {
		t.Fatalf("released messages %+v", page)
	}
	if r2 := h.claim("q", 5, 300); len(r2.Messages) != 2 || r2.Messages[0].ClaimCount != 2 {
		t.Fatal("released messages must be claimable, count kept")
	}
	h.ok(CmdClaimDelete, &ClaimDelete{Project: prj, Queue: "q", ClaimID: r.ClaimID})  // already gone
	h.ok(CmdClaimDelete, &ClaimDelete{Project: prj, Queue: "zz", ClaimID: "unknown"}) // nothing there
}

func TestClaimRead(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.post("q", body(`1`), body(`2`), body(`3`))
	h.post("other", body(`x`))
	r := h.claim("q", 3, 120)
	h.tick(20)
	ci, ok := h.claimInfo("q", r.ClaimID)
	if !ok || !sameStrings(idsOf(ci.Messages), ids) || h.now-ci.Updated != 20*sec || ci.Expires != t0+120*sec {
		t.Fatalf("claim %+v", ci)
	}
	if _, ok := h.claimInfo("other", r.ClaimID); ok {
		t.Fatal("claim readable through another queue")
	}
	h.ok(CmdMessageDel, &MessageDelete{Project: prj, Queue: "q", ID: ids[1], ClaimID: r.ClaimID})
	if ci, _ := h.claimInfo("q", r.ClaimID); !sameStrings(idsOf(ci.Messages), []string{ids[0], ids[2]}) {
		t.Fatalf("after delete %v", idsOf(ci.Messages))
	}
	h.ok(CmdMessagesDel, &MessagesDelete{Project: prj, Queue: "q", IDs: []string{ids[0], ids[2]}})
	if ci, ok := h.claimInfo("q", r.ClaimID); !ok || len(ci.Messages) != 0 {
		t.Fatalf("an emptied active claim is still returned: %v %+v", ok, ci)
	}
	h.tick(100)
	if _, ok := h.claimInfo("q", r.ClaimID); ok {
		t.Fatal("expired claim readable")
	}
}

func TestDeadLetterQueue(t *testing.T) {
	h := newHarness(t, Config{})
	h.createQueue("q", `{"_max_claim_count": 2, "_dead_letter_queue": "dlq"}`)
	id := h.post("q", body(`"poison"`))[0]
	// Sequence of tempest test_dead_letter_queue: 201, 201, 204.
	for i := 1; i <= 2; i++ {
		r := h.claim("q", 10, 60)
		if r.ClaimID == "" || len(r.Messages) != 1 || r.Messages[0].ClaimCount != i {
			t.Fatalf("claim #%d: %+v", i, r)
		}
		h.tick(60)
	}
	if r := h.claim("q", 10, 60); r.ClaimID != "" || len(r.Messages) != 0 {
		t.Fatalf("claim #3 must claim nothing: %+v", r)
	}
	if st := h.stats("q"); st.Total != 0 {
		t.Fatalf("source queue still holds %d", st.Total)
	}
	if _, ok := h.queueInfo("dlq"); !ok {
		t.Fatal("DLQ not created lazily")
	}
	moved := h.all("dlq")
	if len(moved) != 1 {
		t.Fatalf("DLQ holds %d messages", len(moved))
	}
	m := moved[0]
	if m.ID == id || m.ID <= id || m.ClaimID != "" || m.ClaimCount != 2 || string(m.Body) != `"poison"` ||
		m.Expires != t0+3600*sec || m.Created != t0 {
		t.Fatalf("moved message %+v", m)
	}
	if h.f.BodyBytes() != int64(len(`"poison"`)) {
		t.Fatalf("body bytes %d after the move", h.f.BodyBytes())
	}
}

func TestDeadLetterQueueTTLAndOrder(t *testing.T) {
	h := newHarness(t, Config{})
	h.createQueue("q", `{"_max_claim_count": 0, "_dead_letter_queue": "dlq", "_dead_letter_queue_messages_ttl": 120}`)
	old := h.post("dlq", body(`"already there"`))
	ids := h.post("q", body(`1`), body(`2`))
	h.tick(5)
	if r := h.claim("q", 10, 60); r.ClaimID != "" {
		t.Fatalf("max 0: nothing may be claimed, got %+v", r)
	}
	moved := h.all("dlq")
	if len(moved) != 3 || moved[0].ID != old[0] || string(moved[1].Body) != "1" || string(moved[2].Body) != "2" {
		t.Fatalf("DLQ order %+v", moved)
	}
	for _, m := range moved[1:] {
		if m.Expires != h.now+120*sec || m.TTL != 120 || m.ID <= ids[1] {
			t.Fatalf("moved message %+v", m)
		}
	}
}

func TestDeadLetterNeedsBothKeys(t *testing.T) {
	for _, meta := range []string{
		`{"_max_claim_count": 1}`,
		`{"_dead_letter_queue": "dlq"}`,
		`{"_max_claim_count": null, "_dead_letter_queue": "dlq"}`,
		`{"_max_claim_count": 1, "_dead_letter_queue": "not a queue name"}`,
	} {
		h := newHarness(t, Config{})
		h.createQueue("q", meta)
		h.post("q", body(`1`))
		for i := 1; i <= 3; i++ {
			r := h.claim("q", 1, 60)
			if len(r.Messages) != 1 || r.Messages[0].ClaimCount != i {
				t.Fatalf("%s: claim #%d %+v", meta, i, r)
			}
			h.tick(60)
		}
		if _, ok := h.queueInfo("dlq"); ok {
			t.Fatalf("%s: DLQ used", meta)
		}
	}
}

func TestSweep(t *testing.T) {
	h := newHarness(t, Config{})
	short := h.post("a", NewMessage{Body: []byte(`"s1"`), TTL: i64(60)}, NewMessage{Body: []byte(`"s2"`), TTL: i64(60)})
	keep := h.post("a", body(`"keep"`))
	h.post("b", NewMessage{Body: []byte(`"s3"`), TTL: i64(90)})
	cl := h.claim("a", 1, 90) // takes short[0] and extends it to +150s (+60 grace)
	if r := h.ok(CmdSweep, &Sweep{}); r.Swept != 0 {
		t.Fatalf("swept %d with nothing expired", r.Swept)
	}
	h.tick(100)
	r := h.ok(CmdSweep, &Sweep{Limit: 1})
	if r.Swept != 1 {
		t.Fatalf("limited sweep removed %d", r.Swept)
	}
	r = h.ok(CmdSweep, &Sweep{})
	if r.Swept != 1 {
		t.Fatalf("second sweep removed %d", r.Swept)
	}
	if got := idsOf(h.all("a")); !sameStrings(got, []string{short[0], keep[0]}) {
		t.Fatalf("queue a holds %v", got)
	}
	if st := h.stats("b"); st.Total != 0 || h.f.st.queue(prj, "b").msgs.Len() != 0 {
		t.Fatal("queue b not swept")
	}
	// The expired claim was released by the sweep: stored claim fields cleared.
	qa := h.f.st.queue(prj, "a")
	if len(qa.claims) != 0 || qa.getMsg(short[0]).claimed || qa.msgs.root.free != 2 {
		t.Fatalf("claim %s not released: %d claims", cl.ClaimID, len(qa.claims))
	}
	h.tick(50)
	if r := h.ok(CmdSweep, &Sweep{}); r.Swept != 1 {
		t.Fatalf("grace-extended message: swept %d", r.Swept)
	}
	want := int64(len(`"keep"`))
	if h.f.BodyBytes() != want {
		t.Fatalf("body bytes %d, want %d", h.f.BodyBytes(), want)
	}
	// Only the long-lived message is due now, far in the future.
	if h.f.st.due.Len() != 1 {
		t.Fatalf("due index holds %d queues", h.f.st.due.Len())
	}
	h.tick(3600)
	h.ok(CmdSweep, &Sweep{})
	if h.f.st.due.Len() != 0 || h.f.BodyBytes() != 0 {
		t.Fatalf("due %d, bytes %d", h.f.st.due.Len(), h.f.BodyBytes())
	}
}
