package testcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/herald-mq/herald/client"
	"github.com/herald-mq/herald/fsm"
)

// checkOrdered fails unless first deliveries are exactly 0..n-1 in order.
func checkOrdered(t *testing.T, order []int, n int) {
	t.Helper()
	if len(order) != n {
		t.Fatalf("%d distinct messages delivered, want %d: %v", len(order), n, order)
	}
	for k, i := range order {
		if i != k {
			t.Fatalf("first deliveries out of order at position %d: %v", k, order)
		}
	}
}

// Killing the owner of a subscription while messages stream in loses no
// message: every message posted before and during the kill reaches the
// subscriber at least once, first deliveries in post order.
func TestDispatchOwnerKillDeliversEverything(t *testing.T) {
	c := New(t, 3, Options{Configure: allowLoopback})
	leader := c.WaitForLeader(10 * time.Second)
	ctx := c.Ctx(60 * time.Second)
	s := newSink(t, false)
	id := subscribe(t, ctx, leader, "stream", s.URL(), nil)
	own := waitOwner(t, leader, id, 10*time.Second, "")
	victim := c.byID(own.Owner)

	var writer *Node // a surviving node, not the victim
	for _, n := range c.Nodes {
		if n != victim {
			writer = n
			break
		}
	}
	cl := writer.Client(client.WithRetry(100, 50*time.Millisecond))
	const total, killAt = 60, 20
	var killedAt time.Time
	for i := 0; i < total; i++ {
		if _, err := cl.PostMessages(ctx, "stream", msgs(map[string]int{"i": i})); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		if i == killAt {
			// Let the owner deliver part of the stream first.
			Poll(t, 10*time.Second, "first deliveries by the owner", func() bool { return len(s.deliveries()) > 0 })
			victim.Kill()
			killedAt = time.Now()
		}
	}
	var reown time.Duration
	Poll(t, 30*time.Second, "a new owner", func() bool {
		si, ok := subInfo(writer, id)
		if ok && si.Owner != "" && si.Owner != victim.ID {
			reown = time.Since(killedAt)
			return true
		}
		return false
	})
	Poll(t, 30*time.Second, fmt.Sprintf("all %d messages delivered", total), func() bool {
		order, _ := s.firstSeen()
		return len(order) >= total
	})
	order, dups := s.firstSeen()
	checkOrdered(t, order, total)
	t.Logf("owner %s killed; re-owned after %v; %d deliveries, %d duplicates", victim.ID, reown.Round(time.Millisecond), len(s.deliveries()), dups)
	if dups > 64+1 { // at most one ack batch plus the delivery in flight
		t.Fatalf("%d duplicates: more than one unacknowledged batch", dups)
	}
}

// Isolating the owner moves the subscription to a live node, deliveries
// continue, and the old owner's progress reports are refused.
func TestDispatchIsolatedOwnerIsFenced(t *testing.T) {
	c := New(t, 3, Options{Configure: allowLoopback})
	leader := c.WaitForLeader(10 * time.Second)
	ctx := c.Ctx(60 * time.Second)
	s := newSink(t, false)
	id := subscribe(t, ctx, leader, "iso", s.URL(), nil)
	old := waitOwner(t, leader, id, 10*time.Second, "")
	victim := c.byID(old.Owner)
	var other *Node
	for _, n := range c.Nodes {
		if n != victim {
			other = n
			break
		}
	}
	cl := other.Client(client.WithRetry(100, 50*time.Millisecond))
	for i := 0; i < 10; i++ {
		if _, err := cl.PostMessages(ctx, "iso", msgs(map[string]int{"i": i})); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	Poll(t, 15*time.Second, "first 10 delivered", func() bool { o, _ := s.firstSeen(); return len(o) >= 10 })

	c.Isolate(victim)
	start := time.Now()
	moved := waitOwner(t, other, id, 30*time.Second, victim.ID)
	t.Logf("isolated owner %s; %s owns it after %v (epoch %d -> %d)", victim.ID, moved.Owner, time.Since(start).Round(time.Millisecond), old.OwnerEpoch, moved.OwnerEpoch)
	for i := 10; i < 20; i++ {
		if _, err := cl.PostMessages(ctx, "iso", msgs(map[string]int{"i": i})); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	Poll(t, 15*time.Second, "all 20 delivered", func() bool { o, _ := s.firstSeen(); return len(o) >= 20 })
	order, dups := s.firstSeen()
	checkOrdered(t, order, 20)

	// The old owner's epoch is fenced: an Ack it would send is refused.
	cmd, _ := fsm.NewCommand(fsm.CmdAck, "", fsm.Ack{SubscriptionID: id, Owner: victim.ID, Epoch: old.OwnerEpoch, Cursor: 1 << 40})
	res, err := other.Node().Cluster().Apply(ctx, cmd)
	if err == nil {
		err = res.Err()
	}
	if !errors.Is(err, fsm.ErrForbidden) {
		t.Fatalf("ack from the isolated old owner: got %v, want CodeForbidden", err)
	}
	c.Heal()
	// Back in the cluster, the old owner stops its worker (ownership moved)
	// once it has caught up with the log. Raft's replication to a follower
	// that failed during the partition backs off exponentially, up to about
	// 10 s (hashicorp/raft: 10 ms * 2^10), before the first retry after
	// the heal, so allow for that plus a loaded machine.
	Poll(t, 45*time.Second, "old owner runs no worker for the subscription", func() bool {
		nd := victim.Node()
		for _, ss := range nd.Dispatcher().Status().Subscriptions {
			if ss.ID == id {
				return false
			}
		}
		return true
	})
	t.Logf("duplicates %d; old owner's fenced acks %d", dups, victim.Node().Dispatcher().Status().AcksFenced)
}

// A subscriber that never answers does not slow a healthy subscriber of
// the same queue (both likely owned by the same node).
func TestDispatchSlowSubscriberIsolated(t *testing.T) {
	c := New(t, 3, Options{Configure: allowLoopback})
	leader := c.WaitForLeader(10 * time.Second)
	ctx := c.Ctx(60 * time.Second)
	bad, good := newSink(t, true), newSink(t, false)
	slowPolicy := map[string]json.RawMessage{"_retry_policy": json.RawMessage(`{"retries_with_no_delay": 0, "minimum_delay_retries": 0, "minimum_delay": 30, "maximum_delay": 60, "maximum_delay_retries": 0}`)}
	badID := subscribe(t, ctx, leader, "mixed", bad.URL(), slowPolicy)
	goodID := subscribe(t, ctx, leader, "mixed", good.URL(), nil)
	waitOwner(t, leader, badID, 10*time.Second, "")
	waitOwner(t, leader, goodID, 10*time.Second, "")
	cl := leader.Client(client.WithRetry(100, 50*time.Millisecond))
	const total = 30
	for i := 0; i < total; i++ {
		if _, err := cl.PostMessages(ctx, "mixed", msgs(map[string]int{"i": i})); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	Poll(t, 10*time.Second, "healthy subscriber got everything", func() bool { o, _ := good.firstSeen(); return len(o) >= total })
	order, _ := good.firstSeen()
	checkOrdered(t, order, total)
	if n := len(bad.deliveries()); n > 1 {
		t.Fatalf("hung subscriber got %d requests, want at most 1 (in order: the first is still hanging)", n)
	}

	// GET /cluster/status keeps the cluster fields at the top level and
	// adds the dispatcher's under "dispatcher".
	resp, err := http.Get(leader.URL() + "/cluster/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		NodeID     string `json:"node_id"`
		Members    []any  `json:"members"`
		Dispatcher *struct {
			Concurrency int `json:"concurrency"`
		} `json:"dispatcher"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.NodeID != leader.ID || len(st.Members) != 3 ||
		st.Dispatcher == nil || st.Dispatcher.Concurrency != 64 {
		t.Fatalf("status: %v %+v", err, st)
	}
}
