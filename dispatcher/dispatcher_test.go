package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
	"github.com/herald-mq/herald/internal/clock"
)

func TestRendezvousStableAndMinimal(t *testing.T) {
	members := []string{"a", "b", "c", "d", "e"}
	const n = 5000
	before := map[string]string{}
	count := map[string]int{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("sub-%04d", i)
		o := Owner(id, members)
		if o != Owner(id, []string{"e", "d", "c", "b", "a"}) {
			t.Fatalf("owner of %s depends on member order", id)
		}
		before[id] = o
		count[o]++
	}
	for m, k := range count {
		if k < n/5*7/10 || k > n/5*13/10 {
			t.Errorf("member %s owns %d of %d: uneven", m, k, n)
		}
	}
	without := []string{"a", "b", "d", "e"}
	moved := 0
	for id, o := range before {
		now := Owner(id, without)
		if o != "c" && now != o {
			t.Fatalf("%s moved from %s to %s although its owner stayed", id, o, now)
		}
		if o == "c" {
			moved++
		}
	}
	with := append(append([]string(nil), members...), "f")
	for id, o := range before {
		if now := Owner(id, with); now != o && now != "f" {
			t.Fatalf("%s moved from %s to %s when f joined", id, o, now)
		}
	}
	if Owner("x", nil) != "" || Plan([]fsm.SubscriptionInfo{{ID: "x"}}, nil) != nil {
		t.Fatal("no members must assign nothing")
	}
	t.Logf("removing c moved %d of %d", moved, n)
}

func TestCoordinatorAssignsAndReassigns(t *testing.T) {
	clk := clock.Real()
	b := newBackend(clk)
	b.leader.Store(true)
	m := &staticMembers{}
	m.set("a", "b", "c")
	var ids []string
	for i := 0; i < 30; i++ {
		ids = append(ids, b.subscribe(t, "q", fmt.Sprintf("http://127.0.0.1:1/%d", i), nil))
	}
	d := newDispatcher(t, b, "a", m, clk, nil)
	allOwned := func(members []string) bool {
		for _, id := range ids {
			if b.sub(id).Owner != Owner(id, members) {
				return false
			}
		}
		return true
	}
	poll(t, 5*time.Second, "every subscription assigned", func() bool { return allOwned([]string{"a", "b", "c"}) })
	epochs := map[string]uint64{}
	for _, id := range ids {
		epochs[id] = b.sub(id).OwnerEpoch
	}
	m.set("a", "c")
	poll(t, 5*time.Second, "b's subscriptions reassigned", func() bool { return allOwned([]string{"a", "c"}) })
	for _, id := range ids {
		si := b.sub(id)
		if Owner(id, []string{"a", "b", "c"}) != "b" && si.OwnerEpoch != epochs[id] {
			t.Fatalf("%s kept owner %s but its epoch changed %d -> %d", id, si.Owner, epochs[id], si.OwnerEpoch)
		}
	}
	// A new subscription is assigned without a membership change.
	late := b.subscribe(t, "q", "http://127.0.0.1:1/late", nil)
	poll(t, 5*time.Second, "new subscription assigned", func() bool { return b.sub(late).Owner != "" })
	if d.Status().Assigns < 3 {
		t.Fatalf("assigns = %d, want >= 3", d.Status().Assigns)
	}
}

func TestWorkerDeliversInOrderWithZaqarPayload(t *testing.T) {
	clk := clock.Real()
	b := newBackend(clk)
	s := newTestSink(t, nil, false)
	id := b.subscribe(t, "q1", s.URL(), nil)
	b.assign(t, "a", id)
	d := newDispatcher(t, b, "a", &staticMembers{}, clk, nil)
	var want []string
	for i := 0; i < 5; i++ {
		want = append(want, b.post(t, "q1", fmt.Sprintf(`{"n": %d}`, i))...)
	}
	poll(t, 5*time.Second, "5 deliveries acked", func() bool { return b.sub(id).Delivered == 5 })
	got := s.got()
	if len(got) != 5 {
		t.Fatalf("%d requests, want 5", len(got))
	}
	for i, h := range got {
		body := fmt.Sprintf(`{"body": {"n": %d}, "ttl": 300, "queue_name": "q1", "Message_Type": "Notification"}`, i)
		if h.Body != body || h.MessageID != want[i] {
			t.Fatalf("request %d: %s (id %s), want %s (id %s)", i, h.Body, h.MessageID, body, want[i])
		}
	}
	si := b.sub(id)
	if si.Cursor != 5 || si.Pending != 0 {
		t.Fatalf("cursor %d pending %d", si.Cursor, si.Pending)
	}
	st := d.Status()
	if st.Delivered != 5 || st.WorkersRunning != 1 || len(st.Subscriptions) != 1 ||
		st.Subscriptions[0].Subscriber != "http://"+s.srv.Listener.Addr().String() {
		t.Fatalf("status %+v", st)
	}
}

func TestRetryPerPolicyThenSuccess(t *testing.T) {
	fake := clock.NewFake(time.Now())
	b := newBackend(fake)
	s := newTestSink(t, func(n int) int {
		if n <= 3 {
			return 503
		}
		return 204
	}, false)
	// 1 immediate retry, 1 after 5 s, then the linear series 5, 10.
	policy := map[string]json.RawMessage{"_retry_policy": json.RawMessage(`{"retries_with_no_delay": 1, "minimum_delay_retries": 1, "minimum_delay": 5, "maximum_delay": 15, "maximum_delay_retries": 0}`)}
	id := b.subscribe(t, "q", s.URL(), policy)
	b.assign(t, "a", id)
	d := newDispatcher(t, b, "a", &staticMembers{}, fake, nil)
	b.post(t, "q", `"hello"`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var waits []time.Duration
	for b.sub(id).Delivered == 0 {
		if fake.Waiters() > 0 {
			p := fake.Pending()[0]
			waits = append(waits, p)
			fake.Advance(p)
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("no delivery; %d requests", len(s.got()))
		}
		time.Sleep(time.Millisecond) // polling
	}
	if n := len(s.got()); n != 4 {
		t.Fatalf("%d attempts, want 4", n)
	}
	if fmt.Sprint(waits) != "[5s 5s]" {
		t.Fatalf("waits %v, want [5s 5s]", waits)
	}
	if r := d.Status().Retries; r != 3 {
		t.Fatalf("retries %d, want 3", r)
	}
}

func TestPermanentFailureRecordedAndDeadLettered(t *testing.T) {
	clk := clock.Real()
	b := newBackend(clk)
	s := newTestSink(t, func(int) int { return 400 }, false)
	opts := map[string]json.RawMessage{"_dead_letter_queue": json.RawMessage(`"dlq"`)}
	id := b.subscribe(t, "q", s.URL(), opts)
	b.assign(t, "a", id)
	newDispatcher(t, b, "a", &staticMembers{}, clk, nil)
	ids := b.post(t, "q", `{"x": 1}`, `{"x": 2}`)
	poll(t, 5*time.Second, "2 failures recorded", func() bool { return b.sub(id).FailedCount == 2 })
	si := b.sub(id)
	if len(s.got()) != 2 || len(si.RecentFailures) != 2 || si.RecentFailures[0].MessageID != ids[0] ||
		si.RecentFailures[0].Attempts != 1 || si.RecentFailures[0].DeadLetterID == "" || si.Cursor != 2 {
		t.Fatalf("after permanent failures: %d requests, %+v", len(s.got()), si)
	}
	if !strings.Contains(si.LastError, "400") {
		t.Fatalf("last error %q", si.LastError)
	}
	var total int
	b.f.Read(func(st *fsm.State) { total = st.Stats("p", "dlq", clk.Now().UnixNano()).Total })
	if total != 2 {
		t.Fatalf("dead-letter queue holds %d, want 2", total)
	}
}

func TestFencedAckStopsWorker(t *testing.T) {
	clk := clock.Real()
	b := newBackend(clk)
	s := newTestSink(t, nil, false)
	id := b.subscribe(t, "q", s.URL(), nil)
	b.assign(t, "a", id)
	// The first Ack of "a" finds the subscription moved to "b" meanwhile.
	b.setHook(func(b *memBackend, cmd *fsm.Command) (*fsm.Result, error, bool) {
		if cmd.Type != fsm.CmdAck {
			return nil, nil, false
		}
		b.setHook(nil)
		b.assign(t, "b", id)
		return b.applyNow(cmd), nil, true
	})
	d := newDispatcher(t, b, "a", &staticMembers{}, clk, nil)
	b.post(t, "q", `1`)
	poll(t, 5*time.Second, "the fenced ack", func() bool { return d.Status().AcksFenced == 1 })
	poll(t, 5*time.Second, "no worker left", func() bool { return d.Status().WorkersRunning == 0 })
	si := b.sub(id)
	if si.Owner != "b" || si.Cursor != 0 || si.Delivered != 0 {
		t.Fatalf("fenced ack moved state: %+v", si)
	}
	if len(s.got()) != 1 {
		t.Fatalf("%d requests, want 1", len(s.got()))
	}
}

func TestHungSubscriberDoesNotDelayHealthyOne(t *testing.T) {
	clk := clock.Real()
	b := newBackend(clk)
	bad := newTestSink(t, nil, true)
	good := newTestSink(t, nil, false)
	badID := b.subscribe(t, "q", bad.URL(), nil)
	goodID := b.subscribe(t, "q", good.URL(), nil)
	b.assign(t, "a", badID, goodID)
	newDispatcher(t, b, "a", &staticMembers{}, clk, func(c *Config) { c.Concurrency = 2 })
	const n = 20
	for i := 0; i < n; i++ {
		b.post(t, "q", fmt.Sprint(i))
	}
	<-bad.arrived // the hung subscriber holds its first request
	poll(t, 10*time.Second, "healthy subscriber acked everything", func() bool { return b.sub(goodID).Delivered == n })
	for i, h := range good.got() {
		if !strings.HasPrefix(h.Body, fmt.Sprintf(`{"body": %d,`, i)) {
			t.Fatalf("healthy request %d: %s", i, h.Body)
		}
	}
	if k := len(bad.got()); k != 1 || b.sub(badID).Cursor != 0 {
		t.Fatalf("hung subscriber: %d requests, cursor %d", k, b.sub(badID).Cursor)
	}
}

func TestConfirmationDurableAcrossFailover(t *testing.T) {
	clk := clock.Real()
	b := newBackend(clk)
	s := newTestSink(t, nil, false)
	signer := func(paths, methods []string, project string, exp time.Time) string {
		return "sig:" + strings.Join(paths, ",") + ":" + strings.Join(methods, ",") + ":" + project
	}
	confirmOn := func(c *Config) {
		c.RequireConfirmation, c.Signer, c.ExternalURL = true, signer, "https://mq.example/"
		c.FlushTimeout = 50 * time.Millisecond
	}
	id := b.subscribe(t, "q", s.URL(), nil)
	b.assign(t, "a", id)
	// Node a sends the confirmation but crashes before its Ack commits.
	b.setHook(func(_ *memBackend, cmd *fsm.Command) (*fsm.Result, error, bool) {
		if cmd.Type == fsm.CmdAck {
			return nil, errors.New("no leader"), true
		}
		return nil, nil, false
	})
	a := newDispatcher(t, b, "a", &staticMembers{}, clk, confirmOn)
	<-s.arrived
	a.Abort()
	b.setHook(nil)
	if si := b.sub(id); si.ConfirmRequested != 1 || si.ConfirmSent != 0 {
		t.Fatalf("after crash: requested %d sent %d", si.ConfirmRequested, si.ConfirmSent)
	}
	b.assign(t, "b", id)
	bd := newDispatcher(t, b, "b", &staticMembers{}, clk, confirmOn)
	poll(t, 5*time.Second, "confirmation acked by b", func() bool { return b.sub(id).ConfirmSent == 1 })
	got := s.got()
	if len(got) != 2 || !strings.Contains(got[0].Body, `"SubscriptionConfirmation"`) || !strings.Contains(got[1].Body, `"SubscriptionConfirmation"`) {
		t.Fatalf("confirmations: %+v", got)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(got[1].Body), &p); err != nil {
		t.Fatal(err)
	}
	path := "/v2/queues/q/subscriptions/" + id + "/confirm"
	if p["Message_Type"] != "SubscriptionConfirmation" || p["URL-Paths"] != path || p["URL-Signature"] != "sig:"+path+":PUT:p" ||
		p["WSGISubscribeURL"] != "https://mq.example"+path || p["queue_name"] != "q" || got[1].MessageID != "" {
		t.Fatalf("payload %v", p)
	}
	// Unconfirmed: messages are skipped. Confirmed: delivered. Unconfirmed
	// again: an UnsubscribeConfirmation is sent once.
	b.post(t, "q", `"skipped"`)
	poll(t, 5*time.Second, "skip acked", func() bool { return b.sub(id).Skipped == 1 })
	b.must(t, fsm.CmdSubscriptionConfirm, fsm.SubscriptionConfirm{Project: "p", ID: id, Confirmed: true})
	b.post(t, "q", `"sent"`)
	poll(t, 5*time.Second, "delivery acked", func() bool { return b.sub(id).Delivered == 1 })
	b.must(t, fsm.CmdSubscriptionConfirm, fsm.SubscriptionConfirm{Project: "p", ID: id, Confirmed: false})
	poll(t, 5*time.Second, "unsubscribe confirmation acked", func() bool { return b.sub(id).ConfirmSent == 2 })
	got = s.got()
	if len(got) != 4 || !strings.Contains(got[2].Body, `"body": "sent"`) || !strings.Contains(got[3].Body, `"Message_Type": "UnsubscribeConfirmation"`) {
		t.Fatalf("requests: %+v", got)
	}
	if c := bd.Status().Confirmations; c != 2 {
		t.Fatalf("b handled %d confirmations, want 2", c)
	}
}
