package cluster

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/herald-mq/herald/fsm"
)

func TestSingleNodeBootstrapsAppliesAndRestarts(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(1)

	res := createQueue(t, l.c, "q1")
	if !res.Created {
		t.Fatalf("QueueCreate result %+v: want Created", res)
	}
	mustHaveQueue(t, l, "q1")

	st := l.c.Status()
	if st.State != "Leader" || st.LeaderID != "n1" || st.LeaderHTTPAddr != l.httpAddr {
		t.Fatalf("status %+v: want leader n1", st)
	}
	if st.AppliedIndex < st.CommitIndex || st.LastNow == 0 {
		t.Fatalf("status %+v: want applied >= commit and FSM time set", st)
	}
	if len(st.Members) != 1 || !st.Members[0].Voter || st.Members[0].GossipState != "alive" {
		t.Fatalf("members %+v: want one alive voter", st.Members)
	}
	if !l.c.Ready() {
		t.Fatal("leader not Ready")
	}

	// Restart from the same data dir: no bootstrap, same state.
	closed := l.c
	l.stop()
	if _, err := closed.Apply(context.Background(), &fsm.Command{Type: fsm.CmdNoop}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v, want ErrClosed", err)
	}
	l.start()
	tc.waitLeader(10 * time.Second)
	mustHaveQueue(t, l, "q1")
	if res := createQueue(t, l.c, "q1"); res.Created {
		t.Fatal("queue q1 created twice across a restart")
	}
}

func TestThreeNodesFormOneClusterAndForward(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(3)

	if got := voters(t, l.c); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("voters %v, want n1 n2 n3", got)
	}
	for _, n := range tc.nodes {
		if st := n.c.Status(); st.LeaderID != l.id || len(st.Members) != 3 {
			t.Fatalf("%s status %+v: want leader %s and 3 members", n.id, st, l.id)
		}
	}

	// A write on a follower is forwarded; every node then sees it with a
	// linearizable read, without waiting.
	f := tc.followers()[0]
	if res := createQueue(t, f.c, "fwd"); !res.Created {
		t.Fatalf("forwarded QueueCreate: %+v", res)
	}
	for _, n := range tc.nodes {
		mustHaveQueue(t, n, "fwd")
	}

	// A retried command (same RequestID) applies once.
	post := func(c *Cluster) *fsm.Result {
		cmd, err := fsm.NewCommand(fsm.CmdMessagesPost, "req-1", &fsm.MessagesPost{
			Project: "p", Queue: "fwd", ClientID: "0123456789abcdef0123456789abcdef",
			Messages: []fsm.NewMessage{{Body: []byte(`{"a":1}`)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Apply(ctxFor(t, 10*time.Second), cmd)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		return res
	}
	r1, r2 := post(f.c), post(tc.followers()[1].c)
	if len(r1.IDs) != 1 || !slices.Equal(r1.IDs, r2.IDs) {
		t.Fatalf("retried post: ids %v then %v, want the same single id", r1.IDs, r2.IDs)
	}

	// Domain errors survive forwarding as *fsm.Error.
	cmd, _ := fsm.NewCommand(fsm.CmdQueuePatch, "", &fsm.QueuePatch{Project: "p", Queue: "missing",
		Ops: []fsm.PatchOp{{Op: "remove", Key: "x"}}})
	if _, err := f.c.Apply(ctxFor(t, 10*time.Second), cmd); !errors.Is(err, fsm.ErrNotFound) {
		t.Fatalf("forwarded patch of a missing queue: %v, want fsm.ErrNotFound", err)
	}

	// FSM time only moves forward and is the same everywhere once applied.
	poll(t, 5*time.Second, "all nodes applied the same index", func() bool {
		a := l.c.Status()
		for _, n := range tc.nodes {
			s := n.c.Status()
			if s.AppliedIndex != a.AppliedIndex || s.CommitIndex > s.AppliedIndex || s.LastNow != a.LastNow {
				return false
			}
		}
		return true
	})
	tc.sameDigests(t, l)
}

func TestLeaderKillFailover(t *testing.T) {
	tc := newTestCluster(t)
	old := tc.start(3)
	createQueue(t, old.c, "before")
	var survivor *testNode
	for _, n := range tc.nodes {
		if n != old {
			survivor = n
			break
		}
	}

	start := time.Now()
	old.kill()
	// Apply on a survivor blocks through the election and then succeeds.
	createQueue(t, survivor.c, "after")
	took := time.Since(start)
	nl := tc.leader()
	if nl == nil || nl == old {
		t.Fatalf("no new leader after a successful write")
	}
	t.Logf("leader %s killed; write on %s succeeded after %v (new leader %s)", old.id, survivor.id, took, nl.id)
	if took > 8*time.Second { // typically about 1s; slack for loaded CI machines
		t.Errorf("failover took %v", took)
	}
	for _, n := range tc.up() {
		mustHaveQueue(t, n, "before")
		mustHaveQueue(t, n, "after")
	}

	// The killed node comes back, catches up and serves linearizable reads.
	old.start()
	poll(t, 10*time.Second, "restarted node knows the leader", func() bool {
		id, addr := old.c.Leader()
		return id != "" && addr != ""
	})
	mustHaveQueue(t, old, "after")
}

func TestForwardingRejectsBadSecret(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(1)

	cmd, _ := fsm.NewCommand(fsm.CmdQueueCreate, "", &fsm.QueueCreate{Project: "p", Queue: "x"})
	body, _ := cmd.Encode()
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"missing", "", http.StatusForbidden},
		{"wrong", "00ff", http.StatusForbidden},
		{"other secret", (&Cluster{cfg: Config{Secret: "other"}}).sign(PathApply, body), http.StatusForbidden},
		{"good", l.c.sign(PathApply, body), http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+l.httpAddr+PathApply, bytes.NewReader(body))
		if tt.auth != "" {
			req.Header.Set(HeaderAuth, tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s auth: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}

	// A node configured with another secret gets ErrForbidden, not a retry.
	rogue := &Cluster{cfg: Config{NodeID: "rogue", Secret: "other"}, client: http.DefaultClient}
	if _, err := rogue.forwardApply(ctxFor(t, 5*time.Second), l.httpAddr, body); !errors.Is(err, ErrForbidden) {
		t.Fatalf("forward with a bad secret: %v, want ErrForbidden", err)
	}
	if ok, _ := hasQueue(l.c, true, "x"); !ok {
		t.Fatal("the correctly signed request did not apply")
	}
}

func TestIsolatedLeaderFailsReadsWithNoLeader(t *testing.T) {
	tc := newTestCluster(t)
	tc.configure = func(n *testNode, c *Config) { c.LeaderWait = 2 * time.Second }
	old := tc.start(3)
	createQueue(t, old.c, "before")

	tc.faults.Isolate(old.id)
	// A read racing the cut may still be confirmed by a heartbeat that was
	// in flight; once the lease runs out the node steps down.
	poll(t, 5*time.Second, "the isolated leader steps down", func() bool { return !old.c.IsLeader() })
	start := time.Now()
	_, err := hasQueue(old.c, false, "before")
	took := time.Since(start)
	if e := isNoLeader(err); e != nil {
		t.Fatalf("linearizable read on the isolated node: %v", e)
	}
	if took < 2*time.Second || took > 8*time.Second { // LeaderWait is 2s; slack for loaded CI machines
		t.Errorf("read on the isolated node failed after %v, want about LeaderWait", took)
	}
	t.Logf("isolated node's read failed with %v after %v", err, took)
	if ok, err := hasQueue(old.c, true, "before"); err != nil || !ok {
		t.Fatalf("stale read on the isolated node: %v %v", ok, err)
	}
	if _, err := old.c.Apply(ctxFor(t, 10*time.Second), &fsm.Command{Type: fsm.CmdNoop}); isNoLeader(err) != nil {
		t.Fatalf("write on the isolated node: %v, want ErrNoLeader", err)
	}

	// The majority elects a new leader and keeps working.
	var majority []*testNode
	for _, n := range tc.nodes {
		if n != old {
			majority = append(majority, n)
		}
	}
	poll(t, 15*time.Second, "the majority elects a new leader", func() bool {
		id, addr := majority[0].c.Leader()
		return id != "" && id != old.id && addr != ""
	})
	createQueue(t, majority[0].c, "during")
	mustHaveQueue(t, majority[1], "during")

	// After healing, the old leader catches up.
	tc.faults.Heal()
	poll(t, 10*time.Second, "healed node reads the write made during the partition", func() bool {
		ok, err := hasQueue(old.c, false, "during")
		return err == nil && ok
	})
}

func TestLateJoinerIsAddedAsVoter(t *testing.T) {
	tc := newTestCluster(t)
	l := tc.start(3)
	createQueue(t, l.c, "early")

	n4 := tc.add(3) // expects 3, but finds an existing cluster: must not bootstrap
	poll(t, 10*time.Second, "leader adds n4 as a voter", func() bool {
		return slices.Contains(voters(t, l.c), "n4")
	})
	poll(t, 10*time.Second, "n4 knows the leader", func() bool {
		id, _ := n4.c.Leader()
		return id == l.id
	})
	mustHaveQueue(t, n4, "early")
	createQueue(t, n4.c, "from-n4")
	mustHaveQueue(t, l, "from-n4")
}

func TestGracefulCloseTransfersLeadershipAndRemovesLeftServer(t *testing.T) {
	tc := newTestCluster(t)
	tc.configure = func(n *testNode, c *Config) {
		c.DeadServerTimeout = 300 * time.Millisecond
		c.ReconcileInterval = 100 * time.Millisecond
	}
	old := tc.start(3)

	start := time.Now()
	old.stop()
	nl := tc.waitLeader(5 * time.Second)
	t.Logf("graceful close of leader %s: new leader %s after %v", old.id, nl.id, time.Since(start))
	createQueue(t, nl.c, "after-close")

	// The closed node left gossip; past DeadServerTimeout the leader
	// removes it from raft.
	poll(t, 10*time.Second, "left server removed from raft", func() bool {
		return len(voters(t, nl.c)) == 2 && !slices.Contains(voters(t, nl.c), old.id)
	})
	for _, m := range nl.c.Status().Members {
		if m.ID == old.id && (m.Voter || m.GossipState != "left") {
			t.Fatalf("member %+v: want a left non-voter", m)
		}
	}
}

func TestRemovalKeepsQuorum(t *testing.T) {
	conf := func(n int) raft.Configuration {
		var c raft.Configuration
		for i := 1; i <= n; i++ {
			c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID("n" + strconv.Itoa(i))})
		}
		return c
	}
	for _, tt := range []struct {
		voters int
		want   bool
	}{{1, false}, {2, false}, {3, true}, {4, true}, {5, true}} {
		if got := removalKeepsQuorum(conf(tt.voters), "n1"); got != tt.want {
			t.Errorf("%d voters: removalKeepsQuorum = %v, want %v", tt.voters, got, tt.want)
		}
	}
	c := conf(2)
	c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Nonvoter, ID: "x"})
	if !removalKeepsQuorum(c, "x") {
		t.Error("removing a non-voter must always be allowed")
	}
}

func TestSnapshotInstallAndRestart(t *testing.T) {
	tc := newTestCluster(t)
	tc.configure = func(n *testNode, c *Config) {
		c.SnapshotThreshold = 16
		c.SnapshotInterval = 50 * time.Millisecond
		c.TrailingLogs = 4
	}
	l := tc.start(1)
	for i := 0; i < 40; i++ {
		createQueue(t, l.c, "q"+strconv.Itoa(i))
	}
	poll(t, 10*time.Second, "the leader takes a snapshot", func() bool {
		return l.c.rt.Load().raft.Stats()["last_snapshot_index"] != "0"
	})
	// Compact past the snapshot so the new node must install it.
	createQueue(t, l.c, "after-snapshot")

	// n2 expects 1 but joins n1 first, sees its state and waits to be added;
	// the leader ships it the snapshot.
	n2 := tc.add(1)
	poll(t, 10*time.Second, "leader adds n2", func() bool {
		return slices.Contains(voters(t, l.c), "n2")
	})
	mustHaveQueue(t, n2, "q0")
	mustHaveQueue(t, n2, "after-snapshot")
	poll(t, 5*time.Second, "n2 converges", func() bool {
		return n2.c.Status().AppliedIndex == l.c.Status().AppliedIndex
	})
	if n2.fsm.Digest() != l.fsm.Digest() {
		t.Fatal("digest of the node built from a snapshot differs")
	}

	// A restart restores the local snapshot and replays the log tail.
	n2.kill()
	n2.start()
	mustHaveQueue(t, n2, "q39")
	if n2.fsm.Digest() != l.fsm.Digest() {
		t.Fatal("digest after restart differs")
	}
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	tc := newTestCluster(t)
	l := tc.start(3)
	createQueue(t, tc.followers()[0].c, "q")
	mustHaveQueue(t, tc.followers()[1], "q")
	for _, n := range tc.nodes {
		if n != l {
			n.kill()
		}
	}
	l.stop()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%d goroutines before, %d after stopping every node:\n%s", before, runtime.NumGoroutine(), b.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
