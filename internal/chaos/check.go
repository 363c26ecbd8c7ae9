package chaos

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Violation is one broken guarantee found in a history.
type Violation struct {
	Check  string // lost, exclusive-claim, resurrected, linearizable, push
	Detail string
}

// String renders the violation for the run's summary.
func (v Violation) String() string { return "VIOLATION [" + v.Check + "] " + v.Detail }

func fmtT(ns int64) string {
	if ns == math.MaxInt64 {
		return "inf"
	}
	return (time.Duration(ns) / time.Millisecond * time.Millisecond).String()
}

func describe(o Op) string {
	return fmt.Sprintf("op#%d w%d %s %s on %s [%s,%s] %s", o.Seq, o.Worker, o.Kind, o.Queue, o.Node,
		fmtT(o.Call), fmtT(o.Return), o.Outcome)
}

// take is one operation that removed a message from others' reach: a claim
// (until it expires) or a pop (for ever).
type take struct {
	op  Op
	ttl int64 // ns; MaxInt64 for pops
}

// CheckResult is the outcome of the history checks (a) and (b).
type CheckResult struct {
	Violations []Violation
	Notes      []string
	Acked      int // messages acknowledged with 201
	Consumed   int
	Present    int // found by the final drain
}

// CheckHistory runs check (a) nothing acknowledged is lost, (b) no message
// is held by two live claims (or claimed and popped) at once, and the
// resurrection check (no message is seen after a definite delete or pop).
func CheckHistory(ops []Op) CheckResult {
	var res CheckResult
	type acked struct {
		op    Op
		queue string
	}
	ackedBy := map[string]acked{}   // message id -> posting op
	gone := map[string]Op{}         // message id -> first definite delete/pop
	maybeGone := map[string]bool{}  // target of an unknown delete
	present := map[string]bool{}    // seen by the final drain
	unknownPops := map[string]int{} // queue -> capacity of unknown pops
	takes := map[string][]take{}
	tokens := map[string]map[string]bool{} // token -> ids seen (duplicate posts)
	seen := func(tok, id string) {
		if tok == "" {
			return
		}
		if tokens[tok] == nil {
			tokens[tok] = map[string]bool{}
		}
		tokens[tok][id] = true
	}
	markGone := func(id string, o Op) {
		if g, ok := gone[id]; !ok || o.Return < g.Return {
			gone[id] = o
		}
	}
	for _, o := range ops {
		switch {
		case o.Kind == OpPost && o.Outcome == OK:
			for _, m := range o.Msgs {
				ackedBy[m.ID] = acked{o, o.Queue}
				seen(m.Token, m.ID)
			}
		case o.Kind == OpDelete && o.Outcome == OK:
			markGone(o.Target, o)
		case o.Kind == OpDelete && o.Outcome == Unknown:
			maybeGone[o.Target] = true
		case o.Kind == OpPop && o.Outcome == OK:
			for _, m := range o.Msgs {
				markGone(m.ID, o)
				takes[m.ID] = append(takes[m.ID], take{o, math.MaxInt64})
				seen(m.Token, m.ID)
			}
		case o.Kind == OpPop && o.Outcome == Unknown:
			unknownPops[o.Queue] += o.N
		case o.Kind == OpClaim && o.Outcome == OK:
			for _, m := range o.Msgs {
				takes[m.ID] = append(takes[m.ID], take{o, int64(o.TTL) * int64(time.Second)})
				seen(m.Token, m.ID)
			}
		case o.Kind == OpDrain && o.Outcome == OK:
			for _, m := range o.Msgs {
				present[m.ID] = true
				seen(m.Token, m.ID)
			}
		case o.Kind == OpList && o.Outcome == OK:
			for _, m := range o.Msgs {
				seen(m.Token, m.ID)
			}
		}
	}
	// (a) lost messages.
	missing := map[string][]acked{}
	for id, a := range ackedBy {
		_, consumed := gone[id]
		switch {
		case consumed:
			res.Consumed++
		case present[id]:
			res.Present++
		case maybeGone[id]:
			res.Consumed++
		default:
			missing[a.queue] = append(missing[a.queue], a)
		}
		res.Acked++
	}
	for q, ms := range missing {
		if len(ms) <= unknownPops[q] {
			res.Notes = append(res.Notes, fmt.Sprintf("queue %s: %d acknowledged messages not found; explained by unknown-outcome pops (capacity %d)", q, len(ms), unknownPops[q]))
			continue
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i].op.Call < ms[j].op.Call })
		for _, a := range ms {
			var id string
			for _, m := range a.op.Msgs {
				if _, ok := ackedBy[m.ID]; ok && !present[m.ID] {
					if _, g := gone[m.ID]; !g {
						id = m.ID
					}
				}
			}
			res.Violations = append(res.Violations, Violation{"lost", fmt.Sprintf(
				"message %s acknowledged by %s is neither consumed nor present at the end (queue %s: %d missing, unknown pops could take %d)",
				id, describe(a.op), q, len(ms), unknownPops[q])})
		}
	}
	// (b) exclusive claims: two takes of one message by different
	// operations are a violation when even the most favourable timing
	// leaves the first take live when the second applied.
	for id, ts := range takes {
		for i := 0; i < len(ts); i++ {
			for j := i + 1; j < len(ts); j++ {
				a, b := ts[i], ts[j]
				if a.op.Seq == b.op.Seq {
					continue
				}
				// Latest possible gap between the two applications.
				gap := max(b.op.Return-a.op.Call, a.op.Return-b.op.Call)
				ttl := min(a.ttl, b.ttl)
				if a.ttl == math.MaxInt64 && b.ttl == math.MaxInt64 {
					ttl = math.MaxInt64
				}
				if gap < ttl {
					res.Violations = append(res.Violations, Violation{"exclusive-claim", fmt.Sprintf(
						"message %s returned by %s (claim %s) and by %s (claim %s) while the first could not have expired",
						id, describe(a.op), a.op.ClaimID, describe(b.op), b.op.ClaimID)})
				}
			}
		}
	}
	// Resurrection: seen by an operation invoked after a definite removal.
	for _, o := range ops {
		if o.Outcome != OK || (o.Kind != OpClaim && o.Kind != OpPop && o.Kind != OpList && o.Kind != OpDrain) {
			continue
		}
		for _, m := range o.Msgs {
			g, ok := gone[m.ID]
			if ok && g.Seq != o.Seq && o.Call > g.Return {
				res.Violations = append(res.Violations, Violation{"resurrected", fmt.Sprintf(
					"message %s removed by %s is returned by %s invoked later", m.ID, describe(g), describe(o))})
			}
		}
	}
	dups := 0
	for tok, ids := range tokens {
		if len(ids) > 1 {
			dups++
			if dups <= 5 {
				res.Notes = append(res.Notes, fmt.Sprintf("body %s stored under %d message ids (a write applied twice)", tok, len(ids)))
			}
		}
	}
	if dups > 0 {
		res.Violations = append(res.Violations, Violation{"duplicate", fmt.Sprintf(
			"%d message bodies were stored more than once although every post carries an Idempotency-Key", dups)})
	}
	return res
}
