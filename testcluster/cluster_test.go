package testcluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herald-mq/herald/client"
	"github.com/herald-mq/herald/node"
)

func msgs(bodies ...any) []client.NewMessage {
	out := make([]client.NewMessage, len(bodies))
	for i, b := range bodies {
		out[i] = client.NewMessage{Body: b}
	}
	return out
}

// A write through a follower is readable at once (linearizably) on every node.
func TestFollowerWriteReadableEverywhere(t *testing.T) {
	c := New(t, 3, Options{})
	c.WaitForLeader(10 * time.Second)
	ctx := c.Ctx(30 * time.Second)
	for round, f := range c.Followers() {
		ids, err := f.Client().PostMessages(ctx, "q", msgs(map[string]int{"round": round}))
		if err != nil {
			t.Fatalf("post via follower %s: %v", f.ID, err)
		}
		for _, n := range c.Up() {
			got, err := n.Client().GetMessages(ctx, "q", ids)
			if err != nil || len(got) != 1 || got[0].ID != ids[0] {
				t.Fatalf("read on %s right after write via %s: %v %+v", n.ID, f.ID, err, got)
			}
			page, err := n.Client().ListMessages(ctx, "q", client.ListMessagesOptions{Echo: true, Limit: 20})
			if err != nil || len(page.Messages) != round+1 {
				t.Fatalf("list on %s: %v, %d messages, want %d", n.ID, err, len(page.Messages), round+1)
			}
		}
	}
}

// Killing the leader while writers run loses nothing acknowledged, and a
// write retried by the client (same Idempotency-Key) is applied once.
func TestLeaderKillLosesNothingAcknowledged(t *testing.T) {
	c := New(t, 3, Options{})
	old := c.WaitForLeader(10 * time.Second)
	ctx := c.Ctx(60 * time.Second)

	const writers, perWriter = 4, 40
	var (
		mu    sync.Mutex // guards acked
		acked = map[string]string{}
		wg    sync.WaitGroup
	)
	killed := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) { // owner: this test; bounded by perWriter and ctx
			defer wg.Done()
			n := c.Nodes[w%len(c.Nodes)]
			if n == old {
				n = c.Nodes[(w+1)%len(c.Nodes)]
			}
			cl := n.Client(client.WithRetry(50, 100*time.Millisecond))
			for i := 0; i < perWriter && ctx.Err() == nil; i++ {
				body := fmt.Sprintf("w%d-%d", w, i)
				ids, err := cl.PostMessages(ctx, "orders", msgs(body))
				if err != nil {
					t.Errorf("post %s: %v", body, err)
					return
				}
				mu.Lock()
				acked[ids[0]] = body
				mu.Unlock()
				if w == 0 && i == perWriter/4 {
					close(killed)
				}
			}
		}(w)
	}
	<-killed
	killedAt := time.Now()
	old.Kill()
	nl := c.WaitForNewLeader(old, 15*time.Second)
	if _, err := nl.Client().PostMessages(ctx, "probe", msgs("after")); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	t.Logf("failover: first write committed %v after leader kill", time.Since(killedAt).Round(time.Millisecond))
	wg.Wait()
	if t.Failed() {
		return
	}

	// Every acknowledged message is present, and no body appears twice.
	seen := map[string]int{}
	cl := nl.Client()
	marker := ""
	for {
		page, err := cl.ListMessages(ctx, "orders", client.ListMessagesOptions{Marker: marker, Limit: 20, Echo: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Messages) == 0 {
			break
		}
		for _, m := range page.Messages {
			var b string
			json.Unmarshal(m.Body, &b)
			seen[b]++
		}
		marker = page.Next
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) != writers*perWriter {
		t.Fatalf("acknowledged %d writes, want %d", len(acked), writers*perWriter)
	}
	for id, body := range acked {
		if seen[body] == 0 {
			t.Errorf("acknowledged message %s (%s) lost", id, body)
		}
	}
	for b, k := range seen {
		if k > 1 {
			t.Errorf("message %q stored %d times: a retried write was applied twice", b, k)
		}
	}
	// The old leader comes back and converges.
	old.Restart()
	c.WaitConverged(30 * time.Second)
}

// The same Idempotency-Key sent to two different nodes posts once.
func TestIdempotencyKeyAcrossNodes(t *testing.T) {
	c := New(t, 3, Options{})
	ctx := c.Ctx(20 * time.Second)
	var ids []string
	for _, n := range c.Nodes {
		cl := n.Client(client.WithHeaders(map[string]string{"Idempotency-Key": "k-1"}))
		got, err := cl.PostMessages(ctx, "q", msgs("once"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got[0])
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("same key gave different ids: %v", ids)
	}
	st, err := c.Nodes[0].Client().QueueStats(ctx, "q")
	if err != nil || st.Total != 1 {
		t.Fatalf("stats: %v %+v, want 1 message", err, st)
	}
}

// A node restarted from disk catches up with what it missed.
func TestRestartedNodeCatchesUp(t *testing.T) {
	c := New(t, 3, Options{})
	ctx := c.Ctx(60 * time.Second)
	f := c.Followers()[0]
	f.Kill()
	other := c.Up()[0]
	var want []string
	for i := 0; i < 30; i++ {
		ids, err := other.Client().PostMessages(ctx, "q", msgs(i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ids...)
	}
	f.Restart()
	c.WaitConverged(30 * time.Second)
	got, err := f.Client(client.WithStaleReads()).GetMessages(ctx, "q", want[:20])
	if err != nil || len(got) != 20 {
		t.Fatalf("restarted node has %d of 20 messages: %v", len(got), err)
	}
}

// A follower that fell behind the leader's log compaction is brought back
// by a snapshot.
func TestLaggingFollowerRestoredBySnapshot(t *testing.T) {
	c := New(t, 3, Options{Configure: func(i int, cfg *node.Config) {
		cfg.SnapshotThreshold = 64
		cfg.SnapshotInterval = 100 * time.Millisecond
		cfg.TrailingLogs = 16
	}})
	ctx := c.Ctx(60 * time.Second)
	leader := c.WaitForLeader(10 * time.Second)
	lag := c.Followers()[0]
	c.Isolate(lag)
	for i := 0; i < 300; i++ {
		if _, err := leader.Client().PostMessages(ctx, "q", msgs(i)); err != nil {
			t.Fatal(err)
		}
	}
	Poll(t, 20*time.Second, "a leader snapshot past the lagging follower", func() bool {
		return leader.Node().Cluster().Status().LastSnapshotIndex > lag.Node().Cluster().Status().AppliedIndex+16
	})
	c.Heal()
	c.WaitConverged(30 * time.Second)
	if lag.Node().Cluster().Status().LastSnapshotIndex == 0 && lag.Node().Cluster().Status().RestoredFromSnapshot == 0 {
		t.Fatalf("follower converged without installing a snapshot")
	}
	st, err := lag.Client(client.WithStaleReads()).QueueStats(ctx, "q")
	if err != nil || st.Total != 300 {
		t.Fatalf("lagging follower: %v %+v, want 300 messages", err, st)
	}
}

// A minority partition answers 503 with Retry-After while the majority serves.
func TestMinorityPartitionAnswers503(t *testing.T) {
	c := New(t, 3, Options{Configure: func(i int, cfg *node.Config) { cfg.LeaderWait = time.Second }})
	ctx := c.Ctx(60 * time.Second)
	leader := c.WaitForLeader(10 * time.Second)
	minority := c.Followers()[0]
	c.Isolate(minority)

	_, err := minority.Client().PostMessages(ctx, "q", msgs("nope"))
	if !client.IsStatus(err, http.StatusServiceUnavailable) {
		t.Fatalf("write on minority: %v, want 503", err)
	}
	if e, ok := err.(*client.Error); !ok || e.RetryAfter <= 0 {
		t.Fatalf("503 without Retry-After: %#v", err)
	}
	_, err = minority.Client().ListMessages(ctx, "q", client.ListMessagesOptions{})
	if !client.IsStatus(err, http.StatusServiceUnavailable) {
		t.Fatalf("linearizable read on minority: %v, want 503", err)
	}
	// The majority keeps working through either of its members.
	for _, n := range c.Up() {
		if n == minority {
			continue
		}
		if _, err := n.Client().PostMessages(ctx, "q", msgs("yes")); err != nil {
			t.Fatalf("majority write via %s (leader %s): %v", n.ID, leader.ID, err)
		}
	}
	c.Heal()
	c.WaitConverged(30 * time.Second)
	st, err := minority.Client().QueueStats(ctx, "q")
	if err != nil || st.Total != 2 {
		t.Fatalf("after heal: %v %+v, want 2", err, st)
	}
}

// Claims stay exclusive across a leader change.
func TestClaimsExclusiveAcrossLeaderChange(t *testing.T) {
	c := New(t, 3, Options{})
	ctx := c.Ctx(60 * time.Second)
	leader := c.WaitForLeader(10 * time.Second)
	var bodies []any
	for i := 0; i < 20; i++ {
		bodies = append(bodies, i)
	}
	if _, err := c.Followers()[0].Client().PostMessages(ctx, "jobs", msgs(bodies...)); err != nil {
		t.Fatal(err)
	}
	first, err := c.Followers()[1].Client().ClaimMessages(ctx, "jobs", 600, 60, 10)
	if err != nil || len(first.Messages) != 10 {
		t.Fatalf("first claim: %v %+v", err, first)
	}
	leader.Kill()
	nl := c.WaitForNewLeader(leader, 15*time.Second)
	var other *Node
	for _, n := range c.Up() {
		if n != nl {
			other = n
		}
	}
	second, err := other.Client().ClaimMessages(ctx, "jobs", 600, 60, 20)
	if err != nil || len(second.Messages) != 10 {
		t.Fatalf("second claim after failover: %v, %d messages, want 10", err, len(second.Messages))
	}
	held := map[string]string{}
	for _, cl := range []*client.Claim{first, second} {
		for _, m := range cl.Messages {
			if prev, dup := held[m.ID]; dup {
				t.Fatalf("message %s held by claims %s and %s", m.ID, prev, cl.ID)
			}
			held[m.ID] = cl.ID
		}
	}
	third, err := nl.Client().ClaimMessages(ctx, "jobs", 600, 60, 20)
	if err != nil || !third.Empty() {
		t.Fatalf("third claim: %v %+v, want none", err, third)
	}
	// The first claim is still valid on the new leader: its holder can delete.
	for _, m := range first.Messages {
		if err := nl.Client().DeleteMessage(ctx, "jobs", m.ID, first.ID); err != nil {
			t.Fatalf("delete with first claim after failover: %v", err)
		}
	}
	st, err := other.Client().QueueStats(ctx, "jobs")
	if err != nil || st.Total != 10 || st.Claimed != 10 {
		t.Fatalf("stats: %v %+v, want 10 claimed", err, st)
	}
}

// A graceful stop of the leader (leadership transfer, then gossip leave)
// costs a client of another node no failed request.
func TestGracefulLeaderStopFailsNoRequest(t *testing.T) {
	c := New(t, 3, Options{})
	ctx := c.Ctx(60 * time.Second)
	leader := c.WaitForLeader(10 * time.Second)
	other := c.Followers()[0]
	cl := other.Client() // no retries: every error counts

	stopped := make(chan struct{})
	go func() { // owner: this test; ends after the restart below
		defer close(stopped)
		leader.Stop()
		leader.Restart()
	}()
	posts := 0
	for done := false; !done; {
		select {
		case <-stopped:
			done = true
		default:
		}
		if _, err := cl.PostMessages(ctx, "rolling", msgs(posts)); err != nil {
			t.Fatalf("write %d during graceful leader stop: %v", posts, err)
		}
		if _, err := cl.ListMessages(ctx, "rolling", client.ListMessagesOptions{Limit: 1}); err != nil {
			t.Fatalf("read during graceful leader stop: %v", err)
		}
		posts++
	}
	c.WaitConverged(30 * time.Second)
	st, err := leader.Client().QueueStats(ctx, "rolling")
	if err != nil || st.Total != posts {
		t.Fatalf("after rolling restart: %v %+v, want %d messages", err, st, posts)
	}
	t.Logf("%d writes during the leader's graceful stop and restart, none failed", posts)
}
