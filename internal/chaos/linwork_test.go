package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// fakeLin is a Zaqar stand-in for the lin queue with Herald's dedupe by
// Idempotency-Key. The first drop requests of each key are applied but
// their answer is lost (the connection is closed), like a request whose
// node dies after committing it.
type fakeLin struct {
	drop     int  // lose the answers of the first drop requests of each key
	dropPops bool // lose every pop's answer

	mu    sync.Mutex // guards the fields below
	queue []string   // message ids, FIFO
	body  map[string]string
	seen  map[string]int    // key -> requests
	memo  map[string][]byte // key -> first answer
	next  int
	hits  int // requests answered from memo
	apply int // writes applied
}

func newFakeLin(drop int) *fakeLin {
	return &fakeLin{drop: drop, body: map[string]string{}, seen: map[string]int{}, memo: map[string][]byte{}}
}

func (f *fakeLin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		f.mu.Lock()
		b, _ := json.Marshal(map[string]any{"messages": f.msgsLocked(f.queue), "links": []any{}})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	f.seen[key]++
	ans, ok := f.memo[key]
	if ok {
		f.hits++
	} else {
		ans = f.applyLocked(r)
		f.memo[key] = ans
		f.apply++
	}
	lose := f.seen[key] <= f.drop || f.dropPops && r.Method == http.MethodDelete
	f.mu.Unlock()
	if lose {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusCreated)
	}
	_, _ = w.Write(ans)
}

func (f *fakeLin) applyLocked(r *http.Request) []byte {
	if r.Method == http.MethodPost {
		var doc struct {
			Messages []struct {
				Body json.RawMessage `json:"body"`
			} `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&doc)
		f.next++
		id := fmt.Sprintf("m%d", f.next)
		f.queue = append(f.queue, id)
		f.body[id] = string(doc.Messages[0].Body)
		b, _ := json.Marshal(map[string][]string{"resources": {"/v2/queues/lin/messages/" + id}})
		return b
	}
	n := 0
	fmt.Sscan(r.URL.Query().Get("pop"), &n)
	n = min(n, len(f.queue))
	out := f.msgsLocked(f.queue[:n])
	f.queue = f.queue[n:]
	b, _ := json.Marshal(map[string][]fakeMsg{"messages": out})
	return b
}

type fakeMsg struct {
	ID   string          `json:"id"`
	Body json.RawMessage `json:"body"`
}

func (f *fakeLin) msgsLocked(ids []string) []fakeMsg {
	out := []fakeMsg{}
	for _, id := range ids {
		out = append(out, fakeMsg{id, json.RawMessage(f.body[id])})
	}
	return out
}

func testWorker(t *testing.T, f *fakeLin) *worker {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	nodes := []*Node{{ID: "node1", HTTP: addr}, {ID: "node2", HTTP: addr}}
	return &worker{id: 0, rng: rand.New(rand.NewSource(1)), h: NewHistory(), nodes: nodes,
		clients: newClients(nodes, 5*time.Second), lin: true, hc: &http.Client{Timeout: 5 * time.Second}}
}

// A lin post and a pop whose first answers are lost are resolved by a
// retry with the same key: recorded OK with the first application's
// result, applied once, and the history is linearizable.
func TestLinWriteResolvesLostAnswers(t *testing.T) {
	f := newFakeLin(3) // the first attempt and both client retries lose their answer
	w := testWorker(t, f)
	ctx := context.Background()
	if w.linWrite(ctx, LinQueue, 0) || w.linWrite(ctx, LinQueue, 0) {
		t.Fatal("post stayed unknown")
	}
	if w.linWrite(ctx, LinQueue, 1) {
		t.Fatal("pop stayed unknown")
	}
	ops := w.h.Snapshot()
	for _, o := range ops {
		if o.Outcome != OK || o.Retries != 1 || o.FirstErr == "" || o.FirstReturn > o.Return || o.IdemKey == "" {
			t.Fatalf("op not resolved as expected: %+v", o)
		}
	}
	if got := ops[2].Msgs; len(got) != 1 || got[0].ID != "m1" || got[0].Token != ops[0].Tokens[0] {
		t.Fatalf("resolved pop returned %+v, want m1 with token %s", got, ops[0].Tokens[0])
	}
	if f.apply != 3 || f.hits != 9 {
		t.Fatalf("applied %d writes with %d dedupe hits, want 3 and 9", f.apply, f.hits)
	}
	ops = append(ops, Op{Seq: 3, Worker: -1, Kind: OpDrain, Queue: LinQueue, Call: w.h.Now(), Return: w.h.Now(), Outcome: OK,
		Msgs: []MsgRef{{ID: "m2", Token: ops[1].Tokens[0]}}})
	r := CheckLinearizable(ops, 10*time.Second)
	if r.Result != porcupine.Ok || r.Pending != 0 || r.Resolved != 3 {
		t.Fatalf("check: %s, %d pending, %d resolved; want ok, 0, 3", r.Result, r.Pending, r.Resolved)
	}
}

// A pop that no retry resolves stays unknown, and its client pops no more.
func TestLinWriteUnresolvedPopStopsPops(t *testing.T) {
	f := &fakeLin{dropPops: true, body: map[string]string{}, seen: map[string]int{}, memo: map[string][]byte{}}
	w := testWorker(t, f)
	w.resolveFor = time.Millisecond // one retry at most
	ctx := context.Background()
	for i := 0; i < 200 && !w.noPops; i++ {
		w.linOp(ctx)
	}
	if !w.noPops {
		t.Fatal("no pop in 200 lin ops, or an unresolved pop did not stop pops")
	}
	ops := w.h.Snapshot()
	last := ops[len(ops)-1]
	if last.Kind != OpPop || last.Outcome != Unknown || last.IdemKey == "" {
		t.Fatalf("last op %+v, want an unknown pop", last)
	}
	for i := 0; i < 100; i++ {
		w.linOp(ctx)
	}
	for _, o := range w.h.Snapshot()[len(ops):] {
		if o.Kind == OpPop {
			t.Fatalf("client popped after an unresolved pop: %+v", o)
		}
	}
}
