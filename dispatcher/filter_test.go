package dispatcher

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
	"github.com/herald-mq/herald/internal/clock"
)

// TestFilterPolicySkipsNonMatching: a subscription with a filter_policy
// receives only the matching messages, in order, and acks the others as
// Skipped (its cursor passes them); a subscription without one on the
// same queue receives everything. A changed policy (PATCH, same worker)
// applies to later messages; an invalid stored policy filters nothing.
func TestFilterPolicySkipsNonMatching(t *testing.T) {
	clk := clock.Real()
	b := newBackend(clk)
	filtered := newTestSink(t, nil, false)
	all := newTestSink(t, nil, false)
	policy := json.RawMessage(`{"kind": ["order"], "order": {"total": [{"numeric": [">=", 100]}]}}`)
	fid := b.subscribe(t, "q1", filtered.URL(), map[string]json.RawMessage{"filter_policy": policy})
	aid := b.subscribe(t, "q1", all.URL(), nil)
	b.assign(t, "a", fid, aid)
	newDispatcher(t, b, "a", &staticMembers{}, clk, nil)

	bodies := []string{
		`{"kind": "order", "order": {"total": 150}}`, // match
		`{"kind": "order", "order": {"total": 50}}`,
		`{"kind": "refund", "order": {"total": 500}}`,
		`"just a string"`,
		`{"kind": ["order", "gift"], "order": {"total": 100}}`, // match (array element)
		`{"kind": "order"}`,
		`{"kind": "order", "order": {"total": 99999}}`, // match
	}
	ids := b.post(t, "q1", bodies...)
	wantIDs := []string{ids[0], ids[4], ids[6]}
	poll(t, 5*time.Second, "all handled", func() bool {
		f, a := b.sub(fid), b.sub(aid)
		return f.Cursor == 7 && a.Cursor == 7 && f.Delivered+f.Skipped == 7 && a.Delivered == 7
	})
	if f := b.sub(fid); f.Delivered != 3 || f.Skipped != 4 || f.FailedCount != 0 || f.Pending != 0 {
		t.Fatalf("filtered subscription: delivered %d skipped %d failed %d pending %d", f.Delivered, f.Skipped,
			f.FailedCount, f.Pending)
	}
	if a := b.sub(aid); a.Skipped != 0 {
		t.Fatalf("unfiltered subscription skipped %d", a.Skipped)
	}
	checkHits(t, "filtered", filtered.got(), wantIDs)
	checkHits(t, "unfiltered", all.got(), ids)
	if want := fmt.Sprintf(`{"body": %s, "ttl": 300, "queue_name": "q1", "Message_Type": "Notification"}`, bodies[0]); filtered.got()[0].Body != want {
		t.Fatalf("payload %s, want %s", filtered.got()[0].Body, want)
	}

	// A new policy through an update (the worker keeps running).
	b.must(t, fsm.CmdSubscriptionUpdate, fsm.SubscriptionUpdate{Project: "p", SourceKind: fsm.SourceQueue, Source: "q1",
		ID: fid, Options: map[string]json.RawMessage{"filter_policy": json.RawMessage(`{"kind": ["refund"]}`)}})
	more := b.post(t, "q1", `{"kind": "refund"}`, `{"kind": "order", "order": {"total": 150}}`)
	poll(t, 5*time.Second, "second batch handled", func() bool { return b.sub(fid).Cursor == 9 && b.sub(aid).Cursor == 9 })
	checkHits(t, "filtered after update", filtered.got(), append(wantIDs, more[0]))

	// An invalid stored policy (the API refuses it) delivers everything.
	b.must(t, fsm.CmdSubscriptionUpdate, fsm.SubscriptionUpdate{Project: "p", SourceKind: fsm.SourceQueue, Source: "q1",
		ID: fid, Options: map[string]json.RawMessage{"filter_policy": json.RawMessage(`{"kind": "refund"}`)}})
	last := b.post(t, "q1", `{"kind": "order"}`, `7`)
	poll(t, 5*time.Second, "third batch handled", func() bool { return b.sub(fid).Cursor == 11 })
	checkHits(t, "filtered with invalid policy", filtered.got(), append(append(wantIDs, more[0]), last...))
	if f := b.sub(fid); f.Delivered != 6 || f.Skipped != 5 {
		t.Fatalf("filtered subscription at the end: delivered %d skipped %d", f.Delivered, f.Skipped)
	}
	poll(t, 5*time.Second, "unfiltered got all", func() bool { return len(all.got()) == 11 })
}

// checkHits checks the message ids of received requests, in order.
func checkHits(t *testing.T, what string, got []hit, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d requests, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].MessageID != want[i] {
			t.Fatalf("%s: request %d is message %s, want %s", what, i, got[i].MessageID, want[i])
		}
	}
}
