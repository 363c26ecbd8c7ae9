package testcluster

import (
	"testing"
	"time"

	"github.com/herald-mq/herald/client"
)

// The chaos checker (internal/chaos/linwork.go) resolves a lin write whose
// answer was lost by retrying it with the same Idempotency-Key on another
// node, and records the retry's answer as the write's one effect. That is
// sound only if a retried pop or post is answered from the dedupe window
// with the first application's result, on any node, also after a leader
// change, and does not apply again. This test pins exactly that.
func TestChaosRegressIdempotentPopRetry(t *testing.T) {
	c := New(t, 3, Options{})
	old := c.WaitForLeader(10 * time.Second)
	ctx := c.Ctx(60 * time.Second)
	keyed := func(n *Node, key string) *client.Client {
		return n.Client(client.WithRetry(20, 100*time.Millisecond),
			client.WithHeaders(map[string]string{client.HeaderIdempotencyKey: key}))
	}
	var posted []string
	for _, b := range []string{"a", "b", "c"} {
		ids, err := keyed(c.Nodes[0], "post-"+b).PostMessages(ctx, "lin", msgs(b))
		if err != nil {
			t.Fatalf("post %s: %v", b, err)
		}
		posted = append(posted, ids[0])
	}
	// A retried post answers the first id and stores nothing new.
	for _, n := range c.Nodes {
		ids, err := keyed(n, "post-a").PostMessages(ctx, "lin", msgs("a"))
		if err != nil || len(ids) != 1 || ids[0] != posted[0] {
			t.Fatalf("post retry on %s: %v %v, want [%s]", n.ID, err, ids, posted[0])
		}
	}
	first, err := keyed(old, "pop-1").PopMessages(ctx, "lin", 2)
	if err != nil || len(first) != 2 || first[0].ID != posted[0] || first[1].ID != posted[1] {
		t.Fatalf("pop: %v %+v, want %v", err, first, posted[:2])
	}
	// Pop the rest (c), then pop the empty queue: an empty pop retried
	// after a new post must stay empty.
	if rest, err := keyed(old, "pop-2").PopMessages(ctx, "lin", 5); err != nil || len(rest) != 1 || rest[0].ID != posted[2] {
		t.Fatalf("pop 2: %v %+v, want [%s]", err, rest, posted[2])
	}
	if none, err := keyed(old, "pop-3").PopMessages(ctx, "lin", 5); err != nil || len(none) != 0 {
		t.Fatalf("pop of the empty queue: %v %+v", err, none)
	}
	if ids, err := keyed(old, "post-d").PostMessages(ctx, "lin", msgs("d")); err != nil {
		t.Fatalf("post d: %v", err)
	} else {
		posted = append(posted, ids[0])
	}

	old.Kill()
	l := c.WaitForNewLeader(old, 30*time.Second)
	for _, n := range c.Up() {
		again, err := keyed(n, "pop-1").PopMessages(ctx, "lin", 2)
		if err != nil || len(again) != 2 || again[0].ID != first[0].ID || again[1].ID != first[1].ID {
			t.Fatalf("pop retry on %s (leader %s): %v %+v, want the first pop's %s %s",
				n.ID, l.ID, err, again, first[0].ID, first[1].ID)
		}
		if string(again[0].Body) != string(first[0].Body) {
			t.Fatalf("pop retry on %s: body %s, want %s", n.ID, again[0].Body, first[0].Body)
		}
		empty, err := keyed(n, "pop-3").PopMessages(ctx, "lin", 5)
		if err != nil || len(empty) != 0 {
			t.Fatalf("empty pop retried on %s: %v %+v, want the first (empty) answer", n.ID, err, empty)
		}
	}
	page, err := l.Client().ListMessages(ctx, "lin", client.ListMessagesOptions{Echo: true, IncludeClaimed: true, Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, m := range page.Messages {
		left = append(left, m.ID)
	}
	if len(left) != 1 || left[0] != posted[3] {
		t.Fatalf("queue holds %v, want [%s] (d only: nothing popped or posted twice)", left, posted[3])
	}
}
