package fsm

import (
	"encoding/json"
	"testing"
)

// subscribe subscribes to queue q and returns the result (any code).
func (h *harness) subscribe(q, subscriber string, ttl int64, opts string) *Result {
	h.tb.Helper()
	return h.apply(CmdSubscriptionCreate, "", &SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: q,
		Subscriber: subscriber, TTL: ttl, Options: metaOf(h.tb, opts), Secret: []byte("k-" + subscriber)})
}

// newSub subscribes and returns the new subscription's id.
func (h *harness) newSub(q, subscriber string, ttl int64, opts string) string {
	h.tb.Helper()
	r := h.subscribe(q, subscriber, ttl, opts)
	if r.Code != CodeOK || !r.Created || !ValidID(r.SubscriptionID) {
		h.tb.Fatalf("subscribe %s to %s: %+v", subscriber, q, r)
	}
	return r.SubscriptionID
}

func (h *harness) sub(q, id string) (si SubscriptionInfo, ok bool) {
	h.f.Read(func(s *State) { si, ok = s.Subscription(prj, SourceQueue, q, id, h.now) })
	return si, ok
}

func (h *harness) mustSub(q, id string) SubscriptionInfo {
	h.tb.Helper()
	si, ok := h.sub(q, id)
	if !ok {
		h.tb.Fatalf("subscription %s of %s not found", id, q)
	}
	return si
}

func (h *harness) subs(q, marker string, limit int) (out []SubscriptionInfo) {
	h.f.Read(func(s *State) { out = s.ListSubscriptions(prj, SourceQueue, q, marker, limit, h.now) })
	return out
}

func subIDs(ss []SubscriptionInfo) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func strp(s string) *string { return &s }

func TestSubscriptionCreate(t *testing.T) {
	h := newHarness(t, Config{})
	first := h.subscribe("q", "http://a", 600, `{"post_data": "x", "n": [1]}`)
	if first.Code != CodeOK || !first.Created || !ValidID(first.SubscriptionID) {
		t.Fatalf("new: %+v", first)
	}
	id := first.SubscriptionID
	if _, ok := h.queueInfo("q"); !ok {
		t.Fatal("the source queue was not created lazily")
	}
	si := h.mustSub("q", id)
	if si.Subscriber != "http://a" || si.TTL != 600 || si.Created != h.now || si.Expires != h.now+600*sec ||
		si.Confirmed || string(si.Secret) != "k-http://a" || string(si.Options["n"]) != `[1]` ||
		si.SourceKind != SourceQueue || si.Source != "q" || si.Project != prj {
		t.Fatalf("stored: %+v", si)
	}
	h.tick(10)
	// An unconfirmed duplicate returns the existing id and changes nothing.
	dup := h.subscribe("q", "http://a", 60, `{"other": 1}`)
	if dup.Code != CodeOK || dup.Created || dup.SubscriptionID != id {
		t.Fatalf("unconfirmed duplicate: %+v", dup)
	}
	if si := h.mustSub("q", id); si.TTL != 600 || si.Options["other"] != nil || string(si.Secret) != "k-http://a" {
		t.Fatalf("duplicate updated the subscription: %+v", si)
	}
	// A confirmed duplicate is a conflict that still names the existing id.
	h.ok(CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: id, Confirmed: true})
	h.queueDeleteKeepsSubs(t, "q", id) // and the conflict re-creates the queue (Zaqar's order)
	conflict := h.fails(CodeConflict, "Such subscription already exists.", CmdSubscriptionCreate,
		&SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "q", Subscriber: "http://a", TTL: 60})
	if conflict.SubscriptionID != id {
		t.Fatalf("conflict without the existing id: %+v", conflict)
	}
	if _, ok := h.queueInfo("q"); !ok {
		t.Fatal("the queue is created before the duplicate check")
	}
	// The key is project + kind + source + subscriber.
	others := []*SubscriptionCreate{
		{Project: prj, SourceKind: SourceQueue, Source: "q", Subscriber: "http://b", TTL: 60},
		{Project: prj, SourceKind: SourceQueue, Source: "q2", Subscriber: "http://a", TTL: 60},
		{Project: "other", SourceKind: SourceQueue, Source: "q", Subscriber: "http://a", TTL: 60},
		{Project: prj, SourceKind: SourceTopic, Source: "q", Subscriber: "http://a", TTL: 60},
	}
	seen := map[string]bool{id: true}
	for i, p := range others {
		r := h.ok(CmdSubscriptionCreate, p)
		if !r.Created || seen[r.SubscriptionID] {
			t.Fatalf("case %d: %+v", i, r)
		}
		seen[r.SubscriptionID] = true
	}
	if _, ok := h.queueInfo("q2"); !ok {
		t.Fatal("q2 not created")
	}
	// A topic subscription does not create a queue.
	h.ok(CmdSubscriptionCreate, &SubscriptionCreate{Project: prj, SourceKind: SourceTopic, Source: "t", Subscriber: "http://a", TTL: 60})
	if _, ok := h.queueInfo("t"); ok {
		t.Fatal("a topic subscription created a queue")
	}
}

// queueDeleteKeepsSubs deletes queue q and checks subscription id survives.
func (h *harness) queueDeleteKeepsSubs(t *testing.T, q, id string) {
	t.Helper()
	h.ok(CmdQueueDelete, &QueueDelete{Project: prj, Queue: q})
	if _, ok := h.queueInfo(q); ok {
		t.Fatal("queue not deleted")
	}
	h.mustSub(q, id)
}

func TestSubscriptionCreateErrors(t *testing.T) {
	h := newHarness(t, Config{})
	for _, tc := range []struct {
		name    string
		p       SubscriptionCreate
		code    Code
		msg     string
		creates bool // the queue exists afterwards
	}{
		{"bad kind", SubscriptionCreate{Project: prj, SourceKind: "pool", Source: "a", Subscriber: "http://x"}, CodeBadRequest, "source kind", false},
		{"no kind", SubscriptionCreate{Project: prj, Source: "b", Subscriber: "http://x"}, CodeBadRequest, "source kind", false},
		{"bad name", SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "a b", Subscriber: "http://x"}, CodeBadRequest, "Queue names", false},
		{"no subscriber", SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "c"}, CodeBadRequest, "Missing parameter subscriber", true},
		{"negative ttl", SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "d", Subscriber: "http://x", TTL: -1}, CodeBadRequest, "ttl", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.fails(tc.code, tc.msg, CmdSubscriptionCreate, &tc.p)
			if _, ok := h.queueInfo(tc.p.Source); ok != tc.creates {
				t.Fatalf("queue exists: %v, want %v", ok, tc.creates)
			}
		})
	}
	if len(h.f.st.subs) != 0 || len(h.f.st.sources) != 0 {
		t.Fatal("a failed create stored a subscription")
	}
	// ttl 0 is accepted and yields an already expired subscription (Zaqar quirk).
	r := h.ok(CmdSubscriptionCreate, &SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "e", Subscriber: "http://x"})
	if _, ok := h.sub("e", r.SubscriptionID); ok {
		t.Fatal("a ttl-0 subscription is visible")
	}
	// Expired but not yet swept: a new create replaces it.
	r2 := h.ok(CmdSubscriptionCreate, &SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "e", Subscriber: "http://x", TTL: 60})
	if !r2.Created || r2.SubscriptionID == r.SubscriptionID || len(h.f.st.subs) != 1 {
		t.Fatalf("expired duplicate not replaced: %+v, %d stored", r2, len(h.f.st.subs))
	}
	// Empty options and secrets are stored as none.
	h.ok(CmdSubscriptionCreate, &SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "f", Subscriber: "http://x", TTL: 60,
		Options: map[string]json.RawMessage{}, Secret: []byte{}})
	for _, sub := range h.f.st.subs {
		if sub.Source == "f" && (sub.Options != nil || sub.Secret != nil) {
			t.Fatalf("not normalized: %+v", sub)
		}
	}
}

func TestSubscriptionUpdate(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.newSub("q", "http://a", 600, `{"x": 1}`)
	b := h.newSub("q", "http://b", 600, "")
	other := h.newSub("q2", "http://c", 600, "")
	h.tick(100)
	upd := func(q, id string) *SubscriptionUpdate {
		return &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: q, ID: id}
	}
	for _, tc := range []struct {
		name string
		p    *SubscriptionUpdate
		code Code
		msg  string
	}{
		{"unknown id", upd("q", formatID(999, 0)), CodeNotFound, "does not exist"},
		{"malformed id", upd("q", "123"), CodeNotFound, "does not exist"},
		{"wrong queue", upd("q", other), CodeNotFound, "does not exist"},
		{"wrong project", &SubscriptionUpdate{Project: "x", SourceKind: SourceQueue, Source: "q", ID: a}, CodeNotFound, "does not exist"},
		{"wrong kind", &SubscriptionUpdate{Project: prj, SourceKind: SourceTopic, Source: "q", ID: a}, CodeNotFound, "does not exist"},
		{"duplicate subscriber", &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, Subscriber: strp("http://b")}, CodeConflict, "already exists"},
		{"empty subscriber", &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, Subscriber: strp("")}, CodeBadRequest, "empty"},
		{"negative ttl", &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, TTL: i64(-5)}, CodeBadRequest, "ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.fails(tc.code, tc.msg, CmdSubscriptionUpdate, tc.p)
			if si := h.mustSub("q", a); si.Subscriber != "http://a" || si.TTL != 600 {
				t.Fatalf("failed update changed the subscription: %+v", si)
			}
		})
	}
	// Nothing given: nothing changes. Own subscriber: no conflict.
	h.ok(CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, Subscriber: strp("http://a")})
	// Subscriber, ttl (restarts the clock) and options (replaced wholesale).
	h.ok(CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a,
		Subscriber: strp("http://a2"), TTL: i64(60), Options: metaOf(t, `{"y": 2}`)})
	si := h.mustSub("q", a)
	if si.Subscriber != "http://a2" || si.TTL != 60 || si.Expires != h.now+60*sec || si.Created != t0 ||
		len(si.Options) != 1 || string(si.Options["y"]) != "2" {
		t.Fatalf("updated: %+v", si)
	}
	// The old subscriber is free again; the new one is taken.
	if r := h.subscribe("q", "http://a", 60, ""); !r.Created {
		t.Fatalf("old subscriber still taken: %+v", r)
	}
	if r := h.subscribe("q", "http://a2", 60, ""); r.Created || r.SubscriptionID != a {
		t.Fatalf("new subscriber not indexed: %+v", r)
	}
	// nil Options leaves them; an empty non-nil map clears them.
	h.ok(CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, TTL: i64(600)})
	if si := h.mustSub("q", a); len(si.Options) != 1 {
		t.Fatalf("nil options changed them: %v", si.Options)
	}
	h.ok(CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, Options: map[string]json.RawMessage{}})
	if si := h.mustSub("q", a); si.Options != nil {
		t.Fatalf("empty options did not clear: %v", si.Options)
	}
	// Taking the subscriber of an expired (unswept) subscription replaces it.
	h.ok(CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: b, TTL: i64(0)})
	h.ok(CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a, Subscriber: strp("http://b")})
	if _, ok := h.f.st.subs[b]; ok {
		t.Fatal("the expired subscription was not replaced")
	}
	// An expired subscription cannot be updated.
	h.fails(CodeNotFound, "does not exist", CmdSubscriptionUpdate, &SubscriptionUpdate{Project: prj, SourceKind: SourceQueue, Source: "q", ID: b, TTL: i64(60)})
}

func TestSubscriptionDeleteAndConfirm(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.newSub("q", "http://a", 600, "")
	// Delete: always ok, only deletes from the named source.
	for _, p := range []*SubscriptionDelete{
		{Project: prj, SourceKind: SourceQueue, Source: "q", ID: formatID(9, 9)},
		{Project: prj, SourceKind: SourceQueue, Source: "other", ID: a},
		{Project: "x", SourceKind: SourceQueue, Source: "q", ID: a},
		{Project: prj, SourceKind: SourceTopic, Source: "q", ID: a},
	} {
		h.ok(CmdSubscriptionDelete, p)
		h.mustSub("q", a)
	}
	// Confirm matches on project and id only.
	h.fails(CodeNotFound, "does not exist", CmdSubscriptionConfirm, &SubscriptionConfirm{Project: "x", ID: a, Confirmed: true})
	h.fails(CodeNotFound, "does not exist", CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: formatID(9, 9), Confirmed: true})
	h.ok(CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: a, Confirmed: true})
	var byID SubscriptionInfo
	var ok bool
	h.f.Read(func(s *State) { byID, ok = s.SubscriptionByID(prj, a, h.now) })
	if !ok || !byID.Confirmed || !h.mustSub("q", a).Confirmed {
		t.Fatal("not confirmed")
	}
	h.f.Read(func(s *State) { _, ok = s.SubscriptionByID("x", a, h.now) })
	if ok {
		t.Fatal("SubscriptionByID ignored the project")
	}
	h.ok(CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: a, Confirmed: false})
	if h.mustSub("q", a).Confirmed {
		t.Fatal("not unconfirmed")
	}
	h.ok(CmdSubscriptionDelete, &SubscriptionDelete{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a})
	if _, ok := h.sub("q", a); ok || len(h.f.st.sources) != 0 {
		t.Fatal("not deleted")
	}
	h.fails(CodeNotFound, "does not exist", CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: a, Confirmed: true})
	h.ok(CmdSubscriptionDelete, &SubscriptionDelete{Project: prj, SourceKind: SourceQueue, Source: "q", ID: a})
}

func TestListSubscriptions(t *testing.T) {
	h := newHarness(t, Config{})
	var ids []string
	for i := 0; i < 5; i++ {
		ttl := int64(600)
		if i == 2 {
			ttl = 60
		}
		ids = append(ids, h.newSub("q", "http://s"+string(rune('a'+i)), ttl, ""))
	}
	h.newSub("q2", "http://sa", 600, "")
	if got := subIDs(h.subs("q", "", 0)); !sameStrings(got, ids) {
		t.Fatalf("all: %v", got)
	}
	if got := subIDs(h.subs("q", ids[1], 2)); !sameStrings(got, ids[2:4]) {
		t.Fatalf("page after marker: %v", got)
	}
	h.tick(60)
	want := []string{ids[0], ids[1], ids[3], ids[4]}
	if got := subIDs(h.subs("q", "", 10)); !sameStrings(got, want) {
		t.Fatalf("expired one listed: %v", got)
	}
	if got := h.subs("missing", "", 10); got != nil {
		t.Fatalf("missing queue: %v", got)
	}
	var all []SubscriptionInfo
	h.f.Read(func(s *State) { all = s.AllSubscriptions(h.now) })
	if len(all) != 5 || all[0].ID != ids[0] || all[4].Source != "q2" {
		t.Fatalf("AllSubscriptions: %v", subIDs(all))
	}
}

func TestSubscriptionExpirySweep(t *testing.T) {
	h := newHarness(t, Config{})
	short := h.newSub("q", "http://short", 60, "")
	long := h.newSub("q", "http://long", 600, "")
	lone := h.newSub("solo", "http://x", 60, "")
	h.post("q", body(`1`), body(`2`))
	h.post("solo", body(`3`))
	h.tick(59)
	h.ok(CmdSweep, &Sweep{})
	if len(h.f.st.subs) != 3 {
		t.Fatal("swept early")
	}
	h.tick(1)
	before := h.f.BodyBytes()
	h.ok(CmdSweep, &Sweep{Limit: 1}) // subscriptions have their own limit
	if len(h.f.st.subs) != 2 {
		t.Fatalf("limit 1 removed %d subscriptions", 3-len(h.f.st.subs))
	}
	h.ok(CmdSweep, &Sweep{})
	if _, ok := h.f.st.subs[short]; ok {
		t.Fatal("expired subscription kept")
	}
	if _, ok := h.f.st.subs[lone]; ok {
		t.Fatal("expired subscription kept")
	}
	if _, ok := h.f.st.subs[long]; !ok {
		t.Fatal("live subscription swept")
	}
	// The lone subscription's source and outbox went with it (its entry's
	// body, shared with the stored message, was counted once, with the
	// message).
	if h.f.st.sources[sourceKey{prj, SourceQueue, "solo"}] != nil || h.f.BodyBytes() != before {
		t.Fatalf("outbox of a removed source kept: %d -> %d bytes", before, h.f.BodyBytes())
	}
	// Nothing due: a sweep changes nothing but the applied index and time.
	if h.f.st.subExp.Len() != 1 || h.f.st.subExp.Len() != len(h.f.st.subs) {
		t.Fatal("expiry index out of step")
	}
}

func TestPurgeAndDeleteKeepOrDropSubscriptions(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.newSub("q", "http://a", 600, "")
	h.newSub("q", "http://b", 600, "")
	keep := h.newSub("other", "http://a", 600, "")
	h.post("q", body(`1`))
	// Purging messages keeps subscriptions and the outbox.
	h.ok(CmdQueuePurge, &QueuePurge{Project: prj, Queue: "q", Messages: true})
	if len(h.subs("q", "", 10)) != 2 || len(h.outbox("q", 0)) != 1 {
		t.Fatal("message purge touched subscriptions")
	}
	// Deleting the queue keeps them; a post re-creates it and they fire again.
	h.queueDeleteKeepsSubs(t, "q", a)
	h.post("q", body(`2`))
	if got := h.outbox("q", 0); len(got) != 2 || string(got[1].Body) != `2` {
		t.Fatalf("outbox after re-creation: %+v", got)
	}
	// Purging subscriptions deletes them all with the outbox, also for a missing queue.
	h.ok(CmdQueueDelete, &QueueDelete{Project: prj, Queue: "q"})
	h.ok(CmdQueuePurge, &QueuePurge{Project: prj, Queue: "q", Subscriptions: true})
	if len(h.subs("q", "", 10)) != 0 || h.f.st.sources[sourceKey{prj, SourceQueue, "q"}] != nil || len(h.f.st.subs) != 1 {
		t.Fatal("subscription purge left something")
	}
	h.mustSub("other", keep)
	if h.f.BodyBytes() != 0 {
		t.Fatalf("body bytes %d after purge", h.f.BodyBytes())
	}
}
