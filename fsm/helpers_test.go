package fsm

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const (
	sec = int64(time.Second)
	t0  = 1_700_000_000 * sec // FSM time at the start of every harness
	prj = "p"                 // default project of the tests
)

// encodeEntry builds the bytes of a raft entry: a Command with payload p,
// stamped with now.
func encodeEntry(tb testing.TB, typ CmdType, now int64, reqID string, p any) []byte {
	tb.Helper()
	cmd, err := NewCommand(typ, reqID, p)
	if err != nil {
		tb.Fatalf("NewCommand: %v", err)
	}
	cmd.Now = now
	b, err := cmd.Encode()
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	return b
}

// harness drives one FSM with entries at increasing indexes and a test clock.
type harness struct {
	tb    testing.TB
	f     *FSM
	index uint64
	now   int64
}

func newHarness(tb testing.TB, cfg Config) *harness {
	return &harness{tb: tb, f: New(cfg), now: t0}
}

// tick advances the leader clock by secs seconds.
func (h *harness) tick(secs int64) { h.now += secs * sec }

// apply applies one command at the next index.
func (h *harness) apply(typ CmdType, reqID string, p any) *Result {
	h.tb.Helper()
	h.index++
	return h.f.ApplyEntry(h.index, encodeEntry(h.tb, typ, h.now, reqID, p))
}

// ok applies a command that must succeed.
func (h *harness) ok(typ CmdType, p any) *Result {
	h.tb.Helper()
	r := h.apply(typ, "", p)
	if r.Code != CodeOK {
		h.tb.Fatalf("command %d: unexpected error %d %q", typ, r.Code, r.Msg)
	}
	return r
}

// fails applies a command that must fail with code and a message containing
// substr.
func (h *harness) fails(code Code, substr string, typ CmdType, p any) *Result {
	h.tb.Helper()
	r := h.apply(typ, "", p)
	if r.Code != code || !strings.Contains(r.Msg, substr) {
		h.tb.Fatalf("command %d: got code %d %q, want code %d containing %q", typ, r.Code, r.Msg, code, substr)
	}
	return r
}

func (h *harness) createQueue(q string, meta string) {
	h.tb.Helper()
	h.ok(CmdQueueCreate, &QueueCreate{Project: prj, Queue: q, Metadata: metaOf(h.tb, meta)})
}

func (h *harness) patch(q string, ops ...PatchOp) *Result {
	h.tb.Helper()
	return h.apply(CmdQueuePatch, "", &QueuePatch{Project: prj, Queue: q, Ops: ops})
}

// post posts messages as client "c1" and returns their ids.
func (h *harness) post(q string, msgs ...NewMessage) []string {
	h.tb.Helper()
	return h.postAs("c1", q, msgs...)
}

func (h *harness) postAs(client, q string, msgs ...NewMessage) []string {
	h.tb.Helper()
	return h.ok(CmdMessagesPost, &MessagesPost{Project: prj, Queue: q, ClientID: client, Messages: msgs}).IDs
}

// claim claims up to limit messages for ttl seconds with 60 s grace.
func (h *harness) claim(q string, limit int, ttl int64) *Result {
	h.tb.Helper()
	return h.ok(CmdClaimCreate, &ClaimCreate{Project: prj, Queue: q, Limit: limit, TTL: ttl, Grace: 60})
}

func (h *harness) list(q string, o ListOptions) (page []Message, marker string) {
	h.f.Read(func(s *State) { page, marker = s.ListMessages(prj, q, o, h.now) })
	return page, marker
}

// all lists every visible message of q (echo, claimed and delayed included).
func (h *harness) all(q string) []Message {
	page, _ := h.list(q, ListOptions{Limit: 1 << 20, Echo: true, IncludeClaimed: true, IncludeDelayed: true})
	return page
}

func (h *harness) get(q string, ids ...string) (out []Message) {
	h.f.Read(func(s *State) { out = s.GetMessages(prj, q, ids, h.now) })
	return out
}

func (h *harness) one(q, id string) Message {
	h.tb.Helper()
	ms := h.get(q, id)
	if len(ms) != 1 {
		h.tb.Fatalf("message %s not found in %s", id, q)
	}
	return ms[0]
}

func (h *harness) stats(q string) (st Stats) {
	h.f.Read(func(s *State) { st = s.Stats(prj, q, h.now) })
	return st
}

func (h *harness) claimInfo(q, cid string) (ci ClaimInfo, ok bool) {
	h.f.Read(func(s *State) { ci, ok = s.Claim(prj, q, cid, h.now) })
	return ci, ok
}

func (h *harness) queueInfo(q string) (qi QueueInfo, ok bool) {
	h.f.Read(func(s *State) { qi, ok = s.Queue(prj, q) })
	return qi, ok
}

// body builds a NewMessage with a JSON body.
func body(js string) NewMessage { return NewMessage{Body: json.RawMessage(js)} }

func i64(v int64) *int64 { return &v }

// metaOf parses a JSON object into raw metadata ("" = nil).
func metaOf(tb testing.TB, js string) map[string]json.RawMessage {
	tb.Helper()
	if js == "" {
		return nil
	}
	var md map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &md); err != nil {
		tb.Fatalf("bad metadata %s: %v", js, err)
	}
	return md
}

func idsOf(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// prng is a small deterministic generator (splitmix64) for seeded tests.
type prng struct{ s uint64 }

func (p *prng) next() uint64 {
	p.s += 0x9e3779b97f4a7c15
	z := p.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n).
func (p *prng) intn(n int) int { return int(p.next() % uint64(n)) }
