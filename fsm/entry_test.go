package fsm

import (
	"bytes"
	"fmt"
	"testing"
)

// TestApplyEntryKeepsNoReferenceToData applies a seeded workload (every
// command type, batches, RequestIDs) to two FSMs: one gets each entry and
// then has it overwritten, the other a private copy. Anything the state or a
// result kept of the entry bytes (payloads and strings are decoded in place)
// would make them differ.
func TestApplyEntryKeepsNoReferenceToData(t *testing.T) {
	steps := 3000
	if testing.Short() {
		steps = 800
	}
	for _, seed := range []uint64{4, 5} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			cfg := Config{MaxBodyBytes: 4000, DedupeWindow: 60}
			a, b := New(cfg), New(cfg)
			w := newWorkload(t, seed)
			var kept []*Result // a's results, compared again at the end
			var want [][]byte
			for i := 0; i < steps; i++ {
				idx, data := w.next()
				rb := b.ApplyEntry(idx, append([]byte(nil), data...))
				ra := a.ApplyEntry(idx, data)
				for j := range data {
					data[j] = 0xa5
				}
				ea := encodeResult(t, ra)
				if !bytes.Equal(ea, encodeResult(t, rb)) {
					t.Fatalf("step %d: results differ: %+v vs %+v", i, ra, rb)
				}
				if i%7 == 0 {
					kept, want = append(kept, ra), append(want, ea)
				}
				w.observe(ra)
				if i%500 == 499 && a.Digest() != b.Digest() {
					t.Fatalf("step %d: digests differ", i)
				}
			}
			for i, r := range kept {
				if !bytes.Equal(encodeResult(t, r), want[i]) {
					t.Fatalf("kept result %d changed: %+v", i, r)
				}
			}
			snapA, snapB := restoreInto(t, a, New(cfg)), restoreInto(t, b, New(cfg))
			if a.Digest() != b.Digest() || !bytes.Equal(snapA, snapB) {
				t.Fatal("states differ")
			}
		})
	}
}

// TestDedupeKeepsPostIDsAsRun checks what the window stores for the
// results of a batch: a post's ids as a run (from the post's hint), a
// delete nothing at all, a claim its result; and that every one of them,
// including the batch's own, replays identically.
func TestDedupeKeepsPostIDsAsRun(t *testing.T) {
	h := newHarness(t, Config{})
	h.post("q", body(`0`), body(`1`))
	batch := &Batch{Commands: []Command{
		mustCmd(t, CmdMessagesPost, "r-post1", &MessagesPost{Project: prj, Queue: "q", Messages: []NewMessage{body(`2`)}}),
		mustCmd(t, CmdClaimCreate, "r-claim", &ClaimCreate{Project: prj, Queue: "q", Limit: 2, TTL: 60, Grace: 60}),
		mustCmd(t, CmdMessageDel, "r-del", &MessageDelete{Project: prj, Queue: "q", ID: formatID(1, 0), ClaimID: formatID(2, 1)}),
		mustCmd(t, CmdMessagesPost, "r-post3", &MessagesPost{Project: prj, Queue: "q", Messages: []NewMessage{body(`3`), body(`4`), body(`5`)}}),
	}}
	first := h.apply(CmdBatch, "r-batch", batch)
	if first.Batch[1].ClaimID != formatID(2, 1) || first.Batch[2].Code != CodeOK {
		t.Fatalf("batch: %+v", first)
	}
	d := h.f.st.dedupe
	entry := func(id string) dedupeEntry { return d.ring[d.byID[id]] }
	if e := entry("r-post1"); e.res != nil || e.ids != (idRun{mid{2, 0}, 1}) {
		t.Fatalf("post: %+v", e)
	}
	if e := entry("r-post3"); e.res != nil || e.ids != (idRun{mid{2, 2}, 3}) {
		t.Fatalf("post of three: %+v", e)
	}
	if e := entry("r-del"); e.res != nil || e.ids.n != 0 {
		t.Fatalf("delete: %+v", e)
	}
	if e := entry("r-claim"); e.res == nil || len(e.res.Messages) != 2 {
		t.Fatalf("claim: %+v", e)
	}
	if e := entry("r-batch"); e.res == nil || e.ids.n != 0 || len(e.res.Batch) != 4 {
		t.Fatalf("batch: %+v", e)
	}
	want := encodeResult(t, first)
	first.Batch[1].Messages[0].ID = "changed" // the caller's copy
	if again := h.apply(CmdBatch, "r-batch", batch); !bytes.Equal(encodeResult(t, again), want) {
		t.Fatalf("batch replay: %+v", again)
	}
	h.tick(1)
	inner := &Batch{Commands: []Command{batch.Commands[3], batch.Commands[2], batch.Commands[1], batch.Commands[0]}}
	again := h.apply(CmdBatch, "", inner)
	for i, j := range []int{3, 2, 1, 0} {
		w := encodeResult(t, &Result{Batch: []Result{first.Batch[j]}})
		w2 := encodeResult(t, &Result{Batch: []Result{again.Batch[i]}})
		if j != 1 && !bytes.Equal(w, w2) {
			t.Fatalf("replay of command %d: %+v", j, again.Batch[i])
		}
	}
	if len(again.Batch[2].Messages) != 2 || again.Batch[2].Messages[0].ID != formatID(1, 0) {
		t.Fatalf("claim replay: %+v", again.Batch[2])
	}
	// A batch whose inner command has the batch's own RequestID: the inner
	// result is remembered, the batch's is not stored twice.
	n := d.n
	h.apply(CmdBatch, "same", &Batch{Commands: []Command{mustCmd(t, CmdNoop, "same", nil)}})
	if d.n != n+1 || len(d.byID) != d.n {
		t.Fatalf("window holds %d entries, %d ids (before: %d)", d.n, len(d.byID), n)
	}
}

// TestClaimWithoutKeepsCapturedClaims deletes claimed messages first, last
// and in the middle (claim.without shares the id array in the first two
// cases) after a snapshot capture, which must still see the whole claim.
func TestClaimWithoutKeepsCapturedClaims(t *testing.T) {
	h := newHarness(t, Config{})
	h.post("q", body(`1`), body(`2`), body(`3`), body(`4`), body(`5`))
	r := h.claim("q", 5, 60)
	ids := idsOf(r.Messages)
	persist, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 4, 2, 1} {
		h.ok(CmdMessageDel, &MessageDelete{Project: prj, Queue: "q", ID: ids[i], ClaimID: r.ClaimID})
	}
	ci, ok := h.claimInfo("q", r.ClaimID)
	if !ok || len(ci.Messages) != 1 || ci.Messages[0].ID != ids[3] {
		t.Fatalf("claim after deletes: %+v", ci)
	}
	var buf bytes.Buffer
	if err := persist(&buf); err != nil {
		t.Fatal(err)
	}
	g := New(Config{})
	if err := g.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	var got ClaimInfo
	g.Read(func(s *State) { got, _ = s.Claim(prj, "q", r.ClaimID, h.now) })
	if !sameStrings(idsOf(got.Messages), ids) {
		t.Fatalf("captured claim lists %v, want %v", idsOf(got.Messages), ids)
	}
	// The claim result's views are the read views of the same messages.
	h2 := newHarness(t, Config{})
	h2.post("q", body(`1`), body(`2`))
	r2 := h2.claim("q", 2, 60)
	got2 := h2.get("q", idsOf(r2.Messages)...)
	if !bytes.Equal(encodeResult(t, &Result{Messages: got2}), encodeResult(t, &Result{Messages: r2.Messages})) {
		t.Fatalf("claim views %+v, read views %+v", r2.Messages, got2)
	}
}
