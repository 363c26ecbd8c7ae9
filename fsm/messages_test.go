package fsm

import (
	"fmt"
	"testing"
)

func TestMessagesPostResolvesTTLAndDelay(t *testing.T) {
	tests := []struct {
		name      string
		meta      string
		msg       NewMessage
		wantTTL   int64
		wantDelay int64
	}{
		{"defaults", "", body(`1`), 3600, 0},
		{"message ttl", "", NewMessage{Body: []byte(`1`), TTL: i64(120)}, 120, 0},
		{"queue ttl", `{"_default_message_ttl": 300}`, body(`1`), 300, 0},
		{"message ttl beats queue ttl", `{"_default_message_ttl": 300}`, NewMessage{Body: []byte(`1`), TTL: i64(90)}, 90, 0},
		{"falsy queue ttl", `{"_default_message_ttl": null}`, body(`1`), 3600, 0},
		{"delay ignored without queue delay", "", NewMessage{Body: []byte(`1`), Delay: i64(30)}, 3600, 0},
		{"delay ignored with zero queue delay", `{"_default_message_delay": 0}`, NewMessage{Body: []byte(`1`), Delay: i64(30)}, 3600, 0},
		{"queue delay is the default", `{"_default_message_delay": 20}`, body(`1`), 3600, 20},
		{"message delay wins", `{"_default_message_delay": 20}`, NewMessage{Body: []byte(`1`), Delay: i64(100)}, 3600, 100},
		{"message delay zero", `{"_default_message_delay": 20}`, NewMessage{Body: []byte(`1`), Delay: i64(0)}, 3600, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.createQueue("q", tt.meta)
			id := h.post("q", tt.msg)[0]
			m := h.one("q", id)
			if m.TTL != tt.wantTTL || m.Expires != t0+tt.wantTTL*sec || m.Created != t0 {
				t.Fatalf("ttl %d expires %d created %d, want ttl %d", m.TTL, m.Expires, m.Created, tt.wantTTL)
			}
			if m.AvailableAt != t0+tt.wantDelay*sec {
				t.Fatalf("available at +%ds, want +%ds", (m.AvailableAt-t0)/sec, tt.wantDelay)
			}
		})
	}
}

func TestMessagesPost(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.postAs("client-a", "lazy", body(`{"a": 1}`), body(`null`), body(`[1,2]`))
	if _, ok := h.queueInfo("lazy"); !ok {
		t.Fatal("queue not created lazily")
	}
	for i, id := range ids {
		if !ValidID(id) || id != formatID(h.index, uint32(i)) {
			t.Fatalf("id %d = %q, want %s", i, id, formatID(h.index, uint32(i)))
		}
	}
	later := h.post("lazy", body(`2`))
	if later[0] <= ids[2] {
		t.Fatal("ids not monotonic in post order")
	}
	m := h.one("lazy", ids[0])
	if m.ClientID != "client-a" || string(m.Body) != `{"a": 1}` || m.ClaimCount != 0 || m.ClaimID != "" {
		t.Fatalf("stored message %+v", m)
	}
	if got := idsOf(h.all("lazy")); !sameStrings(got, append(ids, later...)) {
		t.Fatalf("order %v", got)
	}

	// Failures store nothing and create nothing.
	h.fails(CodeBadRequest, "No messages", CmdMessagesPost, &MessagesPost{Project: prj, Queue: "empty"})
	h.fails(CodeBadRequest, "ttl 0", CmdMessagesPost, &MessagesPost{Project: prj, Queue: "bad",
		Messages: []NewMessage{body(`1`), {Body: []byte(`2`), TTL: i64(0)}}})
	h.fails(CodeBadRequest, "ttl", CmdMessagesPost, &MessagesPost{Project: prj, Queue: "bad",
		Messages: []NewMessage{{Body: []byte(`2`), TTL: i64(1 << 40)}}})
	h.createQueue("delayed", `{"_default_message_delay": 10}`)
	h.fails(CodeBadRequest, "delay", CmdMessagesPost, &MessagesPost{Project: prj, Queue: "delayed",
		Messages: []NewMessage{{Body: []byte(`2`), Delay: i64(-1)}}})
	for _, q := range []string{"empty", "bad"} {
		if _, ok := h.queueInfo(q); ok {
			t.Fatalf("failed post created queue %s", q)
		}
	}
	if st := h.stats("delayed"); st.Total != 0 {
		t.Fatal("failed post stored a message")
	}
}

func TestListMessagesPaging(t *testing.T) {
	h := newHarness(t, Config{})
	var posted []string
	for i := 0; i < 25; i++ {
		posted = append(posted, h.post("q", body(fmt.Sprint(i)))...)
	}
	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		page, next := h.list("q", ListOptions{Marker: marker, Limit: 10, Echo: true})
		if len(page) == 0 {
			if next != "" || pages != 3 {
				t.Fatalf("empty page: marker %q after %d pages", next, pages)
			}
			break
		}
		if next != page[len(page)-1].ID {
			t.Fatalf("marker %q is not the last id", next)
		}
		got = append(got, idsOf(page)...)
		marker = next
	}
	if !sameStrings(got, posted) {
		t.Fatal("paging did not return every message once in order")
	}
	if page, _ := h.list("q", ListOptions{Echo: true}); len(page) != DefaultPageSize {
		t.Fatalf("limit 0 gave %d", len(page))
	}
	for _, bad := range []string{"garbage", "17", "-1", "ZZZZZZZZZZZZZZZZZZZZZZZZ"} {
		if page, next := h.list("q", ListOptions{Marker: bad, Echo: true}); page != nil || next != "" {
			t.Fatalf("marker %q gave %d messages", bad, len(page))
		}
	}
	// A well-formed marker that is not stored still positions the scan.
	if page, _ := h.list("q", ListOptions{Marker: formatID(0, 0), Limit: 1, Echo: true}); len(page) != 1 || page[0].ID != posted[0] {
		t.Fatal("marker below every id must start at the beginning")
	}
	if page, _ := h.list("missing", ListOptions{}); page != nil {
		t.Fatal("missing queue listed messages")
	}
}

func TestListMessagesFilters(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.postAs("A", "q", body(`"a1"`), body(`"a2"`))
	b := h.postAs("B", "q", body(`"b1"`), body(`"b2"`))
	short := h.postAs("B", "q", NewMessage{Body: []byte(`"short"`), TTL: i64(60)})
	list := func(o ListOptions) []string {
		o.Limit = 100
		page, _ := h.list("q", o)
		return idsOf(page)
	}
	all := append(append(append([]string{}, a...), b...), short...)
	if got := list(ListOptions{ClientID: "A"}); !sameStrings(got, append(append([]string{}, b...), short...)) {
		t.Fatalf("echo=false as A: %v", got)
	}
	if got := list(ListOptions{ClientID: "A", Echo: true}); !sameStrings(got, all) {
		t.Fatalf("echo=true: %v", got)
	}
	if got := list(ListOptions{}); !sameStrings(got, all) {
		t.Fatalf("no client id: %v", got)
	}

	cl := h.claim("q", 2, 120)
	if !sameStrings(idsOf(cl.Messages), a) {
		t.Fatalf("claimed %v, want %v", idsOf(cl.Messages), a)
	}
	if got := list(ListOptions{Echo: true}); !sameStrings(got, append(append([]string{}, b...), short...)) {
		t.Fatalf("claimed messages must be hidden: %v", got)
	}
	page, _ := h.list("q", ListOptions{Echo: true, IncludeClaimed: true, Limit: 100})
	if len(page) != 5 || page[0].ClaimID != cl.ClaimID || page[2].ClaimID != "" {
		t.Fatalf("include_claimed: %+v", page)
	}

	h.tick(60) // the short message expires (Expires <= now)
	if got := list(ListOptions{Echo: true, IncludeClaimed: true}); !sameStrings(got, append(append([]string{}, a...), b...)) {
		t.Fatalf("expired message listed: %v", got)
	}
	h.tick(60) // the claim expires: its messages are visible again, claim fields cleared in views
	page, _ = h.list("q", ListOptions{Echo: true, Limit: 100})
	if !sameStrings(idsOf(page), append(append([]string{}, a...), b...)) {
		t.Fatalf("after claim expiry: %v", idsOf(page))
	}
	if page[0].ClaimID != "" || page[0].ClaimExpires != 0 || page[0].ClaimCount != 1 {
		t.Fatalf("stale claim in view: %+v", page[0])
	}
}

func TestDelayedMessages(t *testing.T) {
	h := newHarness(t, Config{})
	h.createQueue("q", `{"_default_message_delay": 30}`)
	now := h.post("q", NewMessage{Body: []byte(`"now"`), Delay: i64(0)})
	later := h.post("q", body(`"later"`))
	list := func(o ListOptions) []string {
		o.Echo, o.Limit = true, 100
		page, _ := h.list("q", o)
		return idsOf(page)
	}
	if got := list(ListOptions{}); !sameStrings(got, now) {
		t.Fatalf("delayed message listed: %v", got)
	}
	if got := list(ListOptions{IncludeDelayed: true}); len(got) != 2 {
		t.Fatalf("include_delayed: %v", got)
	}
	if cl := h.claim("q", 10, 60); !sameStrings(idsOf(cl.Messages), now) {
		t.Fatalf("delayed message claimed: %v", idsOf(cl.Messages))
	}
	if r := h.ok(CmdMessagesPop, &MessagesPop{Project: prj, Queue: "q", Limit: 10}); len(r.Messages) != 0 {
		t.Fatal("delayed message popped")
	}
	if got := h.get("q", later[0]); len(got) != 1 {
		t.Fatal("GET by id must ignore delay")
	}
	if st := h.stats("q"); st.Free != 1 || st.Claimed != 1 || st.Total != 2 {
		t.Fatalf("delayed messages count as free: %+v", st)
	}
	h.tick(30)
	if got := list(ListOptions{IncludeClaimed: true}); len(got) != 2 {
		t.Fatalf("after the delay: %v", got)
	}

	// Removing the queue's delay makes pending delayed messages visible at once.
	h.post("q", NewMessage{Body: []byte(`"pending"`), Delay: i64(600)})
	if got := list(ListOptions{}); len(got) != 1 {
		t.Fatalf("pending delayed message listed: %v", got)
	}
	if r := h.patch("q", PatchOp{Op: "remove", Key: KeyDefaultMessageDelay}); r.Code != CodeOK {
		t.Fatal(r.Msg)
	}
	if got := list(ListOptions{}); len(got) != 2 {
		t.Fatalf("delay filtering must stop with the queue delay: %v", got)
	}
	if cl := h.claim("q", 10, 60); len(cl.Messages) != 2 {
		t.Fatalf("formerly delayed messages must be claimable: %d", len(cl.Messages))
	}
}

func TestGetMessages(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.postAs("me", "q", body(`1`), body(`2`), body(`3`))
	short := h.post("q", NewMessage{Body: []byte(`4`), TTL: i64(60)})
	cl := h.claim("q", 1, 300)
	h.tick(60)
	got := h.get("q", ids[2], "bad", ids[0], formatID(999, 0), ids[2], short[0], ids[1])
	if !sameStrings(idsOf(got), []string{ids[2], ids[0], ids[1]}) {
		t.Fatalf("got %v", idsOf(got))
	}
	if got[1].ClaimID != cl.ClaimID {
		t.Fatal("GET by ids must return claimed messages with their claim")
	}
	if h.get("missing", ids[0]) != nil {
		t.Fatal("missing queue returned messages")
	}
	if h.get("q", "nope") != nil {
		t.Fatal("nothing found must be nil")
	}
}

func TestMessageDelete(t *testing.T) {
	const (
		none    = "none"
		active  = "active"
		expired = "expired"
	)
	tests := []struct {
		name        string
		claimState  string // of the target message
		claimArg    string // "", "same", "other", "bad"
		wantCode    Code
		wantMsg     string
		wantDeleted bool
	}{
		{"unclaimed, no claim id", none, "", CodeOK, "", true},
		{"active claim, no claim id", active, "", CodeForbidden, "This message is claimed; it cannot be deleted without a valid claim ID.", false},
		{"expired claim, no claim id", expired, "", CodeOK, "", true},
		{"malformed claim id", active, "bad", CodeBadRequest, "does not exist or has expired", false},
		{"claim id, unclaimed", none, "other", CodeBadRequest, "A claim was specified, but the message is not currently claimed.", false},
		{"same claim id, expired", expired, "same", CodeBadRequest, "not currently claimed", false},
		{"other claim id, active", active, "other", CodeForbidden, "claimed by another client", false},
		{"same claim id, active", active, "same", CodeOK, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			ids := h.post("q", body(`"target"`), body(`"other"`))
			var cid, otherCID string
			if tt.claimState == none {
				// A real claim id that no longer holds the target.
				otherCID = h.claim("q", 1, 300).ClaimID
				h.ok(CmdClaimDelete, &ClaimDelete{Project: prj, Queue: "q", ClaimID: otherCID})
			} else {
				cid = h.claim("q", 1, 60).ClaimID       // holds ids[0]
				otherCID = h.claim("q", 1, 300).ClaimID // holds ids[1]
			}
			if tt.claimState == expired {
				h.tick(60)
			}
			arg := map[string]string{"": "", "same": cid, "other": otherCID, "bad": "123"}[tt.claimArg]
			r := h.apply(CmdMessageDel, "", &MessageDelete{Project: prj, Queue: "q", ID: ids[0], ClaimID: arg})
			if r.Code != tt.wantCode || !contains(r.Msg, tt.wantMsg) {
				t.Fatalf("got %d %q, want %d %q", r.Code, r.Msg, tt.wantCode, tt.wantMsg)
			}
			if deleted := len(h.get("q", ids[0])) == 0; deleted != tt.wantDeleted {
				t.Fatalf("deleted = %v, want %v", deleted, tt.wantDeleted)
			}
			if tt.wantDeleted && tt.claimArg == "same" {
				if ci, ok := h.claimInfo("q", cid); !ok || len(ci.Messages) != 0 || len(h.f.st.queue(prj, "q").claims[cid].MsgIDs) != 0 {
					t.Fatal("deleted message still listed by its claim")
				}
			}
		})
	}
	t.Run("missing things are fine", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.ok(CmdMessageDel, &MessageDelete{Project: prj, Queue: "nope", ID: formatID(1, 0)})
		h.post("q", body(`1`))
		h.ok(CmdMessageDel, &MessageDelete{Project: prj, Queue: "q", ID: "malformed"})
		h.ok(CmdMessageDel, &MessageDelete{Project: prj, Queue: "q", ID: formatID(99, 0), ClaimID: "bad"})
		if h.stats("q").Total != 1 {
			t.Fatal("message deleted")
		}
	})
}

// contains is strings.Contains without the import in this file.
func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestMessagesDeleteBulk(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.post("q", body(`1`), body(`2`), body(`3`), body(`4`))
	c1 := h.claim("q", 1, 300).ClaimID
	c2 := h.claim("q", 1, 300).ClaimID
	// With claim ids: a listed message not claimed by them -> nothing deleted.
	h.fails(CodeForbidden, ids[2], CmdMessagesDel, &MessagesDelete{Project: prj, Queue: "q",
		IDs: []string{ids[0], ids[2]}, ClaimIDs: []string{c1}})
	h.fails(CodeForbidden, ids[1], CmdMessagesDel, &MessagesDelete{Project: prj, Queue: "q",
		IDs: []string{ids[0], ids[1]}, ClaimIDs: []string{c1}})
	if h.stats("q").Total != 4 {
		t.Fatal("a refused bulk delete deleted something")
	}
	h.ok(CmdMessagesDel, &MessagesDelete{Project: prj, Queue: "q",
		IDs: []string{ids[0], ids[1], "junk", formatID(99, 0)}, ClaimIDs: []string{c1, c2}})
	if got := idsOf(h.all("q")); !sameStrings(got, ids[2:]) {
		t.Fatalf("left %v", got)
	}
	// Without claim ids: claimed or not, repeated ids fine.
	h.claim("q", 1, 300)
	h.ok(CmdMessagesDel, &MessagesDelete{Project: prj, Queue: "q", IDs: []string{ids[2], ids[3], ids[3]}})
	if st := h.stats("q"); st.Total != 0 || h.f.BodyBytes() != 0 {
		t.Fatalf("left %+v, %d bytes", st, h.f.BodyBytes())
	}
	h.ok(CmdMessagesDel, &MessagesDelete{Project: prj, Queue: "missing", IDs: ids})
}

func TestMessagesPop(t *testing.T) {
	h := newHarness(t, Config{})
	h.createQueue("q", `{"_default_message_delay": 1}`)
	ids := h.post("q", NewMessage{Body: []byte(`1`), Delay: i64(0)}, NewMessage{Body: []byte(`2`), Delay: i64(0)},
		NewMessage{Body: []byte(`3`), Delay: i64(0), TTL: i64(60)}, NewMessage{Body: []byte(`4`), Delay: i64(0)},
		NewMessage{Body: []byte(`5`), Delay: i64(900)}, NewMessage{Body: []byte(`6`), Delay: i64(0)})
	h.claim("q", 1, 600) // ids[0]
	h.tick(60)           // ids[2] expires
	r := h.ok(CmdMessagesPop, &MessagesPop{Project: prj, Queue: "q", Limit: 2})
	if !sameStrings(idsOf(r.Messages), []string{ids[1], ids[3]}) {
		t.Fatalf("popped %v", idsOf(r.Messages))
	}
	if r.Messages[0].ClaimID != "" || string(r.Messages[0].Body) != "2" {
		t.Fatalf("popped view %+v", r.Messages[0])
	}
	r = h.ok(CmdMessagesPop, &MessagesPop{Project: prj, Queue: "q", Limit: 20})
	if !sameStrings(idsOf(r.Messages), []string{ids[5]}) {
		t.Fatalf("second pop %v", idsOf(r.Messages))
	}
	if got := idsOf(h.all("q")); !sameStrings(got, []string{ids[0], ids[4]}) {
		t.Fatalf("left %v", got)
	}
	if r := h.ok(CmdMessagesPop, &MessagesPop{Project: prj, Queue: "missing", Limit: 5}); r.Messages != nil {
		t.Fatal("popped from a missing queue")
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t, Config{})
	if st := h.stats("missing"); st != (Stats{}) {
		t.Fatalf("missing queue %+v", st)
	}
	first := h.post("q", NewMessage{Body: []byte(`"short"`), TTL: i64(60)})
	ids := h.post("q", body(`1`), body(`2`), body(`3`))
	last := h.post("q", NewMessage{Body: []byte(`"short2"`), TTL: i64(60)})
	h.tick(1)
	h.claim("q", 2, 300) // first and ids[0]
	st := h.stats("q")
	if st.Total != 5 || st.Claimed != 2 || st.Free != 3 || st.Oldest.ID != first[0] || st.Newest.ID != last[0] {
		t.Fatalf("stats %+v", st)
	}
	h.tick(59) // the claimed short message has been extended by grace; the last one expires
	st = h.stats("q")
	if st.Total != 4 || st.Claimed != 2 || st.Free != 2 || st.Oldest.ID != first[0] || st.Newest.ID != ids[2] {
		t.Fatalf("stats after expiry %+v (newest %s)", st, st.Newest.ID)
	}
	h.tick(400) // claim gone, grace gone
	st = h.stats("q")
	if st.Total != 3 || st.Claimed != 0 || st.Oldest.ID != ids[0] {
		t.Fatalf("stats after claim expiry %+v", st)
	}
	h.ok(CmdSweep, &Sweep{})
	if st2 := h.stats("q"); st2.Total != st.Total || st2.Claimed != 0 || st2.Oldest.ID != ids[0] {
		t.Fatalf("sweep changed the stats: %+v", st2)
	}
	h.tick(3600)
	if st := h.stats("q"); st.Total != 0 || st.Oldest != nil || st.Newest != nil {
		t.Fatalf("all expired %+v", st)
	}
}
