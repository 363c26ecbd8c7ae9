package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"time"

	"github.com/herald-mq/herald/client"
)

// Queue names used by the workload.
const (
	LinQueue  = "lin"  // the small queue checked for linearizability
	PushQueue = "push" // the queue with a webhook subscription
	project   = "chaos"
	msgTTL    = 86400
)

var mainQueues = []string{"q0", "q1"}

// worker is one client goroutine's state; owned by Run's worker group.
type worker struct {
	id       int
	rng      *rand.Rand
	h        *History
	nodes    []*Node
	clients  []*client.Client
	lin      bool
	push     bool
	claimTTL int
	seq      int
	hc       *http.Client // lin writes: first attempts
	noPops   bool         // lin: a pop stayed unknown, pop no more

	resolveFor time.Duration // bound of a lin write's resolution; 0 = resolveBound
}

func newClients(nodes []*Node, timeout time.Duration) []*client.Client {
	out := make([]*client.Client, len(nodes))
	for i, n := range nodes {
		out[i] = client.New(n.URL(), client.WithProjectID(project),
			client.WithHTTPClient(&http.Client{Timeout: timeout}),
			client.WithRetry(2, 100*time.Millisecond))
	}
	return out
}

// classify maps a client error to an outcome: 4xx answers are definite
// refusals, everything else (network, timeout, 5xx, 503) is unknown.
func classify(err error) (Outcome, int, string) {
	if err == nil {
		return OK, 0, ""
	}
	var ae *client.Error
	if errors.As(err, &ae) {
		if ae.Status >= 400 && ae.Status < 500 && ae.Status != 408 && ae.Status != 429 {
			return Fail, ae.Status, err.Error()
		}
		return Unknown, ae.Status, err.Error()
	}
	return Unknown, 0, err.Error()
}

func tokenOf(m client.Message) string {
	var b struct {
		T string `json:"t"`
	}
	if json.Unmarshal(m.Body, &b) == nil {
		return b.T
	}
	return ""
}

func refs(ms []client.Message) []MsgRef {
	out := make([]MsgRef, len(ms))
	for i, m := range ms {
		out[i] = MsgRef{ID: m.ID, Token: tokenOf(m), ClaimID: m.ClaimID}
	}
	return out
}

// run loops until ctx ends (bounded by the run's duration); abort (the
// run's parent context) also stops a lin write's resolution, which may
// outlast ctx by at most resolveBound.
func (w *worker) run(ctx, abort context.Context) {
	for ctx.Err() == nil {
		if w.lin {
			w.linOp(abort)
			sleepCtx(ctx, time.Duration(40+w.rng.Intn(120))*time.Millisecond)
			continue
		}
		w.mainOp(ctx)
		sleepCtx(ctx, time.Duration(w.rng.Intn(30))*time.Millisecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// opCtx bounds one operation; it is not derived from the run context so
// that an operation in flight at the end still completes and is recorded.
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

func (w *worker) pick() int { return w.rng.Intn(len(w.nodes)) }

func (w *worker) base(kind, queue string, k int) Op {
	return Op{Worker: w.id, Node: w.nodes[k].ID, Kind: kind, Queue: queue, Call: w.h.Now()}
}

func (w *worker) post(queue string, count int) {
	k := w.pick()
	op := w.base(OpPost, queue, k)
	msgs := make([]client.NewMessage, count)
	for i := range msgs {
		w.seq++
		tok := fmt.Sprintf("w%d-%d", w.id, w.seq)
		op.Tokens = append(op.Tokens, tok)
		msgs[i] = client.NewMessage{Body: map[string]string{"t": tok}, TTL: msgTTL}
	}
	ctx, cancel := opCtx()
	w.h.CountWrite()
	ids, err := w.clients[k].PostMessages(ctx, queue, msgs)
	cancel()
	op.Return = w.h.Now()
	op.Outcome, op.Status, op.Err = classify(err)
	if err == nil {
		if len(ids) != len(op.Tokens) {
			op.Err = fmt.Sprintf("posted %d messages, got %d ids", len(op.Tokens), len(ids))
		}
		for i, id := range ids {
			r := MsgRef{ID: id}
			if i < len(op.Tokens) {
				r.Token = op.Tokens[i]
			}
			op.Msgs = append(op.Msgs, r)
		}
	}
	w.h.Add(op)
}

func (w *worker) pop(queue string, n int) {
	k := w.pick()
	op := w.base(OpPop, queue, k)
	op.N = n
	ctx, cancel := opCtx()
	w.h.CountWrite()
	ms, err := w.clients[k].PopMessages(ctx, queue, n)
	cancel()
	op.Return = w.h.Now()
	op.Outcome, op.Status, op.Err = classify(err)
	if err == nil {
		op.Msgs = refs(ms)
	}
	w.h.Add(op)
}

func (w *worker) list(queue string, claimed bool) {
	k := w.pick()
	op := w.base(OpList, queue, k)
	op.N = 20
	ctx, cancel := opCtx()
	p, err := w.clients[k].ListMessages(ctx, queue, client.ListMessagesOptions{
		Limit: 20, Echo: true, IncludeClaimed: claimed})
	cancel()
	op.Return = w.h.Now()
	op.Outcome, op.Status, op.Err = classify(err)
	if err == nil {
		op.Msgs = refs(p.Messages)
	}
	w.h.Add(op)
}

func (w *worker) claimAndDelete(queue string) {
	k := w.pick()
	op := w.base(OpClaim, queue, k)
	op.N, op.TTL = 1+w.rng.Intn(5), w.claimTTL
	ctx, cancel := opCtx()
	w.h.CountWrite()
	cl, err := w.clients[k].ClaimMessages(ctx, queue, w.claimTTL, 60, op.N)
	cancel()
	op.Return = w.h.Now()
	op.Outcome, op.Status, op.Err = classify(err)
	if err == nil {
		op.ClaimID = cl.ID
		op.Msgs = refs(cl.Messages)
	}
	w.h.Add(op)
	if err != nil {
		return
	}
	for _, m := range cl.Messages {
		if w.rng.Intn(10) == 0 {
			continue // leave some claimed: they must stay exclusive
		}
		d := w.pick()
		dop := w.base(OpDelete, queue, d)
		dop.Target, dop.ClaimID = m.ID, cl.ID
		ctx, cancel := opCtx()
		w.h.CountWrite()
		err := w.clients[d].DeleteMessage(ctx, queue, m.ID, cl.ID)
		cancel()
		dop.Return = w.h.Now()
		dop.Outcome, dop.Status, dop.Err = classify(err)
		w.h.Add(dop)
	}
}

func (w *worker) mainOp(ctx context.Context) {
	q := mainQueues[w.rng.Intn(len(mainQueues))]
	r := w.rng.Intn(100)
	switch {
	case w.push && r < 10:
		w.post(PushQueue, 1+w.rng.Intn(2))
	case r < 45:
		w.post(q, 1+w.rng.Intn(3))
	case r < 55:
		w.list(q, w.rng.Intn(2) == 0)
	case r < 80:
		w.claimAndDelete(q)
	default:
		w.pop(q, 1+w.rng.Intn(3))
	}
}
