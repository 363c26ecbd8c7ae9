package cluster

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// postCmd builds a one-message post to queue q of project p.
func postCmd(tb testing.TB, q, requestID, body string) *fsm.Command {
	tb.Helper()
	cmd, err := fsm.NewCommand(fsm.CmdMessagesPost, requestID, &fsm.MessagesPost{
		Project: "p", Queue: q, ClientID: "0123456789abcdef0123456789abcdef",
		Messages: []fsm.NewMessage{{Body: []byte(body)}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return cmd
}

// BenchmarkApplyConcurrent posts one-message commands through Apply on the
// leader of a 3-node in-process cluster (fsynced bolt stores, loopback
// raft), and on a follower (forwarded over HTTP), from 1 and 64
// goroutines, and reports ops/s and raft log entries per command.
func BenchmarkApplyConcurrent(b *testing.B) {
	tc := newTestCluster(b)
	l := tc.start(3)
	createQueue(b, l.c, "bench")
	cmd := postCmd(b, "bench", "", `{"k":"v"}`)
	for _, via := range []string{"leader", "follower"} {
		for _, g := range []int{1, 64} {
			b.Run("via="+via+"/goroutines="+strconv.Itoa(g), func(b *testing.B) {
				benchApply(b, l, tc.followers()[0], via == "follower", cmd, g)
			})
		}
	}
}

func benchApply(b *testing.B, l, f *testNode, viaFollower bool, cmd *fsm.Command, g int) {
	c := l.c
	if viaFollower {
		c = f.c
	}
	rt := l.c.rt.Load()
	first := rt.raft.LastIndex()
	ctx := context.Background()
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < g; w++ {
		n := b.N / g
		if w < b.N%g {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if _, err := c.Apply(ctx, cmd); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "ops/s")
	b.ReportMetric(float64(rt.raft.LastIndex()-first)/float64(b.N), "entries/op")
}
