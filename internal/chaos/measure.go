package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/herald-mq/herald/client"
)

// FailoverResult holds the failover times of MeasureFailover.
type FailoverResult struct {
	Times    []time.Duration // kill -9 of the leader until the first acknowledged write
	Spurious int             // leader changes seen in quiet windows (instability)
	Failed   int             // trials without a write within the bound
}

// Median and Max of the measured times.
func (r FailoverResult) Median() time.Duration {
	if len(r.Times) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.Times...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// Max is the longest failover measured.
func (r FailoverResult) Max() time.Duration {
	var m time.Duration
	for _, t := range r.Times {
		m = max(m, t)
	}
	return m
}

// MeasureFailover starts a cluster and, trials times, kills the leader
// with SIGKILL and measures until a write sent to a surviving node (each
// invoked after the kill) is acknowledged. Before each kill it watches a
// 3 s quiet window for spurious leader changes.
func MeasureFailover(ctx context.Context, cfg Config, trials int) (FailoverResult, error) {
	var res FailoverResult
	cfg.Clients = 3
	if err := cfg.validate(); err != nil {
		return res, err
	}
	root, err := os.MkdirTemp("", "herald-failover-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(root)
	c := NewCluster(cfg.Bin, root, cfg.Nodes, cfg.ExtraArgs, cfg.Logf)
	defer c.Cleanup()
	if err := c.Start(ctx); err != nil {
		return res, err
	}
	for i := 0; i < trials && ctx.Err() == nil; i++ {
		if err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
			return res, err
		}
		l := c.Leader(ctx)
		if l == nil {
			return res, fmt.Errorf("no leader")
		}
		sleepCtx(ctx, 3*time.Second)
		if l2 := c.Leader(ctx); l2 != l {
			res.Spurious++
			cfg.Logf("trial %d: leader changed during the quiet window (%s -> %v)", i+1, l.ID, l2)
			continue
		}
		var survivors []*Node
		for _, n := range c.Nodes {
			if n != l {
				survivors = append(survivors, n)
			}
		}
		t0 := time.Now()
		if err := l.Kill(); err != nil {
			return res, err
		}
		d, ok := firstWrite(ctx, survivors, t0, 30*time.Second)
		if ok {
			res.Times = append(res.Times, d)
			cfg.Logf("trial %d: killed leader %s, first acknowledged write after %v", i+1, l.ID, d.Round(time.Millisecond))
		} else {
			res.Failed++
			cfg.Logf("trial %d: killed leader %s, no write acknowledged within 30s", i+1, l.ID)
		}
		if err := l.Start(ctx); err != nil {
			return res, err
		}
	}
	return res, nil
}

// firstWrite posts in a loop to every node of nodes until one post is
// acknowledged; it returns that completion time minus t0.
func firstWrite(ctx context.Context, nodes []*Node, t0 time.Time, bound time.Duration) (time.Duration, bool) {
	wctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var once sync.Once
	var got time.Duration
	found := false
	var wg sync.WaitGroup
	for _, n := range nodes {
		cl := client.New(n.URL(), client.WithProjectID(project),
			client.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
		wg.Add(1)
		go func() { // owner: firstWrite; ends with wctx
			defer wg.Done()
			for wctx.Err() == nil {
				_, err := cl.PostMessages(wctx, "failover", []client.NewMessage{{Body: "x", TTL: 60}})
				if err == nil {
					d := time.Since(t0)
					once.Do(func() { got, found = d, true; cancel() })
					return
				}
				sleepCtx(wctx, 20*time.Millisecond)
			}
		}()
	}
	wg.Wait()
	return got, found
}

// MeasurePause approximates a minority partition: one follower is stopped
// with SIGSTOP for d while clients post to the other nodes; it returns
// the fraction of posts to majority nodes that succeeded.
func MeasurePause(ctx context.Context, cfg Config, d time.Duration) (ok, total int, err error) {
	cfg.Clients = 3
	if err := cfg.validate(); err != nil {
		return 0, 0, err
	}
	root, err := os.MkdirTemp("", "herald-pause-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(root)
	c := NewCluster(cfg.Bin, root, cfg.Nodes, cfg.ExtraArgs, cfg.Logf)
	defer c.Cleanup()
	if err := c.Start(ctx); err != nil {
		return 0, 0, err
	}
	l := c.Leader(ctx)
	var victim *Node
	var majority []*Node
	for _, n := range c.Nodes {
		if n != l && victim == nil {
			victim = n
			continue
		}
		majority = append(majority, n)
	}
	if err := victim.Pause(); err != nil {
		return 0, 0, err
	}
	defer victim.Resume()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range majority {
		cl := client.New(n.URL(), client.WithProjectID(project),
			client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
		wg.Add(1)
		go func() { // owner: MeasurePause; ends with wctx
			defer wg.Done()
			for wctx.Err() == nil {
				octx, ocancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := cl.PostMessages(octx, "pause", []client.NewMessage{{Body: "x", TTL: 60}})
				ocancel()
				mu.Lock()
				total++
				if err == nil {
					ok++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ok, total, nil
}
