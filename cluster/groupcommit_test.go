package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/herald-mq/herald/fsm"
)

// concurrentPosts posts per one-message commands from each of workers
// goroutines through c and returns every returned message id. Worker 0
// also patches a missing queue after each post, which must fail with
// fsm.ErrNotFound for it alone.
func concurrentPosts(t *testing.T, c *Cluster, q string, workers, per int) []string {
	t.Helper()
	var (
		mu   sync.Mutex
		ids  []string
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	ctx := ctxFor(t, 60*time.Second)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				res, err := c.Apply(ctx, postCmd(t, q, "", fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)))
				if err != nil || len(res.IDs) != 1 {
					fail(fmt.Errorf("worker %d post %d: %+v, %v", w, i, res, err))
					return
				}
				mu.Lock()
				ids = append(ids, res.IDs[0])
				mu.Unlock()
				if w != 0 {
					continue
				}
				patch, _ := fsm.NewCommand(fsm.CmdQueuePatch, "", &fsm.QueuePatch{Project: "p", Queue: "missing",
					Ops: []fsm.PatchOp{{Op: "remove", Key: "x"}}})
				if _, err := c.Apply(ctx, patch); !errors.Is(err, fsm.ErrNotFound) {
					fail(fmt.Errorf("patch of a missing queue: %v, want fsm.ErrNotFound", err))
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

func checkDistinct(t *testing.T, ids []string, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("message id %s returned twice", id)
		}
		seen[id] = true
	}
	if len(seen) != want {
		t.Fatalf("%d distinct ids, want %d", len(seen), want)
	}
}

func TestGroupCommitCoalescesConcurrentWrites(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(3)
	createQueue(t, l.c, "gc")
	rt := l.c.rt.Load()

	// On the leader: 32 workers x 8 posts plus 8 failing patches.
	const workers, per = 32, 8
	cmds := workers*per + per
	before := rt.raft.LastIndex()
	ids := concurrentPosts(t, l.c, "gc", workers, per)
	entries := rt.raft.LastIndex() - before
	t.Logf("leader: %d commands in %d raft entries", cmds, entries)
	if entries >= uint64(cmds) {
		t.Fatalf("leader: %d commands took %d raft entries; want fewer", cmds, entries)
	}
	checkDistinct(t, ids, workers*per)

	// Forwarded from a follower: coalesced on the leader as well.
	f := tc.followers()[0]
	before = rt.raft.LastIndex()
	ids = append(ids, concurrentPosts(t, f.c, "gc", workers, per)...)
	entries = rt.raft.LastIndex() - before
	t.Logf("follower: %d commands in %d raft entries", cmds, entries)
	if entries >= uint64(cmds) {
		t.Fatalf("follower: %d commands took %d raft entries; want fewer", cmds, entries)
	}
	checkDistinct(t, ids, 2*workers*per)

	// Every replica has every message and the same state.
	poll(t, 10*time.Second, "all nodes applied the same index", func() bool {
		a := l.c.Status().AppliedIndex
		for _, n := range tc.nodes {
			if n.c.Status().AppliedIndex != a {
				return false
			}
		}
		return true
	})
	tc.sameDigests(t, l)
	var stored int
	l.fsm.Read(func(s *fsm.State) {
		stored = len(s.GetMessages("p", "gc", ids, l.fsm.LastNow()))
	})
	if stored != len(ids) {
		t.Fatalf("%d of %d acknowledged messages stored", stored, len(ids))
	}
}

func TestGroupCommitSequentialCallerIsNotBatched(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(1)
	createQueue(t, l.c, "seq")
	rt := l.c.rt.Load()
	before := rt.raft.LastIndex()
	last := l.fsm.LastNow()
	const n = 20
	for i := 0; i < n; i++ {
		res, err := l.c.Apply(ctxFor(t, 10*time.Second), postCmd(t, "seq", "", `{}`))
		if err != nil || len(res.IDs) != 1 {
			t.Fatalf("post %d: %+v, %v", i, res, err)
		}
		if now := l.fsm.LastNow(); now <= last {
			t.Fatalf("post %d: FSM time %d did not advance past %d", i, now, last)
		} else {
			last = now
		}
	}
	if got := rt.raft.LastIndex() - before; got != n {
		t.Fatalf("%d sequential commands took %d raft entries, want %d", n, got, n)
	}

	// A caller's own Batch is proposed as is, never nested.
	var b fsm.Batch
	for _, q := range []string{"b1", "b2"} {
		cmd, _ := fsm.NewCommand(fsm.CmdQueueCreate, "", &fsm.QueueCreate{Project: "p", Queue: q})
		b.Commands = append(b.Commands, *cmd)
	}
	payload, _ := msgpack.Marshal(&b)
	res, err := l.c.Apply(ctxFor(t, 10*time.Second), &fsm.Command{Type: fsm.CmdBatch, Payload: payload})
	if err != nil || len(res.Batch) != 2 || !res.Batch[0].Created || !res.Batch[1].Created {
		t.Fatalf("caller batch: %+v, %v", res, err)
	}
}

func TestGroupCommitCancelledWhileQueuedIsNotProposed(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(1)
	createQueue(t, l.c, "x")
	c := l.c
	rt := c.rt.Load()
	before := rt.raft.LastIndex()

	// Hold the stamp lock so the committer stalls while proposing a.
	c.stampMu.Lock()
	a, _ := fsm.NewCommand(fsm.CmdQueueCreate, "req-a", &fsm.QueueCreate{Project: "p", Queue: "a"})
	aEnc, _ := a.Encode()
	pa := &pending{enc: aEnc, typ: a.Type, done: make(chan outcome, 1)}
	c.applyQ <- pa
	poll(t, 5*time.Second, "committer took a", func() bool { return pa.state.Load() == pendingTaken })

	// b waits in the queue; its caller gives up.
	ctx, cancel := context.WithCancel(context.Background())
	bErr := make(chan error, 1)
	go func() {
		b, _ := fsm.NewCommand(fsm.CmdQueueCreate, "req-b", &fsm.QueueCreate{Project: "p", Queue: "b"})
		bEnc, _ := b.Encode()
		_, err := c.applyLocal(ctx, rt, bEnc, b.Type)
		bErr <- err
	}()
	poll(t, 5*time.Second, "b queued", func() bool { return len(c.applyQ) == 1 })
	cancel()
	if err := <-bErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err)
	}
	c.stampMu.Unlock()
	if o := <-pa.done; o.err != nil || !o.res.Created {
		t.Fatalf("a: %+v", o)
	}
	createQueue(t, c, "c")
	if got := rt.raft.LastIndex() - before; got != 2 {
		t.Fatalf("%d entries after a, cancelled b and c; want 2", got)
	}
	if ok, err := hasQueue(c, false, "b"); err != nil || ok {
		t.Fatalf("queue b of a cancelled caller: exists=%v err=%v", ok, err)
	}
}

func TestGroupCommitLeaderKillLosesNothingAcknowledged(t *testing.T) {
	tc := newTestCluster(t)
	old := tc.start(3)
	createQueue(t, old.c, "k")
	fs := tc.followers()

	const workers, per = 32, 12
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	ctx := ctxFor(t, 60*time.Second)
	killAt := make(chan struct{})
	var once sync.Once
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := fs[w%len(fs)]
			for i := 0; i < per; i++ {
				res, err := n.c.Apply(ctx, postCmd(t, "k", "", fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)))
				if err != nil || len(res.IDs) != 1 {
					t.Errorf("worker %d post %d: %+v, %v", w, i, res, err)
					return
				}
				mu.Lock()
				acked = append(acked, res.IDs[0])
				if len(acked) == workers*per/4 {
					once.Do(func() { close(killAt) })
				}
				mu.Unlock()
			}
		}()
	}
	<-killAt
	old.kill()
	wg.Wait()
	if t.Failed() {
		return
	}
	nl := tc.waitLeader(15 * time.Second)
	checkDistinct(t, acked, workers*per)
	// The new leader has every acknowledged message, and exactly as many
	// messages as commands: retries after the kill were deduplicated.
	if err := nl.c.Read(ctx, false, func(s *fsm.State) {
		now := nl.fsm.LastNow()
		if got := len(s.GetMessages("p", "k", acked, now)); got != len(acked) {
			t.Errorf("%d of %d acknowledged messages survived the kill", got, len(acked))
		}
		if st := s.Stats("p", "k", now); st.Total != workers*per {
			t.Errorf("queue holds %d messages, want %d", st.Total, workers*per)
		}
	}); err != nil {
		t.Fatal(err)
	}
}
