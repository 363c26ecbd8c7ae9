package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// Benchmarks of the hot path as a cluster runs it: ApplyEntry of a CmdBatch
// entry as group commit builds it, every inner command carrying its own
// RequestID ("req-" + 36 characters, like httpapi's "req-<uuid4>"), so the
// dedupe window is exercised as in production. Each reports, besides the
// per-entry figures, ns/cmd, B/cmd and allocs/cmd (per inner command).
//
// Entries are encoded once; between iterations the benchmarks rewrite the
// RequestIDs (and ids) in place. That is sound only because ApplyEntry keeps
// no reference to the entry bytes once it returns
// (TestApplyEntryKeepsNoReferenceToData); raft never rewrites them anyway.

// body256 is a 256-byte JSON message body.
var body256 = func() json.RawMessage {
	b := []byte(`{"event":"order.created","order_id":123456789,"customer":"c-42","note":"`)
	b = append(b, strings.Repeat("x", 256-len(b)-2)...)
	b = append(b, `"}`...)
	if len(b) != 256 || !json.Valid(b) {
		panic("body256")
	}
	return b
}()

// slot is a fixed-width string inside an encoded entry that the benchmark
// rewrites between iterations.
type slot struct{ off, n int }

// template is an encoded entry plus the slots to rewrite.
type template struct {
	data  []byte
	slots []slot
}

// placeholder returns a unique string of width n for slot k of kind c.
func placeholder(c byte, k, n int) string {
	s := fmt.Sprintf("%c%0*d", c, n-1, k)
	if len(s) != n {
		panic("placeholder too narrow")
	}
	return s
}

// locate records the position of each placeholder in t.data.
func (t *template) locate(tb testing.TB, phs []string) {
	tb.Helper()
	for _, ph := range phs {
		i := bytes.Index(t.data, []byte(ph))
		if i < 0 || bytes.Index(t.data[i+1:], []byte(ph)) >= 0 {
			tb.Fatalf("placeholder %q not found exactly once", ph)
		}
		t.slots = append(t.slots, slot{i, len(ph)})
	}
}

// setReqIDs writes distinct request ids (numbered from base) into slots
// [from, from+n).
func (t *template) setReqIDs(from, n, base int) {
	for i := 0; i < n; i++ {
		s := t.slots[from+i]
		b := t.data[s.off : s.off+s.n]
		v := base + i
		for j := len(b) - 1; j >= 4; j-- { // keep the "req-" prefix
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
}

func reqPlaceholder(k int) string { return "req-" + placeholder('0', k, 36) }

// postEntry builds a Batch entry of posts commands of msgs messages each.
func postEntry(tb testing.TB, posts, msgs int) *template {
	tb.Helper()
	cmds := make([]Command, posts)
	var phs []string
	for i := range cmds {
		p := &MessagesPost{Project: prj, Queue: "q", ClientID: "0123456789abcdef0123456789abcdef", Messages: make([]NewMessage, msgs)}
		for j := range p.Messages {
			p.Messages[j] = NewMessage{Body: body256}
		}
		phs = append(phs, reqPlaceholder(i))
		cmds[i] = mustCmd(tb, CmdMessagesPost, phs[i], p)
	}
	t := &template{data: encodeEntry(tb, CmdBatch, t0, "", &Batch{Commands: cmds})}
	t.locate(tb, phs)
	return t
}

// perCmd measures the heap allocations and the process CPU time (user +
// system, GC workers included) of the timed loop and reports them and the
// time per inner command. cpu-ns/cmd is steadier than ns/cmd on a shared
// machine, where waiting for a core inflates wall time. Work between pause
// and resume (like the timer's) is not counted.
type perCmd struct {
	b      *testing.B
	cmds   int
	cpu    int64 // CPU time counted so far
	allocs uint64
	bytes  uint64
	ms     runtime.MemStats // at the last start or resume
	cpu0   int64
}

func startPerCmd(b *testing.B, cmdsPerOp int) *perCmd {
	p := &perCmd{b: b, cmds: cmdsPerOp}
	b.ReportAllocs()
	b.ResetTimer()
	p.resume()
	return p
}

// resume starts counting (and the benchmark timer).
func (p *perCmd) resume() {
	p.b.StartTimer()
	runtime.ReadMemStats(&p.ms)
	p.cpu0 = int64(cpuTime())
}

// pause stops counting (and the benchmark timer).
func (p *perCmd) pause() {
	cpu := int64(cpuTime())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.b.StopTimer()
	p.cpu += cpu - p.cpu0
	p.allocs += ms.Mallocs - p.ms.Mallocs
	p.bytes += ms.TotalAlloc - p.ms.TotalAlloc
}

func (p *perCmd) stop() {
	p.pause()
	n := float64(p.b.N * p.cmds)
	p.b.ReportMetric(float64(p.b.Elapsed().Nanoseconds())/n, "ns/cmd")
	p.b.ReportMetric(float64(p.cpu)/n, "cpu-ns/cmd")
	p.b.ReportMetric(float64(p.bytes)/n, "B/cmd")
	p.b.ReportMetric(float64(p.allocs)/n, "allocs/cmd")
}

// purgeEvery is how many post entries the post benchmarks apply between
// two purges of their queue: the state (and so the heap) stays bounded, as
// when consumers keep up, so that the figures are the CPU of applying
// commands rather than the page faults of a heap that only grows.
const purgeEvery = 64

func benchPostEntry(b *testing.B, posts, msgs int) {
	f := New(Config{})
	t := postEntry(b, posts, msgs)
	purge := encodeEntry(b, CmdQueuePurge, t0, "", &QueuePurge{Project: prj, Queue: "q", Messages: true})
	index := uint64(0)
	pc := startPerCmd(b, posts)
	for i := 0; i < b.N; i++ {
		t.setReqIDs(0, posts, i*posts)
		index++
		r := f.ApplyEntry(index, t.data)
		if len(r.Batch) != posts || len(r.Batch[posts-1].IDs) != msgs {
			b.Fatal("bad batch result")
		}
		if i%purgeEvery == purgeEvery-1 {
			index++
			f.ApplyEntry(index, purge)
		}
	}
	pc.stop()
}

// BenchmarkApplyEntryPost32x1 applies Batch entries of 32 single-message
// posts (256-byte bodies), each with its own RequestID (and, every
// purgeEvery entries, a purge of the queue).
func BenchmarkApplyEntryPost32x1(b *testing.B) { benchPostEntry(b, 32, 1) }

// BenchmarkApplyEntryPost16x10 applies Batch entries of 16 ten-message
// posts (256-byte bodies), each with its own RequestID (and, every
// purgeEvery entries, a purge of the queue).
func BenchmarkApplyEntryPost16x10(b *testing.B) { benchPostEntry(b, 16, 10) }

// BenchmarkApplyEntryClaimDelete applies, per iteration, one Batch entry of
// 16 claims (limit 10) and one of the 160 single-message deletes (with
// claim id) that consume what they claimed, as herald-bench's consumers do.
// Commands per op: 176. The queue is refilled outside the timer.
func BenchmarkApplyEntryClaimDelete(b *testing.B) {
	const claims, limit, dels = 16, 10, 16 * 10
	h := newHarness(b, Config{})
	refill := func() {
		for k := 0; k < 100; k++ {
			h.post("q", postPayload256(100)...)
		}
	}
	refill()
	left := 100 * 100

	cl := make([]Command, claims)
	var clPh []string
	for i := range cl {
		clPh = append(clPh, reqPlaceholder(i))
		cl[i] = mustCmd(b, CmdClaimCreate, clPh[i], &ClaimCreate{Project: prj, Queue: "q", Limit: limit, TTL: 60, Grace: 60})
	}
	ct := &template{data: encodeEntry(b, CmdBatch, h.now, "", &Batch{Commands: cl})}
	ct.locate(b, clPh)

	dl := make([]Command, dels)
	var reqPh, idPh []string
	for i := range dl {
		reqPh = append(reqPh, reqPlaceholder(claims+i))
		idPh = append(idPh, placeholder('m', i, idLen), placeholder('c', i, idLen))
		dl[i] = mustCmd(b, CmdMessageDel, reqPh[i], &MessageDelete{Project: prj, Queue: "q", ID: idPh[2*i], ClaimID: idPh[2*i+1]})
	}
	dt := &template{data: encodeEntry(b, CmdBatch, h.now, "", &Batch{Commands: dl})}
	dt.locate(b, reqPh)
	dt.locate(b, idPh)

	pc := startPerCmd(b, claims+dels)
	for i := 0; i < b.N; i++ {
		if left < dels {
			pc.pause()
			refill()
			left += 100 * 100
			pc.resume()
		}
		base := i * (claims + dels)
		ct.setReqIDs(0, claims, base)
		h.index++
		r := h.f.ApplyEntry(h.index, ct.data)
		k := 0
		for _, cr := range r.Batch {
			for _, m := range cr.Messages {
				s := dt.slots[dels+2*k]
				copy(dt.data[s.off:], m.ID)
				s = dt.slots[dels+2*k+1]
				copy(dt.data[s.off:], cr.ClaimID)
				k++
			}
		}
		if k != dels {
			b.Fatalf("claimed %d", k)
		}
		left -= dels
		dt.setReqIDs(0, dels, base+claims)
		h.index++
		r = h.f.ApplyEntry(h.index, dt.data)
		for _, dr := range r.Batch {
			if dr.Code != CodeOK {
				b.Fatal(dr.Msg)
			}
		}
	}
	pc.stop()
}

// postPayload256 returns n new messages with 256-byte bodies.
func postPayload256(n int) []NewMessage {
	out := make([]NewMessage, n)
	for i := range out {
		out[i] = NewMessage{Body: body256}
	}
	return out
}

// BenchmarkDecodeEntryPost32x1 decodes (without applying) a Batch entry
// of 32 single-message posts: the envelope, the batch and every payload.
func BenchmarkDecodeEntryPost32x1(b *testing.B) {
	t := postEntry(b, 32, 1)
	t.setReqIDs(0, 32, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, err := decodeEntryForBench(t.data)
		if err != nil || n != 32 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*32), "ns/cmd")
}

// decodeEntryForBench decodes an entry the way ApplyEntry does, payloads
// included, and returns the number of inner commands.
func decodeEntryForBench(data []byte) (int, error) {
	cmd, err := decodeEntry(data)
	if err != nil {
		return 0, err
	}
	var bt Batch
	if err := bt.decodeInPlace(cmd.Payload); err != nil {
		return 0, err
	}
	for i := range bt.Commands {
		var p MessagesPost
		if err := p.decodeInPlace(bt.Commands[i].Payload); err != nil {
			return 0, err
		}
	}
	return len(bt.Commands), nil
}
