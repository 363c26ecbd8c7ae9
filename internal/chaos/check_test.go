package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

const ms = int64(time.Millisecond)

func post(seq int, q, id, tok string, call, ret int64, out Outcome) Op {
	return Op{Seq: seq, Kind: OpPost, Queue: q, Call: call * ms, Return: ret * ms, Outcome: out,
		Tokens: []string{tok}, Msgs: []MsgRef{{ID: id, Token: tok}}}
}

func kinds(vs []Violation) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Check)
	}
	return strings.Join(s, ",")
}

func TestCheckHistoryLost(t *testing.T) {
	ops := []Op{
		post(0, "q0", "m1", "a", 0, 10, OK),
		post(1, "q0", "m2", "b", 0, 10, OK),
		{Seq: 2, Kind: OpPop, Queue: "q0", Call: 20 * ms, Return: 30 * ms, Outcome: OK, N: 1, Msgs: []MsgRef{{ID: "m1", Token: "a"}}},
		{Seq: 3, Kind: OpDrain, Queue: "q0", Call: 40 * ms, Return: 50 * ms, Outcome: OK},
	}
	res := CheckHistory(ops)
	if kinds(res.Violations) != "lost" {
		t.Fatalf("violations %v, want one lost", res.Violations)
	}
	// An unknown-outcome pop may have taken m2: no violation, a note.
	ops = append(ops, Op{Seq: 4, Kind: OpPop, Queue: "q0", Call: 20 * ms, Return: 35 * ms, Outcome: Unknown, N: 1})
	if res := CheckHistory(ops); len(res.Violations) != 0 || len(res.Notes) != 1 {
		t.Fatalf("got %v / %v, want no violation and a note", res.Violations, res.Notes)
	}
}

func TestCheckHistoryDoubleClaimAndResurrection(t *testing.T) {
	claim := func(seq int, id string, call, ret int64) Op {
		return Op{Seq: seq, Kind: OpClaim, Queue: "q0", Call: call * ms, Return: ret * ms, Outcome: OK, TTL: 60,
			ClaimID: id, Msgs: []MsgRef{{ID: "m1", Token: "a"}}}
	}
	ops := []Op{post(0, "q0", "m1", "a", 0, 10, OK), claim(1, "c1", 20, 30), claim(2, "c2", 40, 50),
		{Seq: 3, Kind: OpDrain, Queue: "q0", Call: 90 * ms, Return: 95 * ms, Outcome: OK, Msgs: []MsgRef{{ID: "m1", Token: "a"}}}}
	if got := kinds(CheckHistory(ops).Violations); got != "exclusive-claim" {
		t.Fatalf("got %q, want exclusive-claim", got)
	}
	// 70 s later the first claim has expired: legal.
	ops[2] = claim(2, "c2", 70000, 70010)
	ops[3].Call, ops[3].Return = 80000*ms, 80001*ms
	if v := CheckHistory(ops).Violations; len(v) != 0 {
		t.Fatalf("expired claim reported: %v", v)
	}
	// Deleted, then seen again.
	ops = []Op{post(0, "q0", "m1", "a", 0, 10, OK), claim(1, "c1", 20, 30),
		{Seq: 2, Kind: OpDelete, Queue: "q0", Call: 40 * ms, Return: 50 * ms, Outcome: OK, Target: "m1", ClaimID: "c1"},
		{Seq: 3, Kind: OpDrain, Queue: "q0", Call: 90 * ms, Return: 95 * ms, Outcome: OK, Msgs: []MsgRef{{ID: "m1", Token: "a"}}}}
	if got := kinds(CheckHistory(ops).Violations); got != "resurrected" {
		t.Fatalf("got %q, want resurrected", got)
	}
}

func linOp(seq, worker int, kind string, call, ret int64, out Outcome, toks ...string) Op {
	o := Op{Seq: seq, Worker: worker, Kind: kind, Queue: LinQueue, Call: call * ms, Return: ret * ms, Outcome: out, N: 20}
	if kind == OpPost {
		o.Tokens = toks
		return o
	}
	if kind == OpPop {
		o.N = 1
	}
	for _, tk := range toks {
		o.Msgs = append(o.Msgs, MsgRef{ID: "id-" + tk, Token: tk})
	}
	return o
}

func TestLinearizable(t *testing.T) {
	good := []Op{
		linOp(0, 0, OpPost, 0, 10, OK, "a"),
		linOp(1, 1, OpPost, 5, 15, Unknown, "b"), // seen later: took effect
		linOp(2, 0, OpPop, 20, 30, OK, "a"),
		linOp(3, 1, OpList, 40, 50, OK, "b"),
		linOp(4, 0, OpPost, 60, 70, Unknown, "c"), // never seen: dropped
		linOp(5, -1, OpDrain, 80, 90, OK, "b"),
	}
	if r := CheckLinearizable(good, 10*time.Second); r.Result != porcupine.Ok {
		t.Fatalf("good history: %s", r.Result)
	}
	// A pop that returns the newer message first is not FIFO.
	bad := []Op{
		linOp(0, 0, OpPost, 0, 10, OK, "a"),
		linOp(1, 0, OpPost, 20, 30, OK, "b"),
		linOp(2, 1, OpPop, 40, 50, OK, "b"),
		linOp(3, -1, OpDrain, 80, 90, OK, "a"),
	}
	r := CheckLinearizable(bad, 10*time.Second)
	if r.Result != porcupine.Illegal {
		t.Fatalf("bad history: %s", r.Result)
	}
	if err := r.WriteVisualization(t.TempDir() + "/lin.html"); err != nil {
		t.Fatal(err)
	}
	// A stale list (missing an acknowledged post) is not linearizable.
	stale := []Op{
		linOp(0, 0, OpPost, 0, 10, OK, "a"),
		linOp(1, 1, OpList, 20, 30, OK),
		linOp(2, -1, OpDrain, 80, 90, OK, "a"),
	}
	if r := CheckLinearizable(stale, 10*time.Second); r.Result != porcupine.Illegal {
		t.Fatalf("stale list: %s", r.Result)
	}
}

func TestPartitionFigures(t *testing.T) {
	r := PartitionResult{Trials: []PartitionTrial{
		{Role: "leader", Writes: 3, WritesOK: 2, Reads: 1, ReadsOK: 1},
		{Role: "follower", Writes: 0, Reads: 0},
	}}
	if got := r.By("leader"); len(got) != 1 || got[0].Fraction() != 0.75 {
		t.Fatalf("leader trials %+v", got)
	}
	if got := r.By("follower")[0].Fraction(); got != 0 {
		t.Fatalf("fraction of no requests: %v", got)
	}
	if got := FormatCounts(map[string]int{"b": 2, "a": 1}); got != "{a: 1, b: 2}" {
		t.Fatalf("FormatCounts: %s", got)
	}
	if got, _ := MedianMax([]time.Duration{3, 1, 2}); got != 2 {
		t.Fatalf("median %v", got)
	}
}
