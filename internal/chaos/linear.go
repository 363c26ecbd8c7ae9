package chaos

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The linearizability model of one Zaqar queue used only with post (one
// message), pop and list(limit 20, include_claimed, echo). The state is
// the FIFO of message bodies, joined by spaces so that states compare
// with ==.

// linInput is an operation's input.
type linInput struct {
	Kind  string // post, pop, list
	Token string // post
	N     int    // pop limit, list limit
}

// linOutput is an operation's output; Unknown marks a possibly-applied
// operation (linearized anywhere after its call, or never).
type linOutput struct {
	Unknown bool
	Tokens  []string
}

func splitState(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func equalPrefix(state []string, got []string, n int) bool {
	want := state[:min(n, len(state))]
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] != got[i] {
			return false
		}
	}
	return true
}

// QueueModel is the porcupine model of a Zaqar queue.
var QueueModel = porcupine.Model{
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s := splitState(state.(string))
		in, out := input.(linInput), output.(linOutput)
		switch in.Kind {
		case OpPost:
			return true, strings.Join(append(s, in.Token), " ")
		case OpPop:
			k := min(in.N, len(s))
			if !out.Unknown && !equalPrefix(s, out.Tokens, in.N) {
				return false, state
			}
			return true, strings.Join(s[k:], " ")
		case OpList:
			return equalPrefix(s, out.Tokens, in.N), state
		}
		return false, state
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(linInput), output.(linOutput)
		res := "[" + strings.Join(out.Tokens, " ") + "]"
		if out.Unknown {
			res = "?"
		}
		switch in.Kind {
		case OpPost:
			return fmt.Sprintf("post(%s) -> %s", in.Token, map[bool]string{true: "?", false: "ok"}[out.Unknown])
		case OpPop:
			return fmt.Sprintf("pop(%d) -> %s", in.N, res)
		default:
			return "list -> " + res
		}
	},
	Equal: func(a, b interface{}) bool { return a.(string) == b.(string) },
	Hash: func(state interface{}) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
	DescribeState: func(state interface{}) string { return "[" + state.(string) + "]" },
}

// LinearizableResult is the outcome of check (c).
type LinearizableResult struct {
	Ops      int // operations given to porcupine
	Pending  int // of them, with an unknown outcome (open-ended)
	Resolved int // of them, first answered unknown and resolved by a retry with the same Idempotency-Key
	Result   porcupine.CheckResult
	Info     porcupine.LinearizationInfo
	Elapsed  time.Duration // porcupine's search time
}

// LinOperations turns the LinQueue operations of a history into porcupine
// operations. Definite failures and unknown reads are dropped; unknown
// writes get an infinite return time, with two sound reductions: an
// unknown post whose body was later observed took effect before that
// observation returned, so it gets that return time; an unknown post never
// observed (not even by the final drain, which is a list of the whole
// queue) cannot have taken effect unless an unknown pop took it, so
// without unknown pops it is dropped.
func LinOperations(ops []Op) (out []porcupine.Operation, pending int) {
	firstSeen := map[string]int64{} // token -> earliest return of an op observing it
	unknownPops := 0
	for _, o := range ops {
		if o.Queue != LinQueue || o.Outcome != OK || o.Kind == OpPost {
			if o.Queue == LinQueue && o.Kind == OpPop && o.Outcome == Unknown {
				unknownPops++
			}
			continue
		}
		for _, m := range o.Msgs {
			if t, ok := firstSeen[m.Token]; !ok || o.Return < t {
				firstSeen[m.Token] = o.Return
			}
		}
	}
	for _, o := range ops {
		if o.Kind == OpDrain && o.Queue == LinQueue && o.Outcome == OK {
			o.Kind, o.N = OpList, len(o.Msgs)+1000000
		}
		if o.Queue != LinQueue || o.Outcome == Fail || o.Kind == OpDrain {
			continue
		}
		in := linInput{Kind: o.Kind, N: o.N}
		var res linOutput
		ret := o.Return
		switch o.Kind {
		case OpPost:
			in.Token = o.Tokens[0]
		case OpPop, OpList:
		default:
			continue
		}
		if o.Outcome == Unknown {
			if o.Kind == OpList {
				continue
			}
			if o.Kind == OpPost {
				if t, ok := firstSeen[in.Token]; ok {
					out = append(out, porcupine.Operation{ClientId: o.Worker, Input: in, Call: o.Call, Output: res, Return: max(t, o.Call)})
					continue
				}
				if unknownPops == 0 {
					continue
				}
			}
			res.Unknown, ret = true, math.MaxInt64
			pending++
		} else if o.Kind != OpPost {
			for _, m := range o.Msgs {
				res.Tokens = append(res.Tokens, m.Token)
			}
		}
		out = append(out, porcupine.Operation{ClientId: o.Worker, Input: in, Call: o.Call, Output: res, Return: ret})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	// Compact client ids to 0..k-1 for the visualization.
	ids := map[int]int{}
	for i := range out {
		if _, ok := ids[out[i].ClientId]; !ok {
			ids[out[i].ClientId] = len(ids)
		}
		out[i].ClientId = ids[out[i].ClientId]
	}
	return out, pending
}

// CheckLinearizable runs porcupine over the LinQueue history (check c).
func CheckLinearizable(ops []Op, timeout time.Duration) LinearizableResult {
	pops, pending := LinOperations(ops)
	resolved := 0
	for _, o := range ops {
		if o.Queue == LinQueue && o.Retries > 0 && o.Outcome == OK {
			resolved++
		}
	}
	t0 := time.Now()
	r, info := porcupine.CheckOperationsVerbose(QueueModel, pops, timeout)
	return LinearizableResult{Ops: len(pops), Pending: pending, Resolved: resolved, Result: r, Info: info,
		Elapsed: time.Since(t0)}
}

// WriteVisualization writes porcupine's HTML view of a check to path.
func (l LinearizableResult) WriteVisualization(path string) error {
	return porcupine.VisualizePath(QueueModel, l.Info, path)
}
