package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/herald-mq/herald/fsm"
)

func TestForwardBatchingCoalescesFollowerWrites(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(3)
	createQueue(t, l.c, "fb")
	f := tc.followers()[0]

	const workers, per = 32, 8
	calls0 := f.c.coalesce.fwdCalls.Load()
	ids := concurrentPosts(t, f.c, "fb", workers, per)
	checkDistinct(t, ids, workers*per)
	cmds := uint64(workers*per + per) // posts plus worker 0's failing patches
	calls := f.c.coalesce.fwdCalls.Load() - calls0
	st := f.c.Status().Coalescing
	t.Logf("follower: %d commands in %d batch calls (status: %+v)", cmds, calls, st)
	if calls == 0 || calls >= cmds {
		t.Fatalf("%d forwarded commands took %d batch calls; want between 1 and fewer than the commands", cmds, calls)
	}
	if st.ForwardedCommands < cmds {
		t.Fatalf("status counts %d forwarded commands, want at least %d", st.ForwardedCommands, cmds)
	}
	var stored int
	l.fsm.Read(func(s *fsm.State) { stored = len(s.GetMessages("p", "fb", ids, l.fsm.LastNow())) })
	if stored != len(ids) {
		t.Fatalf("%d of %d acknowledged messages stored on the leader", stored, len(ids))
	}
}

func TestReadRoundsAreSharedAndSeeAcknowledgedWrites(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(3)
	f := tc.followers()[0]

	// Each reader first writes its own queue through the leader, then reads
	// it on the follower: the read must see the acknowledged write however
	// the rounds were shared.
	const readers = 48
	rounds0, waiters0 := f.c.coalesce.readRounds.Load(), f.c.coalesce.readWaiters.Load()
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprintf("r%d", i)
			if _, err := l.c.Apply(ctxFor(t, 20*time.Second), mustCmd(t, fsm.CmdQueueCreate, &fsm.QueueCreate{Project: "p", Queue: q})); err != nil {
				errs <- err
				return
			}
			ok, err := hasQueue(f.c, false, q)
			if err != nil || !ok {
				errs <- fmt.Errorf("read of %s after its acknowledged create: exists=%v err=%v", q, ok, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rounds := f.c.coalesce.readRounds.Load() - rounds0
	waiters := f.c.coalesce.readWaiters.Load() - waiters0
	t.Logf("follower: %d linearizable reads in %d read-index rounds", waiters, rounds)
	if waiters < readers || rounds == 0 || rounds > waiters {
		t.Fatalf("%d reads, %d rounds; want at least %d reads and 1..reads rounds", waiters, rounds, readers)
	}
}

func mustCmd(t testing.TB, typ fsm.CmdType, payload any) *fsm.Command {
	t.Helper()
	cmd, err := fsm.NewCommand(typ, "", payload)
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestApplyBatchAnswersEachCommand(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(1)

	good, _ := mustCmd(t, fsm.CmdQueueCreate, &fsm.QueueCreate{Project: "p", Queue: "ok"}).Encode()
	missing, _ := mustCmd(t, fsm.CmdQueuePatch, &fsm.QueuePatch{Project: "p", Queue: "missing",
		Ops: []fsm.PatchOp{{Op: "remove", Key: "x"}}}).Encode()
	body, _ := msgpack.Marshal([][]byte{good, []byte("not a command"), missing})

	post := func(body []byte, auth string) (int, wireBatchReply) {
		req := httptest.NewRequest(http.MethodPost, PathApplyBatch, bytes.NewReader(body))
		req.Header.Set(HeaderAuth, auth)
		rec := httptest.NewRecorder()
		l.c.Handler().ServeHTTP(rec, req)
		var rep wireBatchReply
		if err := msgpack.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
			t.Fatalf("undecodable reply (status %d): %v", rec.Code, err)
		}
		return rec.Code, rep
	}
	code, rep := post(body, l.c.sign(PathApplyBatch, body))
	if code != http.StatusOK || rep.Code != wireOK || len(rep.Replies) != 3 {
		t.Fatalf("batch: status %d, reply %+v", code, rep)
	}
	if r := rep.Replies[0]; r.Code != wireOK || r.Result == nil || !r.Result.Created {
		t.Errorf("good command: %+v", r)
	}
	if r := rep.Replies[1]; r.Code != wireBadRequest {
		t.Errorf("undecodable command: %+v, want code %d", r, wireBadRequest)
	}
	if r := rep.Replies[2]; r.Code != wireOK || r.Result == nil || !errors.Is(r.Result.Err(), fsm.ErrNotFound) {
		t.Errorf("patch of a missing queue: %+v, want its not-found result", r)
	}
	if ok, _ := hasQueue(l.c, true, "ok"); !ok {
		t.Fatal("the good command of the batch did not apply")
	}

	if code, rep := post(body, "00ff"); code != http.StatusForbidden || rep.Code != wireForbidden {
		t.Errorf("bad signature: status %d, reply %+v", code, rep)
	}
	junk := []byte{0xc1}
	if code, rep := post(junk, l.c.sign(PathApplyBatch, junk)); code != http.StatusBadRequest || rep.Code != wireBadRequest {
		t.Errorf("undecodable batch: status %d, reply %+v", code, rep)
	}
}

// TestForwardFallsBackWithoutBatchEndpoint: a leader that serves only
// PathApply (an older version) still receives every forwarded command.
func TestForwardFallsBackWithoutBatchEndpoint(t *testing.T) {
	var single atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathApply, func(w http.ResponseWriter, r *http.Request) {
		single.Add(1)
		writeMsgpack(w, http.StatusOK, &wireReply{Result: &fsm.Result{Created: true}})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln) // owner: test; closed below
	defer srv.Close()

	c, err := New(Config{NodeID: "n1", DataDir: t.TempDir(), RaftListener: listenOn(t, "127.0.0.1:0"),
		GossipBind: "127.0.0.1:0", HTTPAddr: "127.0.0.1:1", FSM: fsm.New(fsm.Config{}), Log: testLogger("n1")})
	if err != nil {
		t.Fatal(err)
	}
	c.wg.Add(1)
	go c.forwarder()
	defer func() {
		close(c.shutdownCh)
		c.cancel()
		c.wg.Wait()
	}()

	body, _ := mustCmd(t, fsm.CmdQueueCreate, &fsm.QueueCreate{Project: "p", Queue: "q"}).Encode()
	const n = 8
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if res, err := c.forwardQueued(ctx, leaderRef{id: "old", httpAddr: ln.Addr().String()}, body); err != nil || !res.Created {
				t.Errorf("forward: %+v, %v", res, err)
			}
		}()
	}
	wg.Wait()
	if got := single.Load(); got != n {
		t.Fatalf("old leader got %d single applies, want %d", got, n)
	}
}

func TestBatchBodyEncoding(t *testing.T) {
	for _, n := range []int{1, 2, 15, 16, 300} {
		var bodies [][]byte
		for i := range n {
			bodies = append(bodies, bytes.Repeat([]byte{byte(i)}, (i*37)%70000))
		}
		hand := appendArrayLen(nil, n)
		for _, b := range bodies {
			hand = appendBin(hand, b)
		}
		refl, err := msgpack.Marshal(bodies)
		if err != nil {
			t.Fatal(err)
		}
		// Both directions: what an older follower sends (reflection) and
		// what this one sends (hand) split into the same commands, and
		// reflection decodes the hand encoding.
		for name, enc := range map[string][]byte{"hand": hand, "reflection": refl} {
			got, err := splitBins(enc)
			if err != nil || len(got) != n {
				t.Fatalf("%s, %d bodies: %d split, %v", name, n, len(got), err)
			}
			for i := range got {
				if !bytes.Equal(got[i], bodies[i]) {
					t.Fatalf("%s: body %d differs", name, i)
				}
			}
		}
		var back [][]byte
		if err := msgpack.Unmarshal(hand, &back); err != nil || len(back) != n {
			t.Fatalf("reflection decode of hand encoding: %d, %v", len(back), err)
		}
	}
	good := appendBin(appendArrayLen(nil, 2), []byte("ab"))
	good = appendBin(good, []byte("c"))
	for name, b := range map[string][]byte{
		"empty":     nil,
		"not array": {0xc4, 1, 'a'},
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0),
		"count":     {0x93, 0xc4, 0},
		"bad elem":  {0x91, 0x01},
		"long len":  {0x91, 0xc5, 0xff, 0xff, 'a'},
	} {
		if _, err := splitBins(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
