package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// restoreInto snapshots src and restores the stream into dst.
func restoreInto(tb testing.TB, src, dst *FSM) []byte {
	tb.Helper()
	persist, err := src.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := persist(&buf); err != nil {
		tb.Fatal(err)
	}
	snap := append([]byte(nil), buf.Bytes()...)
	if err := dst.Restore(&buf); err != nil {
		tb.Fatal(err)
	}
	return snap
}

// workload generates a seeded, random but valid-looking log that exercises
// every command type, learning ids from the results it is fed back.
type workload struct {
	tb     testing.TB
	rng    prng
	now    int64
	index  uint64
	msgIDs []string // recently seen message ids (any queue)
	claims []string // recently seen claim ids
	subs   []string // recently seen subscription ids
	epoch  uint64   // last assignment epoch proposed (not stale)
	owners map[string]ownerAt
}

var (
	wlProjects = []string{"p", "tenant-2"}
	wlQueues   = []string{"q1", "q2", "q3", "dlq"}
)

func newWorkload(tb testing.TB, seed uint64) *workload {
	return &workload{tb: tb, rng: prng{s: seed}, now: t0, owners: map[string]ownerAt{}}
}

func (w *workload) pick(xs []string) string {
	if len(xs) == 0 {
		return formatID(1, 0)
	}
	return xs[w.rng.intn(len(xs))]
}

func (w *workload) remember(list *[]string, ids ...string) {
	*list = append(*list, ids...)
	if len(*list) > 200 {
		*list = (*list)[len(*list)-200:]
	}
}

// observe learns ids from a result.
func (w *workload) observe(r *Result) {
	w.remember(&w.msgIDs, r.IDs...)
	if r.ClaimID != "" {
		w.remember(&w.claims, r.ClaimID)
	}
	if r.SubscriptionID != "" {
		w.remember(&w.subs, r.SubscriptionID)
	}
	for _, m := range r.Messages {
		w.remember(&w.msgIDs, m.ID)
	}
	for i := range r.Batch {
		w.observe(&r.Batch[i])
	}
}

// command returns one random non-batch command.
func (w *workload) command() (CmdType, any) {
	pr, q := w.pick(wlProjects), w.pick(wlQueues)
	if w.rng.intn(4) == 0 {
		return w.deliveryCommand(pr, q)
	}
	if w.rng.intn(6) == 0 {
		return w.topicCommand(pr, q)
	}
	switch n := w.rng.intn(100); {
	case n < 30:
		msgs := make([]NewMessage, 1+w.rng.intn(3))
		for i := range msgs {
			msgs[i].Body = json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":%q}`, w.rng.intn(1000), bytes.Repeat([]byte("x"), w.rng.intn(40))))
			if w.rng.intn(2) == 0 {
				msgs[i].TTL = i64(int64(60 + w.rng.intn(540)))
			}
			if w.rng.intn(2) == 0 {
				msgs[i].Delay = i64(int64(w.rng.intn(120)))
			}
		}
		return CmdMessagesPost, &MessagesPost{Project: pr, Queue: q, ClientID: w.pick([]string{"c1", "c2"}), Messages: msgs}
	case n < 40:
		return CmdClaimCreate, &ClaimCreate{Project: pr, Queue: q, Limit: 1 + w.rng.intn(5), TTL: int64(60 + w.rng.intn(240)), Grace: int64(w.rng.intn(120))}
	case n < 45:
		return CmdClaimUpdate, &ClaimUpdate{Project: pr, Queue: q, ClaimID: w.pick(w.claims), TTL: int64(60 + w.rng.intn(240)), Grace: 60}
	case n < 50:
		return CmdClaimDelete, &ClaimDelete{Project: pr, Queue: q, ClaimID: w.pick(w.claims)}
	case n < 58:
		cid := ""
		if w.rng.intn(2) == 0 {
			cid = w.pick(w.claims)
		}
		return CmdMessageDel, &MessageDelete{Project: pr, Queue: q, ID: w.pick(w.msgIDs), ClaimID: cid}
	case n < 62:
		p := &MessagesDelete{Project: pr, Queue: q, IDs: []string{w.pick(w.msgIDs), w.pick(w.msgIDs), "junk"}}
		if w.rng.intn(2) == 0 {
			p.ClaimIDs = []string{w.pick(w.claims)}
		}
		return CmdMessagesDel, p
	case n < 66:
		return CmdMessagesPop, &MessagesPop{Project: pr, Queue: q, Limit: 1 + w.rng.intn(4)}
	case n < 71:
		ops := [][]PatchOp{
			{{Op: "add", Key: KeyDefaultMessageDelay, Value: json.RawMessage(`10`)}},
			{{Op: "replace", Key: KeyDefaultMessageDelay, Value: json.RawMessage(`0`)}},
			{{Op: "add", Key: KeyMaxClaimCount, Value: json.RawMessage(`2`)}, {Op: "add", Key: KeyDeadLetterQueue, Value: json.RawMessage(`"dlq"`)}},
			{{Op: "add", Key: KeyDeadLetterQueueTTL, Value: json.RawMessage(`120`)}},
			{{Op: "remove", Key: KeyMaxClaimCount}},
			{{Op: "add", Key: KeyDefaultMessageTTL, Value: json.RawMessage(`90`)}},
			{{Op: "add", Key: "user", Value: json.RawMessage(`{"z":1,"a":[true]}`)}},
			{{Op: "remove", Key: "user"}},
			{{Op: "add", Key: KeyDefaultMessageTTL, Value: json.RawMessage(`5`)}}, // invalid
		}
		return CmdQueuePatch, &QueuePatch{Project: pr, Queue: q, Ops: ops[w.rng.intn(len(ops))]}
	case n < 74:
		metas := []string{"", `{"a":1}`, `{"_default_message_delay": 20, "b": "x"}`, `{"_max_claim_count": 1, "_dead_letter_queue": "dlq"}`}
		return CmdQueueCreate, &QueueCreate{Project: pr, Queue: q, Metadata: metaOf(w.tb, metas[w.rng.intn(len(metas))])}
	case n < 76:
		return CmdQueueDelete, &QueueDelete{Project: pr, Queue: q}
	case n < 78:
		return CmdQueuePurge, &QueuePurge{Project: pr, Queue: q, Messages: w.rng.intn(3) > 0, Subscriptions: true}
	case n < 85:
		return CmdSweep, &Sweep{Limit: w.rng.intn(4)}
	case n < 90:
		return CmdNoop, nil
	case n < 93:
		return CmdType(500 + w.rng.intn(3)), nil
	default:
		return CmdType(500+w.rng.intn(3)) | CmdOptionalBit, nil
	}
}

// next returns the next entry's index and bytes.
func (w *workload) next() (uint64, []byte) {
	w.index++
	w.now += int64(w.rng.intn(40)) * sec
	if w.rng.intn(30) == 0 {
		w.now -= 100 * sec // a leader with a slower clock
	}
	reqID := func() string {
		if w.rng.intn(3) == 0 {
			return fmt.Sprintf("req-%d", w.rng.intn(80))
		}
		return ""
	}
	if w.rng.intn(10) == 0 {
		cmds := make([]Command, 2+w.rng.intn(4))
		for i := range cmds {
			typ, p := w.command()
			cmds[i] = mustCmd(w.tb, typ, reqID(), p)
		}
		return w.index, encodeEntry(w.tb, CmdBatch, w.now, reqID(), &Batch{Commands: cmds})
	}
	typ, p := w.command()
	return w.index, encodeEntry(w.tb, typ, w.now, reqID(), p)
}

func encodeResult(tb testing.TB, r *Result) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(r); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// checkInvariants verifies the derived indexes and counters against the
// messages and claims they summarize.
func checkInvariants(tb testing.TB, f *FSM) {
	tb.Helper()
	s := f.st
	var body int64
	dueQueues := 0
	for pid, p := range s.projects {
		if len(p.queues) == 0 || p.order.Len() != len(p.queues) {
			tb.Fatalf("project %s: %d queues, %d ordered", pid, len(p.queues), p.order.Len())
		}
		for _, q := range p.queues {
			checkTree(tb, q.msgs)
			var qbytes int64
			q.msgs.ascend(mid{}, func(m *msg) bool {
				qbytes += int64(len(m.body))
				if m.claimed { // a claim id always names a stored claim with the same expiry
					if c := q.claims[m.claimID().String()]; c == nil || c.Expires != m.claimExp {
						tb.Fatalf("%s: message %v holds claim %v which is not stored (or expires otherwise)", q.name, m.id(), m.claimID())
					}
				}
				return true
			})
			if qbytes != q.bytes {
				tb.Fatalf("%s: body bytes %d, counted %d", q.name, qbytes, q.bytes)
			}
			body += qbytes
			if q.cexp.Len() != len(q.claims) {
				tb.Fatalf("%s: claim expiry index holds %d of %d claims", q.name, q.cexp.Len(), len(q.claims))
			}
			for _, c := range q.claims {
				if !q.cexp.Has(expKey{c.Expires, c.ID}) {
					tb.Fatalf("%s: claim expiry index misses %s", q.name, c.ID)
				}
				cid, _ := parseID(c.ID)
				for _, id := range c.MsgIDs {
					if m := q.getMsg(id); m == nil || (!m.heldBy(cid) && c.Expires > s.lastNow) {
						tb.Fatalf("%s: active claim %s lists %s which it does not hold", q.name, c.ID, id)
					}
				}
			}
			at, on := q.nextDue()
			if on != q.dueOn || (on && at != q.dueAt) {
				tb.Fatalf("%s: due registration stale", q.name)
			}
			if on {
				dueQueues++
				if d, ok := s.due.Get(dueKey{at: at, project: q.project, name: q.name}); !ok || d.q != q {
					tb.Fatalf("%s: not in the due index", q.name)
				}
			}
			if q.cfg != cfgFromMeta(q.meta) {
				tb.Fatalf("%s: stale cfg", q.name)
			}
		}
	}
	if body != s.bodyBytes {
		tb.Fatalf("body bytes %d, stored bodies sum to %d", s.bodyBytes, body)
	}
	if dueQueues != s.due.Len() {
		tb.Fatalf("due index holds %d queues, %d are due", s.due.Len(), dueQueues)
	}
	checkDeliveryInvariants(tb, s)
}

// TestDeterminism applies the same seeded log to two FSMs, restores a third
// from a snapshot half way, and keeps all three in lockstep to the end.
func TestDeterminism(t *testing.T) {
	steps := 4000
	if testing.Short() {
		steps = 1000
	}
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			cfg := Config{MaxBodyBytes: 2500, DedupeWindow: 50}
			a, b := New(cfg), New(cfg)
			var c *FSM
			w := newWorkload(t, seed)
			codes := map[Code]int{}
			for i := 0; i < steps; i++ {
				idx, data := w.next()
				ra := a.ApplyEntry(idx, data)
				rb := b.ApplyEntry(idx, data)
				ea := encodeResult(t, ra)
				if !bytes.Equal(ea, encodeResult(t, rb)) {
					t.Fatalf("step %d: results differ: %+v vs %+v", i, ra, rb)
				}
				if c != nil {
					if rc := c.ApplyEntry(idx, data); !bytes.Equal(ea, encodeResult(t, rc)) {
						t.Fatalf("step %d: restored FSM result differs: %+v vs %+v", i, ra, rc)
					}
				}
				codes[ra.Code]++
				w.observe(ra)
				if i%250 == 0 {
					checkInvariants(t, a)
					if a.Digest() != b.Digest() {
						t.Fatalf("step %d: digests differ", i)
					}
				}
				if i == steps/2 {
					c = New(cfg)
					snapA := restoreInto(t, a, c)
					if c.Digest() != a.Digest() || c.AppliedIndex() != a.AppliedIndex() || c.LastNow() != a.LastNow() {
						t.Fatal("restore did not reproduce the digest")
					}
					checkInvariants(t, c)
					snapB := restoreInto(t, b, New(cfg))
					if !bytes.Equal(snapA, snapB) {
						t.Fatal("equal states produced different snapshot bytes")
					}
				}
			}
			checkInvariants(t, a)
			checkInvariants(t, c)
			if da := a.Digest(); da != b.Digest() || da != c.Digest() {
				t.Fatal("final digests differ")
			}
			var total int
			a.Read(func(s *State) {
				for _, p := range wlProjects {
					for _, q := range wlQueues {
						total += s.Stats(p, q, a.LastNow()).Total
					}
				}
			})
			t.Logf("codes %v, %d live messages, %d body bytes, digest %s", codes, total, a.BodyBytes(), a.Digest()[:12])
			if codes[CodeOK] == 0 || codes[CodeNoSpace] == 0 || codes[CodeForbidden] == 0 || codes[CodeNotFound] == 0 || codes[CodeConflict] == 0 {
				t.Fatalf("workload too narrow: %v", codes)
			}
			var subs, entries int
			a.Read(func(s *State) { subs = len(s.AllSubscriptions(a.LastNow())) })
			for _, src := range a.st.sources {
				entries += src.outbox.Len()
			}
			t.Logf("%d live subscriptions, %d outbox entries, epoch %d", subs, entries, a.st.assignEpoch)
		})
	}
}

// streamSnapshot runs a snapshot's persist function; the test starts it on
// its own goroutine to overlap it with ApplyEntry as raft does.
func streamSnapshot(persist func(io.Writer) error, w io.Writer, done chan<- error) {
	done <- persist(w)
}

func TestSnapshotWhileApplying(t *testing.T) {
	cfg := Config{DedupeWindow: 100}
	a := New(cfg)
	w := newWorkload(t, 42)
	for i := 0; i < 1500; i++ {
		idx, data := w.next()
		w.observe(a.ApplyEntry(idx, data))
	}
	want := a.Digest()
	persist, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := make(chan error, 1)
	go streamSnapshot(persist, &buf, done)
	for i := 0; i < 1500; i++ {
		idx, data := w.next()
		w.observe(a.ApplyEntry(idx, data))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.Digest() == want {
		t.Fatal("the workload did not change the state")
	}
	c := New(cfg)
	if err := c.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if c.Digest() != want {
		t.Fatal("snapshot taken before later applies does not reproduce the digest of its time")
	}
	checkInvariants(t, c)
}

func TestRestoreRejectsBadStreams(t *testing.T) {
	h := newHarness(t, Config{})
	h.post("q", body(`1`), body(`2`))
	h.claim("q", 1, 60)
	h.apply(CmdNoop, "rid", nil)
	persist, _ := h.f.Snapshot()
	var buf bytes.Buffer
	if err := persist(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	badHeader, _ := msgpack.Marshal(snapHeader{Magic: "other", Version: 1})
	futureVersion, _ := msgpack.Marshal(snapHeader{Magic: snapMagic, Version: 99})
	target := New(Config{})
	target.ApplyEntry(1, encodeEntry(t, CmdNoop, t0, "", nil))
	before := target.Digest()
	for name, stream := range map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("not a snapshot"),
		"wrong magic":    badHeader,
		"future version": futureVersion,
		"truncated":      good[:len(good)-3],
		"no trailer":     good[:len(good)/2],
	} {
		if err := target.Restore(bytes.NewReader(stream)); err == nil {
			t.Errorf("%s: restore accepted", name)
		}
		if target.Digest() != before {
			t.Fatalf("%s: a failed restore changed the state", name)
		}
	}
	if err := target.Restore(bytes.NewReader(good)); err != nil || target.Digest() != h.f.Digest() {
		t.Fatalf("good stream: %v", err)
	}
}

func TestSnapshotOfEmptyState(t *testing.T) {
	a, b := New(Config{}), New(Config{})
	b.ApplyEntry(1, encodeEntry(t, CmdMessagesPost, t0, "", &MessagesPost{Project: prj, Queue: "q", Messages: []NewMessage{body(`1`)}}))
	restoreInto(t, a, b)
	if a.Digest() != b.Digest() || b.BodyBytes() != 0 || b.AppliedIndex() != 0 {
		t.Fatal("restoring an empty snapshot must yield an empty state")
	}
}
