package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"time"
)

// Fault kinds accepted by Config.Faults.
const (
	FaultKill    = "kill"    // kill -9 one random node, restart it on the same ports
	FaultPause   = "pause"   // SIGSTOP one node for 1-5 s, then SIGCONT
	FaultLeader  = "leader"  // kill -9 the leader three times in a row
	FaultRolling = "rolling" // SIGTERM, wait, restart each node in turn
	FaultAll     = "all"     // kill -9 every node, restart them all
)

// AllFaults lists every process fault kind.
var AllFaults = []string{FaultKill, FaultPause, FaultLeader, FaultRolling, FaultAll}

// faulter injects faults; owned by Run, which waits for loop to return.
type faulter struct {
	c      *Cluster
	h      *History
	rng    *rand.Rand
	kinds  []string
	logf   func(string, ...any)
	net    *Netns // -netns only
	count  int
	errors []string // recovery failures (liveness violations)
}

func (f *faulter) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	f.h.Note(s)
	f.logf("fault t=%s %s", fmtT(f.h.Now()), s)
}

func (f *faulter) sleep(ctx context.Context, lo, hi time.Duration) {
	sleepCtx(ctx, lo+time.Duration(f.rng.Int63n(int64(hi-lo)+1)))
}

// restart starts a stopped node again, retrying a few times if a port is
// briefly taken by someone else.
func (f *faulter) restart(n *Node) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = n.Start(context.Background()); err == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return err
}

// heal resumes and restarts every node and waits for a healthy cluster.
func (f *faulter) heal(timeout time.Duration) error {
	if f.net != nil {
		if err := f.net.Heal(); err != nil {
			return err
		}
	}
	for _, n := range f.c.Nodes {
		if n.Paused() {
			_ = n.Resume()
		}
		if !n.Running() {
			if err := f.restart(n); err != nil {
				return err
			}
		}
	}
	return f.c.WaitHealthy(context.Background(), timeout)
}

// loop injects faults until ctx ends; at most maxFaults faults.
func (f *faulter) loop(ctx context.Context, maxFaults int) {
	for i := 0; i < maxFaults && ctx.Err() == nil; i++ {
		f.sleep(ctx, time.Second, 3*time.Second)
		if ctx.Err() != nil {
			return
		}
		kind := f.kinds[f.rng.Intn(len(f.kinds))]
		if err := f.inject(ctx, kind); err != nil {
			f.note("%s: %v", kind, err)
		}
		f.count++
		if err := f.heal(60 * time.Second); err != nil {
			f.errors = append(f.errors, fmt.Sprintf("after fault %s: %v", kind, err))
			f.note("cluster did not recover after %s: %v", kind, err)
			return
		}
	}
}

func (f *faulter) inject(ctx context.Context, kind string) error {
	nodes := f.c.Nodes
	switch kind {
	case FaultKill:
		n := nodes[f.rng.Intn(len(nodes))]
		f.note("kill -9 %s (pid %d)", n.ID, n.PID())
		if err := n.Kill(); err != nil {
			return err
		}
		f.sleep(ctx, 500*time.Millisecond, 3*time.Second)
		f.note("restart %s", n.ID)
		return f.restart(n)
	case FaultPause:
		n := nodes[f.rng.Intn(len(nodes))]
		f.note("SIGSTOP %s", n.ID)
		if err := n.Pause(); err != nil {
			return err
		}
		f.sleep(ctx, time.Second, 5*time.Second)
		f.note("SIGCONT %s", n.ID)
		return n.Resume()
	case FaultLeader:
		for i := 0; i < 3 && ctx.Err() == nil; i++ {
			l := f.c.Leader(context.Background())
			if l == nil {
				return fmt.Errorf("no leader known")
			}
			f.note("kill -9 leader %s (pid %d), round %d", l.ID, l.PID(), i+1)
			if err := l.Kill(); err != nil {
				return err
			}
			f.sleep(ctx, time.Second, 2*time.Second)
			f.note("restart %s", l.ID)
			if err := f.restart(l); err != nil {
				return err
			}
			if err := f.c.WaitHealthy(context.Background(), 60*time.Second); err != nil {
				return err
			}
		}
	case FaultRolling:
		for _, n := range nodes {
			f.note("rolling: SIGTERM %s", n.ID)
			if err := n.Term(); err != nil {
				return err
			}
			if err := f.restart(n); err != nil {
				return err
			}
			if err := f.c.WaitHealthy(context.Background(), 60*time.Second); err != nil {
				return err
			}
		}
	case FaultAll:
		f.note("kill -9 all nodes")
		for _, n := range nodes {
			if err := n.Kill(); err != nil {
				return err
			}
		}
		f.sleep(ctx, 500*time.Millisecond, 2*time.Second)
		f.note("restart all nodes")
		for _, n := range nodes {
			if err := f.restart(n); err != nil {
				return err
			}
		}
	case FaultPartition, FaultIsolate, FaultHalves, FaultNetem:
		return f.injectNet(ctx, kind)
	default:
		return fmt.Errorf("unknown fault kind %q", kind)
	}
	return nil
}

// injectNet applies one network fault for 2-8 s; loop heals it after.
func (f *faulter) injectNet(ctx context.Context, kind string) error {
	if f.net == nil {
		return fmt.Errorf("%s needs -netns", kind)
	}
	nodes := f.c.Nodes
	perm := f.rng.Perm(len(nodes))
	var side []int // the group cut off from the others
	switch kind {
	case FaultPartition:
		side = perm[:(len(nodes)-1)/2]
	case FaultHalves:
		side = perm[:1+f.rng.Intn(len(nodes)-1)]
	case FaultIsolate:
		l := f.c.Leader(context.Background())
		if l == nil {
			return fmt.Errorf("no leader known")
		}
		for i, n := range nodes {
			if n == l {
				side = []int{i}
			}
		}
	case FaultNetem:
		if !f.net.NetemOK {
			f.note("netem: skipped (no sch_netem in this kernel)")
			return nil
		}
		i := perm[0]
		f.note("netem delay 50ms loss 5%% on %s's link", nodes[i].ID)
		if err := f.net.Netem(i); err != nil {
			return err
		}
		f.sleep(ctx, 2*time.Second, 8*time.Second)
		f.note("netem removed from %s", nodes[i].ID)
		return nil
	}
	in := map[int]bool{}
	var names, others []string
	for _, i := range side {
		in[i] = true
		names = append(names, nodes[i].ID)
	}
	for i, n := range nodes {
		if !in[i] {
			others = append(others, n.ID)
		}
	}
	f.note("%s: cut %v off %v", kind, names, others)
	for i := range nodes {
		for j := range nodes {
			if in[i] && !in[j] {
				if err := f.net.Block(i, j); err != nil {
					return err
				}
			}
		}
	}
	f.sleep(ctx, 2*time.Second, 8*time.Second)
	// What each side believes just before the heal (evidence the cut bit).
	var views []string
	for _, n := range nodes {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := f.c.Status(sctx, n)
		cancel()
		if err != nil {
			views = append(views, n.ID+":?")
			continue
		}
		views = append(views, fmt.Sprintf("%s:%s/leader=%s/term=%d", n.ID, st.State, st.LeaderID, st.Term))
	}
	f.note("%s healed (before heal: %s)", kind, strings.Join(views, " "))
	return f.net.Heal()
}
