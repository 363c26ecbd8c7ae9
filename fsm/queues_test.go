package fsm

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestQueueCreate(t *testing.T) {
	h := newHarness(t, Config{})
	r := h.ok(CmdQueueCreate, &QueueCreate{Project: prj, Queue: "q", Metadata: metaOf(t, `{"a": 1}`)})
	if !r.Created {
		t.Fatal("new queue: Created = false")
	}
	r = h.ok(CmdQueueCreate, &QueueCreate{Project: prj, Queue: "q", Metadata: metaOf(t, `{"b": 2}`)})
	if r.Created {
		t.Fatal("existing queue: Created = true")
	}
	qi, ok := h.queueInfo("q")
	if !ok || len(qi.Metadata) != 1 || string(qi.Metadata["a"]) != "1" {
		t.Fatalf("metadata must be untouched by the second create: %v %v", ok, qi.Metadata)
	}
	h.fails(CodeBadRequest, "_default_message_ttl", CmdQueueCreate,
		&QueueCreate{Project: prj, Queue: "bad", Metadata: metaOf(t, `{"_default_message_ttl": 1}`)})
	if _, ok := h.queueInfo("bad"); ok {
		t.Fatal("queue with invalid metadata was created")
	}
	h.fails(CodeBadRequest, "Queue names", CmdQueueCreate, &QueueCreate{Project: prj, Queue: "a/b"})
	// Callers may modify what they get back.
	qi.Metadata["a"] = json.RawMessage(`99`)
	if qi2, _ := h.queueInfo("q"); string(qi2.Metadata["a"]) != "1" {
		t.Fatal("Queue() returned the stored map")
	}
}

func TestQueuePatch(t *testing.T) {
	add := func(k, v string) PatchOp { return PatchOp{Op: "add", Key: k, Value: json.RawMessage(v)} }
	replace := func(k, v string) PatchOp { return PatchOp{Op: "replace", Key: k, Value: json.RawMessage(v)} }
	remove := func(k string) PatchOp { return PatchOp{Op: "remove", Key: k} }
	tests := []struct {
		name     string
		ops      []PatchOp
		wantCode Code
		wantMsg  string
		wantMeta string // stored metadata afterwards
	}{
		{"add new", []PatchOp{add("b", `"x"`)}, CodeOK, "", `{"a": 1, "b": "x"}`},
		{"add overwrites", []PatchOp{add("a", `2`)}, CodeOK, "", `{"a": 2}`},
		{"replace stored", []PatchOp{replace("a", `[3]`)}, CodeOK, "", `{"a": [3]}`},
		{"replace reserved absent", []PatchOp{replace(KeyDefaultMessageTTL, `120`)}, CodeOK, "", `{"a": 1, "_default_message_ttl": 120}`},
		{"replace missing", []PatchOp{replace("b", `1`)}, CodeConflict, "Can't replace non-existent object b.", `{"a": 1}`},
		{"replace retry policy absent", []PatchOp{replace(KeyRetryPolicy, `{}`)}, CodeConflict, "non-existent object _retry_policy", `{"a": 1}`},
		{"remove stored", []PatchOp{remove("a")}, CodeOK, "", `{}`},
		{"remove reserved absent", []PatchOp{remove(KeyMaxClaimCount), remove(KeyEnableEncryptMessage)}, CodeOK, "", `{"a": 1}`},
		{"remove missing", []PatchOp{remove("b")}, CodeConflict, "Can't remove non-existent object b.", `{"a": 1}`},
		{"sequential ops", []PatchOp{add("b", `1`), replace("b", `2`), remove("a")}, CodeOK, "", `{"b": 2}`},
		{"all or nothing on conflict", []PatchOp{add("b", `1`), remove("zz")}, CodeConflict, "zz", `{"a": 1}`},
		{"all or nothing on validation", []PatchOp{add("b", `1`), add(KeyDefaultMessageDelay, `901`)}, CodeBadRequest, "_default_message_delay", `{"a": 1}`},
		{"bad op", []PatchOp{{Op: "move", Key: "a"}}, CodeBadRequest, "move", `{"a": 1}`},
		{"missing value", []PatchOp{{Op: "add", Key: "b"}}, CodeBadRequest, "Missing value", `{"a": 1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.createQueue("q", `{"a": 1}`)
			r := h.patch("q", tt.ops...)
			if r.Code != tt.wantCode || (tt.wantMsg != "" && !strings.Contains(r.Msg, tt.wantMsg)) {
				t.Fatalf("got %d %q, want %d %q", r.Code, r.Msg, tt.wantCode, tt.wantMsg)
			}
			qi, _ := h.queueInfo("q")
			if !sameMeta(qi.Metadata, metaOf(t, tt.wantMeta)) {
				t.Fatalf("stored metadata %s, want %s", metaJSON(qi.Metadata), tt.wantMeta)
			}
			if r.Code == CodeOK && !sameMeta(r.Metadata, qi.Metadata) {
				t.Fatalf("Result.Metadata %s != stored %s", metaJSON(r.Metadata), metaJSON(qi.Metadata))
			}
		})
	}
	t.Run("missing queue", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.fails(CodeNotFound, "Queue nope does not exist.", CmdQueuePatch,
			&QueuePatch{Project: prj, Queue: "nope", Ops: []PatchOp{add("a", "1")}})
		if _, ok := h.queueInfo("nope"); ok {
			t.Fatal("PATCH created the queue")
		}
	})
}

// sameMeta compares metadata maps semantically (JSON values compared after
// decoding).
func sameMeta(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			return false
		}
		var x, y any
		if json.Unmarshal(va, &x) != nil || json.Unmarshal(vb, &y) != nil || fmt.Sprint(x) != fmt.Sprint(y) {
			return false
		}
	}
	return true
}

func metaJSON(md map[string]json.RawMessage) string {
	b, _ := json.Marshal(md)
	return string(b)
}

func TestQueueDeleteAndPurge(t *testing.T) {
	h := newHarness(t, Config{})
	h.post("q", body(`"one"`), body(`"two"`), body(`"three"`))
	h.claim("q", 1, 300)
	h.ok(CmdQueueDelete, &QueueDelete{Project: prj, Queue: "q"})
	if _, ok := h.queueInfo("q"); ok {
		t.Fatal("queue still exists")
	}
	if h.f.BodyBytes() != 0 || len(h.f.st.projects) != 0 || h.f.st.due.Len() != 0 {
		t.Fatalf("leftovers: body bytes %d, projects %d, due %d", h.f.BodyBytes(), len(h.f.st.projects), h.f.st.due.Len())
	}
	h.ok(CmdQueueDelete, &QueueDelete{Project: prj, Queue: "q"}) // missing: fine

	// Recreated lazily: empty.
	h.post("q", body(`1`), body(`2`))
	cl := h.claim("q", 1, 300)
	h.ok(CmdQueuePurge, &QueuePurge{Project: prj, Queue: "q", Messages: true, Subscriptions: true})
	if st := h.stats("q"); st.Total != 0 {
		t.Fatalf("purge left %d messages", st.Total)
	}
	if _, ok := h.claimInfo("q", cl.ClaimID); ok {
		t.Fatal("purge left the claim")
	}
	if _, ok := h.queueInfo("q"); !ok {
		t.Fatal("purge deleted the queue")
	}
	if h.f.BodyBytes() != 0 {
		t.Fatalf("body bytes %d after purge", h.f.BodyBytes())
	}
	h.ok(CmdQueuePurge, &QueuePurge{Project: prj, Queue: "missing", Messages: true})
	if _, ok := h.queueInfo("missing"); ok {
		t.Fatal("purge created a queue")
	}
	// Subscriptions only: messages stay.
	h.post("q", body(`1`))
	h.ok(CmdQueuePurge, &QueuePurge{Project: prj, Queue: "q", Subscriptions: true})
	if st := h.stats("q"); st.Total != 1 {
		t.Fatalf("subscription purge removed messages: %d", st.Total)
	}
}

func TestListQueues(t *testing.T) {
	h := newHarness(t, Config{})
	for i := 1; i <= 12; i++ {
		meta := ""
		if i%3 == 0 {
			meta = `{"n": 3, "kind": "three"}`
		}
		h.createQueue(fmt.Sprintf("q%02d", i), meta)
	}
	h.createQueue("zeta", `{"n": 3.0, "kind": 3}`)
	h.ok(CmdQueueCreate, &QueueCreate{Project: "other", Queue: "q00"})
	names := func(page []QueueInfo) []string {
		out := make([]string, len(page))
		for i, q := range page {
			out[i] = q.Name
		}
		return out
	}
	tests := []struct {
		name string
		o    QueueListOptions
		want []string
	}{
		{"default limit", QueueListOptions{}, []string{"q01", "q02", "q03", "q04", "q05", "q06", "q07", "q08", "q09", "q10"}},
		{"marker", QueueListOptions{Marker: "q10", Limit: 5}, []string{"q11", "q12", "zeta"}},
		{"marker between", QueueListOptions{Marker: "q055", Limit: 2}, []string{"q06", "q07"}},
		{"past the end", QueueListOptions{Marker: "zeta"}, nil},
		{"name substring", QueueListOptions{Name: "1", Limit: 20}, []string{"q01", "q10", "q11", "q12"}},
		{"int filter", QueueListOptions{Filters: map[string]string{"n": "3"}, Limit: 20}, []string{"q03", "q06", "q09", "q12", "zeta"}},
		{"string filter", QueueListOptions{Filters: map[string]string{"kind": "three"}, Limit: 20}, []string{"q03", "q06", "q09", "q12"}},
		{"two filters", QueueListOptions{Filters: map[string]string{"kind": "3", "n": "3"}, Limit: 20}, []string{"zeta"}},
		{"no match", QueueListOptions{Filters: map[string]string{"missing": "x"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var page []QueueInfo
			var total int
			h.f.Read(func(s *State) { page, total = s.ListQueues(prj, tt.o) })
			if got := names(page); !sameStrings(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if total != 13 {
				t.Fatalf("total %d, want 13", total)
			}
		})
	}
	var total int
	h.f.Read(func(s *State) { _, total = s.ListQueues("nobody", QueueListOptions{}) })
	if total != 0 {
		t.Fatalf("unknown project total %d", total)
	}
}
