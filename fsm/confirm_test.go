package fsm

import "testing"

// The confirmation markers: requested by create, duplicate unconfirmed
// create and confirmed -> unconfirmed; cleared by confirming; advanced
// only by a fenced Ack; kept by snapshots and covered by the digest.
func TestConfirmationMarkers(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.newSub("q", "http://a", 600, "")
	check := func(what string, req, sent uint64, unsub bool) {
		t.Helper()
		si := h.mustSub("q", id)
		if si.ConfirmRequested != req || si.ConfirmSent != sent || si.ConfirmUnsubscribe != unsub {
			t.Fatalf("%s: requested %d sent %d unsubscribe %v, want %d %d %v", what, si.ConfirmRequested, si.ConfirmSent, si.ConfirmUnsubscribe, req, sent, unsub)
		}
	}
	check("create", 1, 0, false)
	before := h.f.Digest()
	if r := h.subscribe("q", "http://a", 600, ""); r.Created || r.SubscriptionID != id {
		t.Fatalf("duplicate: %+v", r)
	}
	check("duplicate unconfirmed create", 2, 0, false)
	if h.f.Digest() == before {
		t.Fatal("digest ignores ConfirmRequested")
	}
	h.assign(1, Assignment{id, "n1"})
	h.fails(CodeForbidden, "not the owner", CmdAck, &Ack{SubscriptionID: id, Owner: "n2", Epoch: 1, ConfirmSent: 2})
	check("fenced ack", 2, 0, false)
	h.ok(CmdAck, &Ack{SubscriptionID: id, Owner: "n1", Epoch: 1, ConfirmSent: 9})
	check("ack clamps to requested", 2, 2, false)
	h.ok(CmdAck, &Ack{SubscriptionID: id, Owner: "n1", Epoch: 1, ConfirmSent: 1})
	check("ack never moves back", 2, 2, false)
	h.subscribe("q", "http://a", 600, "")
	h.ok(CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: id, Confirmed: true})
	check("confirm clears pending", 3, 3, false)
	h.ok(CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: id, Confirmed: true})
	check("confirm again", 3, 3, false)
	h.ok(CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: id, Confirmed: false})
	check("unconfirm", 4, 3, true)
	h.ok(CmdSubscriptionConfirm, &SubscriptionConfirm{Project: prj, ID: id, Confirmed: false})
	check("unconfirm again", 4, 3, true)

	g := New(Config{})
	restoreInto(t, h.f, g)
	var si SubscriptionInfo
	g.Read(func(s *State) { si, _ = s.Subscription(prj, SourceQueue, "q", id, h.now) })
	if si.ConfirmRequested != 4 || si.ConfirmSent != 3 || !si.ConfirmUnsubscribe || g.Digest() != h.f.Digest() {
		t.Fatalf("restored %+v", si)
	}
}
