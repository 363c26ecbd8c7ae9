package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// benchBody is a typical small JSON message body (about 100 bytes).
var benchBody = json.RawMessage(`{"event":"order.created","order_id":123456789,"customer":"c-42","items":[1,2,3],"total":99.5}`)

func postPayload(q string, n int) *MessagesPost {
	msgs := make([]NewMessage, n)
	for i := range msgs {
		msgs[i] = NewMessage{Body: benchBody}
	}
	return &MessagesPost{Project: prj, Queue: q, ClientID: "0123456789abcdef0123456789abcdef", Messages: msgs}
}

// BenchmarkApplyPost applies one entry posting a single message.
func BenchmarkApplyPost(b *testing.B) {
	f := New(Config{})
	data := encodeEntry(b, CmdMessagesPost, t0, "", postPayload("q", 1))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := f.ApplyEntry(uint64(i+1), data); r.Code != CodeOK {
			b.Fatal(r.Msg)
		}
	}
}

// BenchmarkApplyPostWithRequestID is BenchmarkApplyPost with a distinct
// RequestID on every command (dedupe lookup, remember and, past the window,
// eviction).
func BenchmarkApplyPostWithRequestID(b *testing.B) {
	f := New(Config{})
	p := postPayload("q", 1)
	entries := make([][]byte, b.N)
	for i := range entries {
		entries[i] = encodeEntry(b, CmdMessagesPost, t0, fmt.Sprintf("req-%d", i), p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := f.ApplyEntry(uint64(i+1), entries[i]); len(r.IDs) != 1 {
			b.Fatal("deduplicated")
		}
	}
}

// BenchmarkApplyBatchPost applies one Batch entry of 10 single-message posts
// (what group commit produces under concurrency).
func BenchmarkApplyBatchPost(b *testing.B) {
	f := New(Config{})
	cmds := make([]Command, 10)
	for i := range cmds {
		cmds[i] = mustCmd(b, CmdMessagesPost, "", postPayload("q", 1))
	}
	data := encodeEntry(b, CmdBatch, t0, "", &Batch{Commands: cmds})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := f.ApplyEntry(uint64(i+1), data); len(r.Batch) != 10 {
			b.Fatal("bad batch result")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/msg")
}

// BenchmarkClaimDelete claims one message and deletes it with its claim id,
// from a queue holding b.N messages (two entries per iteration, encoding of
// the delete command included).
func BenchmarkClaimDelete(b *testing.B) {
	h := newHarness(b, Config{})
	for n := b.N; n > 0; n -= 100 {
		h.post("q", postPayload("q", min(n, 100)).Messages...)
	}
	claim := &ClaimCreate{Project: prj, Queue: "q", Limit: 1, TTL: 60, Grace: 60}
	claimData := encodeEntry(b, CmdClaimCreate, h.now, "", claim)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.index++
		r := h.f.ApplyEntry(h.index, claimData)
		if len(r.Messages) != 1 {
			b.Fatalf("claimed %d", len(r.Messages))
		}
		h.index++
		del := encodeEntry(b, CmdMessageDel, h.now, "", &MessageDelete{Project: prj, Queue: "q", ID: r.Messages[0].ID, ClaimID: r.ClaimID})
		if r := h.f.ApplyEntry(h.index, del); r.Code != CodeOK {
			b.Fatal(r.Msg)
		}
	}
}

// BenchmarkCommandCodec encodes and decodes a one-message post command,
// payload included.
func BenchmarkCommandCodec(b *testing.B) {
	p := postPayload("q", 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cmd, err := NewCommand(CmdMessagesPost, "req-1", p)
		if err != nil {
			b.Fatal(err)
		}
		cmd.Now = t0
		data, err := cmd.Encode()
		if err != nil {
			b.Fatal(err)
		}
		back, err := DecodeCommand(data)
		if err != nil {
			b.Fatal(err)
		}
		var out MessagesPost
		if err := msgpack.Unmarshal(back.Payload, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweepNothingDue is a sweep over 1000 queues × 100 messages when
// nothing has expired: it should not depend on the state's size.
func BenchmarkSweepNothingDue(b *testing.B) {
	h := newHarness(b, Config{})
	for q := 0; q < 1000; q++ {
		h.post(fmt.Sprintf("q%d", q), postPayload("", 100).Messages...)
	}
	data := encodeEntry(b, CmdSweep, h.now, "", &Sweep{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.index++
		if r := h.f.ApplyEntry(h.index, data); r.Swept != 0 {
			b.Fatal("swept")
		}
	}
}

// BenchmarkSnapshotCapture measures the part of Snapshot that runs on the
// FSM goroutine (100 queues × 10,000 messages); streaming is measured
// separately by BenchmarkSnapshotPersist.
func BenchmarkSnapshotCapture(b *testing.B) {
	h := newHarness(b, Config{})
	for q := 0; q < 100; q++ {
		for n := 0; n < 100; n++ {
			h.post(fmt.Sprintf("q%d", q), postPayload("", 100).Messages...)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := h.f.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotPersist streams a snapshot of 100,000 messages.
func BenchmarkSnapshotPersist(b *testing.B) {
	h := newHarness(b, Config{})
	for q := 0; q < 10; q++ {
		for n := 0; n < 100; n++ {
			h.post(fmt.Sprintf("q%d", q), postPayload("", 100).Messages...)
		}
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		persist, _ := h.f.Snapshot()
		buf.Reset()
		if err := persist(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}

// BenchmarkApplyPostSubscribed posts single messages to a queue with two
// subscriptions, whose owner acknowledges every 100 posts (outbox append,
// ack, GC of 100 entries).
func BenchmarkApplyPostSubscribed(b *testing.B) {
	f := New(Config{})
	var ids []string
	for i, u := range []string{"http://a", "http://b"} {
		r := f.ApplyEntry(uint64(i+1), encodeEntry(b, CmdSubscriptionCreate, t0, "",
			&SubscriptionCreate{Project: prj, SourceKind: SourceQueue, Source: "q", Subscriber: u, TTL: 1 << 30}))
		ids = append(ids, r.SubscriptionID)
	}
	f.ApplyEntry(3, encodeEntry(b, CmdAssign, t0, "", &Assign{Epoch: 1, Changes: []Assignment{{ids[0], "n"}, {ids[1], "n"}}}))
	data := encodeEntry(b, CmdMessagesPost, t0, "", postPayload("q", 1))
	idx := uint64(3)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx++
		if r := f.ApplyEntry(idx, data); r.Code != CodeOK {
			b.Fatal(r.Msg)
		}
		if i%100 == 99 {
			for _, id := range ids {
				idx++
				ack := encodeEntry(b, CmdAck, t0, "", &Ack{SubscriptionID: id, Owner: "n", Epoch: 1, Cursor: uint64(i + 1), Delivered: 100})
				if r := f.ApplyEntry(idx, ack); r.Code != CodeOK {
					b.Fatal(r.Msg)
				}
			}
		}
	}
	b.StopTimer()
	var tail uint64
	f.Read(func(s *State) { tail = s.OutboxTail(prj, SourceQueue, "q") })
	if tail != uint64(b.N) || f.st.sources[sourceKey{prj, SourceQueue, "q"}].outbox.Len() >= 100 {
		b.Fatalf("tail %d after %d posts", tail, b.N)
	}
}
