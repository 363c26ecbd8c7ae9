package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/herald-mq/herald/client"
)

// PartitionTrial is one trial of MeasurePartition: one node cut off the
// others by blackhole routes for the cut duration.
type PartitionTrial struct {
	Victim string // the node cut off
	Role   string // its raft role at the cut: "leader" or "follower"

	// Requests to the majority nodes answered during the cut (requests
	// still in flight at the heal are not counted).
	Writes, WritesOK int
	Reads, ReadsOK   int
	// FirstWrite is the time from the cut until the first acknowledged
	// write on a majority node (every write counted was sent after the
	// cut); FirstWriteOK is false if none was acknowledged.
	FirstWrite   time.Duration
	FirstWriteOK bool

	// Minority counts the cut-off node's answers during the cut by kind,
	// e.g. "write 503 Retry-After=1s" or "read timeout".
	Minority map[string]int
	// MinorityLatency are the times the cut-off node took to answer.
	MinorityLatency []time.Duration
	// MajorityErrors counts the majority's failed answers by kind;
	// MajorityErrLatency are the times those requests took.
	MajorityErrors     map[string]int
	MajorityErrLatency []time.Duration

	// Converged is the time from the heal until the cluster was healthy
	// again and every node's local state (stale reads) held every write
	// acknowledged during the trial; ConvergedOK is false if that did not
	// happen within the bound.
	Converged   time.Duration
	ConvergedOK bool
}

// Fraction is the share of majority requests (writes and reads) that
// succeeded.
func (t PartitionTrial) Fraction() float64 {
	if n := t.Writes + t.Reads; n > 0 {
		return float64(t.WritesOK+t.ReadsOK) / float64(n)
	}
	return 0
}

// PartitionResult holds the trials of MeasurePartition.
type PartitionResult struct {
	Trials []PartitionTrial
}

// By returns the trials whose cut-off node had role ("leader",
// "follower"; "" for all).
func (r PartitionResult) By(role string) []PartitionTrial {
	var out []PartitionTrial
	for _, t := range r.Trials {
		if role == "" || t.Role == role {
			out = append(out, t)
		}
	}
	return out
}

// partitionBound bounds every wait of one trial (health, convergence).
const partitionBound = 60 * time.Second

// minorityGrace is how long before the heal the last request to the
// cut-off node is sent: more than the server's apply timeout (10 s), which
// bounds every request, and its leader wait (5 s). minorityTimeout is the
// client's own bound on one request.
const (
	minorityGrace   = 11 * time.Second
	minorityTimeout = 13 * time.Second
)

// MeasurePartition needs -netns (root). It starts a cluster with one
// network namespace per node and, trials times, cuts one node off every
// other node (the leader in odd-numbered trials, a random follower in the
// others) for cut. Meanwhile each majority node gets a loop of writes
// (POST of one message) and a loop of linearizable reads (GET of a page
// of the queue), and the cut-off node one write and one read per second
// until minorityGrace before the heal, whose answers are recorded. It
// then heals the cut and waits until the cluster is healthy and every
// node's local state holds every write acknowledged during the trial.
func MeasurePartition(ctx context.Context, cfg Config, trials int, cut time.Duration) (PartitionResult, error) {
	var res PartitionResult
	if cut <= minorityGrace {
		return res, fmt.Errorf("the cut must last longer than %v (got %v)", minorityGrace, cut)
	}
	cfg.Clients, cfg.Netns = 3, true
	if err := cfg.validate(); err != nil {
		return res, err
	}
	net, err := NewNetns(cfg.Nodes, cfg.Logf)
	if err != nil {
		return res, err
	}
	defer net.Cleanup()
	root, err := os.MkdirTemp("", "herald-partition-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(root)
	c := NewCluster(cfg.Bin, root, cfg.Nodes, cfg.ExtraArgs, cfg.Logf)
	net.Attach(c)
	defer c.Cleanup()
	if err := c.Start(ctx); err != nil {
		return res, err
	}
	rng := rand.New(rand.NewSource(cfg.Seed))
	for i := 0; i < trials && ctx.Err() == nil; i++ {
		if err := c.WaitHealthy(ctx, partitionBound); err != nil {
			return res, fmt.Errorf("trial %d: before the cut: %w", i+1, err)
		}
		sleepCtx(ctx, 2*time.Second) // let the last trial's catch-up settle
		l := c.Leader(ctx)
		if l == nil {
			return res, fmt.Errorf("trial %d: no leader", i+1)
		}
		victim, role := l, "leader"
		if i%2 == 1 {
			var fs []*Node
			for _, n := range c.Nodes {
				if n != l {
					fs = append(fs, n)
				}
			}
			victim, role = fs[rng.Intn(len(fs))], "follower"
		}
		t, err := partitionTrial(ctx, c, net, victim, fmt.Sprintf("part-%d", i+1), cut)
		t.Victim, t.Role = victim.ID, role
		res.Trials = append(res.Trials, t)
		if err != nil {
			return res, fmt.Errorf("trial %d: %w", i+1, err)
		}
		cfg.Logf("trial %d: cut %s (%s) for %v: majority writes %d/%d, reads %d/%d (%.4f); first write after %v (ok=%v); minority answered %s; converged %v after the heal (ok=%v)",
			i+1, victim.ID, role, cut, t.WritesOK, t.Writes, t.ReadsOK, t.Reads, t.Fraction(),
			t.FirstWrite.Round(time.Millisecond), t.FirstWriteOK, FormatCounts(t.Minority),
			t.Converged.Round(time.Millisecond), t.ConvergedOK)
	}
	return res, ctx.Err()
}

// FormatCounts renders a count map as {key: n, ...}, sorted by key.
func FormatCounts(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// answerKind names a request's answer: "ok", "503 Retry-After=1s",
// "503 no Retry-After", "timeout" or "network error".
func answerKind(err error) string {
	var ae *client.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ae) && ae.RetryAfter > 0:
		return fmt.Sprintf("%d Retry-After=%v", ae.Status, ae.RetryAfter)
	case errors.As(err, &ae):
		return fmt.Sprintf("%d no Retry-After", ae.Status)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout"):
		return "timeout"
	}
	return "network error"
}

// partitionTrial runs one cut of victim in queue and measures.
func partitionTrial(ctx context.Context, c *Cluster, net *Netns, victim *Node, queue string, cut time.Duration) (PartitionTrial, error) {
	t := PartitionTrial{Minority: map[string]int{}, MajorityErrors: map[string]int{}}
	vi := -1
	for i, n := range c.Nodes {
		if n == victim {
			vi = i
		}
	}
	for j := range c.Nodes {
		if j != vi {
			if err := net.Block(vi, j); err != nil {
				_ = net.Heal()
				return t, err
			}
		}
	}
	t0 := time.Now()
	heal := t0.Add(cut)
	cctx, stop := context.WithDeadline(ctx, heal)
	defer stop()
	var (
		mu       sync.Mutex // guards t and acked
		acked    []string
		majority sync.WaitGroup // ends with cctx
		minority sync.WaitGroup // ends within minorityTimeout of the last request
	)
	hc := &http.Client{Timeout: minorityTimeout}
	defer hc.CloseIdleConnections()
	// send sends one write (POST of one message) or linearizable read
	// (GET of a page) to cl and records the answer. Majority requests in
	// flight at the heal are not counted; minority requests are not cut
	// short by the heal, and one answered after it is recorded as such.
	send := func(rctx context.Context, cl *client.Client, toMinority, write bool, k int) error {
		var ids []string
		var err error
		start := time.Now()
		if write {
			ids, err = cl.PostMessages(rctx, queue, []client.NewMessage{{Body: map[string]int{"k": k}, TTL: 3600}})
		} else {
			_, err = cl.ListMessages(rctx, queue, client.ListMessagesOptions{Limit: 10})
		}
		end := time.Now()
		if !toMinority && cctx.Err() != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if write && err == nil && len(ids) == 1 {
			acked = append(acked, ids[0]) // also from the minority: it must then be everywhere
		}
		kind := "read "
		if write {
			kind = "write "
		}
		switch {
		case toMinority && end.After(heal):
			t.Minority[kind+"no answer before the heal"]++
			t.MinorityLatency = append(t.MinorityLatency, end.Sub(start))
		case toMinority:
			t.Minority[kind+answerKind(err)]++
			t.MinorityLatency = append(t.MinorityLatency, end.Sub(start))
		case write:
			t.Writes++
			if err == nil {
				t.WritesOK++
				if d := end.Sub(t0); !t.FirstWriteOK || d < t.FirstWrite {
					t.FirstWrite, t.FirstWriteOK = d, true
				}
			}
		default:
			t.Reads++
			if err == nil {
				t.ReadsOK++
			}
		}
		if err != nil && !toMinority {
			t.MajorityErrors[kind+answerKind(err)]++
			t.MajorityErrLatency = append(t.MajorityErrLatency, end.Sub(start))
		}
		return err
	}
	for _, n := range c.Nodes {
		if n == victim {
			continue
		}
		cl := client.New(n.URL(), client.WithProjectID(project), client.WithHTTPClient(hc))
		for _, write := range []bool{true, false} {
			majority.Add(1)
			go func() { // owner: partitionTrial; ends with cctx (the cut)
				defer majority.Done()
				for k := 0; cctx.Err() == nil && k < 100000; k++ {
					if send(cctx, cl, false, write, k) != nil {
						sleepCtx(cctx, 20*time.Millisecond)
					}
				}
			}()
		}
	}
	// The cut-off node: one write and one read per second, each sent at
	// least minorityGrace before the heal, so that one it holds longer
	// than the server's apply timeout shows as "no answer before the heal".
	vcl := client.New(victim.URL(), client.WithProjectID(project), client.WithHTTPClient(hc))
	for k := 0; time.Until(heal) > minorityGrace && k < 1000; k++ {
		for _, write := range []bool{true, false} {
			minority.Add(1)
			go func() { // owner: partitionTrial; ends within minorityTimeout
				defer minority.Done()
				_ = send(ctx, vcl, true, write, k)
			}()
		}
		sleepCtx(cctx, time.Second)
	}
	majority.Wait()
	defer minority.Wait()
	if err := net.Heal(); err != nil {
		return t, err
	}
	h0 := time.Now()
	if err := c.WaitHealthy(ctx, partitionBound); err != nil {
		return t, nil // ConvergedOK stays false
	}
	snapshot := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), acked...)
	}
	t.Converged, t.ConvergedOK = convergeAll(ctx, c, queue, snapshot(), h0)
	// A write the cut-off node acknowledged late must be everywhere too.
	minority.Wait()
	if all := snapshot(); t.ConvergedOK && ctx.Err() == nil {
		_, t.ConvergedOK = convergeAll(ctx, c, queue, all, h0)
	}
	return t, nil
}

// convergeAll polls every node's local state (stale reads) until it holds
// every id of acked, and returns the time since h0 when the last node did.
func convergeAll(ctx context.Context, c *Cluster, queue string, acked []string, h0 time.Time) (time.Duration, bool) {
	want := map[string]bool{}
	for _, id := range acked {
		want[id] = true
	}
	done := make([]bool, len(c.Nodes))
	left := len(c.Nodes)
	for left > 0 && time.Since(h0) < partitionBound && ctx.Err() == nil {
		for i, n := range c.Nodes {
			if done[i] {
				continue
			}
			if holdsAll(ctx, n, queue, want) {
				done[i] = true
				left--
			}
		}
		if left > 0 {
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
	return time.Since(h0), left == 0
}

// holdsAll lists queue on n from its local state and reports whether every
// id of want is there.
func holdsAll(ctx context.Context, n *Node, queue string, want map[string]bool) bool {
	cl := client.New(n.URL(), client.WithProjectID(project), client.WithStaleReads(),
		client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	seen, marker := 0, ""
	for page := 0; page < 10000; page++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		p, err := cl.ListMessages(pctx, queue, client.ListMessagesOptions{Marker: marker, Limit: 20, Echo: true})
		cancel()
		if err != nil {
			return false
		}
		for _, m := range p.Messages {
			if want[m.ID] {
				seen++
			}
		}
		if len(p.Messages) == 0 || p.Next == "" {
			break
		}
		marker = p.Next
	}
	return seen == len(want)
}
