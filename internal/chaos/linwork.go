package chaos

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/herald-mq/herald/client"
)

// Resolving unknown outcomes on the lin queue.
//
// Every write of a lin client (post one message, pop n) carries an
// Idempotency-Key the runner chooses. Herald turns it into the command
// RequestID "idem:<project>:<key>", and the FSM's dedupe window (the last
// 10,000 commands) answers a command whose RequestID it has seen with the
// first application's result, without applying it again. So when a lin
// write gets no definite answer (timeout, connection error, 5xx), the
// client retries the very same request with the same key, to the nodes in
// turn, until one answers definitely or resolveBound passes:
//
//   - if the first request was applied (before or after the retry reached
//     the leader), the retry gets its result: the same message id for a
//     post, the same popped messages for a pop;
//   - if it was not, the retry applies it, and a late copy of the first
//     request is then the duplicate that gets the retry's result.
//
// Either way the write took effect exactly once, somewhere between the
// first call and the retry's answer, with the result the retry reports.
// The op is recorded with that interval and result: a sound history for
// porcupine with a bounded interval instead of an open-ended pending op.
//
// The argument needs the key to be still in the window when the retry is
// applied. Every logical write call of the workload adds at most one entry
// to the window (its client retries reuse its key), so resolution gives up
// (the op stays unknown) if the workload made more than dedupeSafeWrites
// write calls since the first call; the other half of the window is left
// for the cluster's own commands (sweeps, push acks, assignments: a few per
// second) during at most resolveBound.
const (
	resolveBound     = 40 * time.Second
	resolveAttempt   = 8 * time.Second // one retry: more than the server's 5 s leader wait
	dedupeSafeWrites = 5000            // of the window's 10,000 entries
)

// linClient returns a client of node k that sends key as Idempotency-Key
// on every attempt (headers set with WithHeaders override the client's
// own per-call key).
func (w *worker) linClient(k int, key string, hc *http.Client, retries int) *client.Client {
	return client.New(w.nodes[k].URL(), client.WithProjectID(project), client.WithHTTPClient(hc),
		client.WithRetry(retries, 100*time.Millisecond),
		client.WithHeaders(map[string]string{client.HeaderIdempotencyKey: key}))
}

// linAttempt sends one lin write (post of op.Tokens[0], or pop op.N) to
// node k with key and returns the outcome and, when OK, the messages.
func (w *worker) linAttempt(k int, op *Op, key string, hc *http.Client, retries int) (Outcome, int, string, []MsgRef) {
	cl := w.linClient(k, key, hc, retries)
	ctx, cancel := opCtx()
	defer cancel()
	if op.Kind == OpPost {
		ids, err := cl.PostMessages(ctx, op.Queue, []client.NewMessage{{Body: map[string]string{"t": op.Tokens[0]}, TTL: msgTTL}})
		out, st, msg := classify(err)
		if err != nil {
			return out, st, msg, nil
		}
		if len(ids) != 1 {
			return OK, 0, fmt.Sprintf("posted 1 message, got %d ids", len(ids)), nil
		}
		return OK, 0, "", []MsgRef{{ID: ids[0], Token: op.Tokens[0]}}
	}
	ms, err := cl.PopMessages(ctx, op.Queue, op.N)
	out, st, msg := classify(err)
	if err != nil {
		return out, st, msg, nil
	}
	return OK, 0, "", refs(ms)
}

// linWrite performs one lin post (n == 0) or pop of n, resolving an
// unknown first outcome by retries with the same Idempotency-Key (see
// above). abort (the run's parent context, SIGINT) stops the resolution;
// the end of the workload does not. It reports whether the op is still
// unknown.
func (w *worker) linWrite(abort context.Context, queue string, n int) (unknown bool) {
	k := w.pick()
	kind := OpPost
	if n > 0 {
		kind = OpPop
	}
	op := w.base(kind, queue, k)
	op.N = n
	w.seq++
	if kind == OpPost {
		op.Tokens = []string{fmt.Sprintf("w%d-%d", w.id, w.seq)}
	}
	op.IdemKey = fmt.Sprintf("chaos-lin-%d-%d-%d", w.id, w.seq, w.rng.Int63())
	writes0 := w.h.Writes()
	w.h.CountWrite()
	op.Outcome, op.Status, op.Err, op.Msgs = w.linAttempt(k, &op, op.IdemKey, w.hc, 2)
	op.Return = w.h.Now()
	if op.Outcome == Unknown {
		w.resolve(abort, &op, k, writes0)
	}
	w.h.Add(op)
	return op.Outcome == Unknown
}

// resolve retries op with its key on the other nodes in turn until a
// definite answer, resolveBound after the first answer, or abort. On
// success op gets the retry's outcome, result and return time.
func (w *worker) resolve(abort context.Context, op *Op, k int, writes0 int64) {
	op.FirstReturn, op.FirstErr = op.Return, op.Err
	hc := &http.Client{Timeout: resolveAttempt}
	defer hc.CloseIdleConnections()
	bound := w.resolveFor
	if bound == 0 {
		bound = resolveBound
	}
	end := time.Now().Add(bound)
	wait := 200 * time.Millisecond
	for i := 1; i <= 1000 && time.Now().Before(end) && abort.Err() == nil; i++ {
		sleepCtx(abort, wait)
		wait = min(2*wait, time.Second)
		node := (k + i) % len(w.nodes)
		out, st, msg, msgs := w.linAttempt(node, op, op.IdemKey, hc, 0)
		if out == Unknown {
			continue
		}
		if w.h.Writes()-writes0 > dedupeSafeWrites {
			op.Err = fmt.Sprintf("%s; not resolved: %d write calls since the call, the dedupe window may have evicted the key",
				op.FirstErr, w.h.Writes()-writes0)
			return
		}
		op.Outcome, op.Status, op.Err, op.Msgs = out, st, msg, msgs
		op.Return, op.Retries, op.ResolvedBy = w.h.Now(), i, w.nodes[node].ID
		return
	}
}

// linOp is one operation of a lin client: post, pop or list. After a pop
// that stayed unknown the client pops no more, so that at most one
// open-ended pop per client reaches the checker.
func (w *worker) linOp(abort context.Context) {
	r := w.rng.Intn(100)
	switch {
	case r < 45 || r < 75 && w.noPops:
		w.linWrite(abort, LinQueue, 0)
	case r < 75:
		if w.linWrite(abort, LinQueue, 1+w.rng.Intn(2)) {
			w.noPops = true
			w.h.Note(fmt.Sprintf("w%d: a pop of %s stayed unknown; no more pops from this client", w.id, LinQueue))
		}
	default:
		w.list(LinQueue, true)
	}
}
