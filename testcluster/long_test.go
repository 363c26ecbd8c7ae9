package testcluster

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/herald-mq/herald/client"
)

// rounds returns short in the default suite and long under `make
// test-cluster` (HERALD_LONG=1).
func rounds(short, long int) int {
	if os.Getenv("HERALD_LONG") != "" {
		return long
	}
	return short
}

// The leader is killed again and again while a client writes through the
// other nodes; every acknowledged write survives, and the time from each
// kill to the next committed write is reported (median and max).
func TestRepeatedLeaderKills(t *testing.T) {
	c := New(t, 3, Options{})
	ctx := c.Ctx(5 * time.Minute)
	var acked []string
	var failovers []time.Duration
	for r := 0; r < rounds(3, 12); r++ {
		leader := c.WaitForLeader(15 * time.Second)
		c.WaitConverged(30 * time.Second)
		var via *Node
		for _, n := range c.Up() {
			if n != leader {
				via = n
				break
			}
		}
		cl := via.Client(client.WithRetry(100, 20*time.Millisecond))
		for i := 0; i < 10; i++ {
			ids, err := cl.PostMessages(ctx, "q", msgs(fmt.Sprintf("r%d-%d", r, i)))
			if err != nil {
				t.Fatalf("round %d post: %v", r, err)
			}
			acked = append(acked, ids...)
		}
		killed := time.Now()
		leader.Kill()
		ids, err := cl.PostMessages(ctx, "q", msgs(fmt.Sprintf("r%d-after", r)))
		if err != nil {
			t.Fatalf("round %d post after kill: %v", r, err)
		}
		failovers = append(failovers, time.Since(killed))
		acked = append(acked, ids...)
		leader.Restart()
	}
	c.WaitForLeader(15 * time.Second)
	c.WaitConverged(30 * time.Second)
	for _, n := range c.Up() {
		for i := 0; i < len(acked); i += 20 {
			j := min(i+20, len(acked))
			got, err := n.Client().GetMessages(ctx, "q", acked[i:j])
			if err != nil || len(got) != j-i {
				t.Fatalf("node %s has %d of %d acknowledged messages: %v", n.ID, len(got), j-i, err)
			}
		}
	}
	sort.Slice(failovers, func(i, j int) bool { return failovers[i] < failovers[j] })
	t.Logf("leader kill -> next committed write: median %v, max %v over %d kills",
		failovers[len(failovers)/2].Round(time.Millisecond), failovers[len(failovers)-1].Round(time.Millisecond), len(failovers))
}
