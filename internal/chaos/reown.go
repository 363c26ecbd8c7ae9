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

// ReownQueue is the queue MeasureReown subscribes its sink to.
const ReownQueue = "reown"

// ReownResult holds the times of MeasureReown.
type ReownResult struct {
	Reown    []time.Duration // SIGKILL of the owner until a survivor reports another live owner
	Deliver  []time.Duration // SIGKILL until a message posted after the kill reaches the sink
	Failed   int             // trials where either did not happen within the bound
	OwnerWas []string        // per trial: "leader" or "follower" (the killed owner's raft role)
}

// MedianMax returns the median and the maximum of ts (0, 0 if empty).
func MedianMax(ts []time.Duration) (time.Duration, time.Duration) {
	if len(ts) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}

// ReownStats returns median and max of the re-ownership times.
func (r ReownResult) ReownStats() (time.Duration, time.Duration) { return MedianMax(r.Reown) }

// DeliverStats returns median and max of the post-after-kill delivery times.
func (r ReownResult) DeliverStats() (time.Duration, time.Duration) { return MedianMax(r.Deliver) }

// MeasureReown starts a cluster with a loopback webhook sink subscribed
// to ReownQueue and, trials times: posts a message and waits for its
// delivery, reads the subscription's owner, kills that node with SIGKILL,
// then measures (1) until the delivery endpoint of a surviving node names
// a different live node as owner and (2) until a message posted to a
// survivor after the kill reaches the sink. The killed node is restarted
// between trials.
func MeasureReown(ctx context.Context, cfg Config, trials int) (ReownResult, error) {
	var res ReownResult
	cfg.Clients = 3
	if err := cfg.validate(); err != nil {
		return res, err
	}
	if ok, _ := SupportsPush(cfg.Bin); !ok {
		return res, fmt.Errorf("%s has no -subscriber-allow-cidrs flag", cfg.Bin)
	}
	sink, err := NewSink()
	if err != nil {
		return res, err
	}
	defer sink.Close()
	root, err := os.MkdirTemp("", "herald-reown-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(root)
	extra := append(append([]string(nil), cfg.ExtraArgs...), "-subscriber-allow-cidrs", "127.0.0.0/8")
	c := NewCluster(cfg.Bin, root, cfg.Nodes, extra, cfg.Logf)
	defer c.Cleanup()
	if err := c.Start(ctx); err != nil {
		return res, err
	}
	var subID string
	for i := 0; i < 20 && subID == "" && ctx.Err() == nil; i++ {
		cl := client.New(c.Nodes[i%len(c.Nodes)].URL(), client.WithProjectID(project),
			client.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		subID, err = cl.CreateSubscription(sctx, ReownQueue, sink.URL(), 86400, nil)
		cancel()
		if err != nil {
			sleepCtx(ctx, 500*time.Millisecond)
		}
	}
	if subID == "" {
		return res, fmt.Errorf("create subscription: %v", err)
	}
	cfg.Logf("subscription %s on queue %s -> %s", subID, ReownQueue, sink.URL())
	seq := 0
	for i := 0; i < trials && ctx.Err() == nil; i++ {
		if err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
			return res, err
		}
		// Warm-up: a delivery must work before the kill.
		seq++
		id, _, ok := postOne(ctx, c.Nodes, fmt.Sprintf("warm-%d", seq), 30*time.Second)
		if !ok || !waitSeen(ctx, sink, id, 30*time.Second) {
			return res, fmt.Errorf("trial %d: warm-up message not delivered within 30s", i+1)
		}
		owner := ""
		deadline := time.Now().Add(30 * time.Second)
		for owner == "" && time.Now().Before(deadline) && ctx.Err() == nil {
			owner = readOwner(ctx, c.Nodes, subID)
			if owner == "" {
				sleepCtx(ctx, 50*time.Millisecond)
			}
		}
		var victim *Node
		for _, n := range c.Nodes {
			if n.ID == owner {
				victim = n
			}
		}
		if victim == nil {
			return res, fmt.Errorf("trial %d: owner %q is not a node of the cluster", i+1, owner)
		}
		role := "follower"
		if l := c.Leader(ctx); l == victim {
			role = "leader"
		}
		var survivors []*Node
		for _, n := range c.Nodes {
			if n != victim {
				survivors = append(survivors, n)
			}
		}
		t0 := time.Now()
		if err := victim.Kill(); err != nil {
			return res, err
		}
		var wg sync.WaitGroup
		var reown, deliver time.Duration
		var reownOK, deliverOK bool
		newOwner := ""
		wg.Add(2)
		go func() { // owner: MeasureReown; ends within its 60 s bound
			defer wg.Done()
			end := t0.Add(60 * time.Second)
			for time.Now().Before(end) && ctx.Err() == nil {
				o := readOwner(ctx, survivors, subID)
				for _, n := range survivors {
					if o == n.ID {
						reown, reownOK, newOwner = time.Since(t0), true, o
						return
					}
				}
				sleepCtx(ctx, 20*time.Millisecond)
			}
		}()
		seq++
		body := fmt.Sprintf("after-kill-%d", seq)
		go func() { // owner: MeasureReown; ends within its 60 s bound
			defer wg.Done()
			id, _, ok := postOne(ctx, survivors, body, 60*time.Second)
			if !ok {
				return
			}
			if waitSeen(ctx, sink, id, 60*time.Second-time.Since(t0)) {
				if ft, ok := sink.FirstSeen(id); ok {
					deliver, deliverOK = ft.Sub(t0), true
				}
			}
		}()
		wg.Wait()
		res.OwnerWas = append(res.OwnerWas, role)
		if reownOK && deliverOK {
			res.Reown = append(res.Reown, reown)
			res.Deliver = append(res.Deliver, deliver)
			cfg.Logf("trial %d: killed owner %s (%s); re-owned by %s after %v; message posted after the kill delivered after %v",
				i+1, victim.ID, role, newOwner, reown.Round(time.Millisecond), deliver.Round(time.Millisecond))
		} else {
			res.Failed++
			cfg.Logf("trial %d: killed owner %s (%s); re-owned=%v (%v) delivered=%v (%v) within 60s",
				i+1, victim.ID, role, reownOK, reown.Round(time.Millisecond), deliverOK, deliver.Round(time.Millisecond))
		}
		if err := victim.Start(ctx); err != nil {
			return res, err
		}
	}
	return res, ctx.Err()
}

// readOwner asks the nodes in turn for the subscription's owner and
// returns the first answer ("" if none answered or it is unassigned).
func readOwner(ctx context.Context, nodes []*Node, subID string) string {
	for _, n := range nodes {
		cl := client.New(n.URL(), client.WithProjectID(project),
			client.WithHTTPClient(&http.Client{Timeout: 2 * time.Second}))
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		d, err := cl.SubscriptionDelivery(rctx, ReownQueue, subID)
		cancel()
		if err == nil {
			return d.Owner
		}
	}
	return ""
}

// postOne posts one message to ReownQueue, trying the nodes in turn
// until one acknowledges it or bound passes; it returns the message id.
func postOne(ctx context.Context, nodes []*Node, body string, bound time.Duration) (string, time.Duration, bool) {
	t0 := time.Now()
	for i := 0; time.Since(t0) < bound && ctx.Err() == nil; i++ {
		cl := client.New(nodes[i%len(nodes)].URL(), client.WithProjectID(project),
			client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ids, err := cl.PostMessages(pctx, ReownQueue, []client.NewMessage{{Body: body, TTL: 3600}})
		cancel()
		if err == nil && len(ids) == 1 {
			return ids[0], time.Since(t0), true
		}
		sleepCtx(ctx, 20*time.Millisecond)
	}
	return "", 0, false
}

// waitSeen polls the sink until id was delivered or d passes.
func waitSeen(ctx context.Context, sink *Sink, id string, d time.Duration) bool {
	end := time.Now().Add(d)
	for ctx.Err() == nil {
		if _, ok := sink.FirstSeen(id); ok {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		sleepCtx(ctx, 10*time.Millisecond)
	}
	return false
}
