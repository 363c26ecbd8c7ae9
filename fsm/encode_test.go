package fsm

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// encodeCases are Commands covering every field's presence and every
// integer and string length class of the hand encoder.
func encodeCases(t *testing.T) []Command {
	t.Helper()
	post, err := msgpack.Marshal(&MessagesPost{Project: "p", Queue: "q", Messages: []NewMessage{{Body: []byte(`{"a":1}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	var out []Command
	nows := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1,
		math.MaxInt64, -1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	ids := []string{"", "r", strings.Repeat("x", 31), strings.Repeat("y", 32), strings.Repeat("z", 255),
		strings.Repeat("w", 256), strings.Repeat("v", 65536)}
	types := []CmdType{CmdMessagesPost, CmdBatch, 0, 127, 128, CmdOptionalBit | 3, math.MaxUint16}
	for i, now := range nows {
		out = append(out, Command{Type: types[i%len(types)], Now: now, RequestID: ids[i%len(ids)], Payload: post})
		out = append(out, Command{Type: types[(i+1)%len(types)], Now: now, RequestID: ids[(i+3)%len(ids)]})
	}
	return out
}

func TestAppendEncodeMatchesReflection(t *testing.T) {
	for _, c := range encodeCases(t) {
		enc, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		var got Command
		if err := msgpack.Unmarshal(enc, &got); err != nil {
			t.Fatalf("reflection cannot decode %+v: %v", c, err)
		}
		if len(got.Payload) == 0 {
			got.Payload = nil
		}
		want := c
		if len(want.Payload) == 0 {
			want.Payload = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("reflection decoded %+v, want %+v", got, want)
		}
		inPlace, err := DecodeCommandInPlace(enc)
		if err != nil || inPlace.Type != c.Type || inPlace.Now != c.Now || inPlace.RequestID != c.RequestID ||
			!bytes.Equal(inPlace.Payload, c.Payload) {
			t.Fatalf("in place: %+v, %v; want %+v", inPlace, err, c)
		}
		// What reflection encodes, the in-place decoder reads the same.
		refl, err := msgpack.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		fromRefl, err := DecodeCommandInPlace(refl)
		if err != nil || !reflect.DeepEqual(fromRefl, inPlace) {
			t.Fatalf("from reflection encoding: %+v, %v; want %+v", fromRefl, err, inPlace)
		}
	}
}

func TestAppendBatchEntryMatchesReflection(t *testing.T) {
	cases := encodeCases(t)
	for _, n := range []int{0, 1, 15, 16, 40} {
		var encs [][]byte
		var want Batch
		for i := range n {
			c := cases[i%len(cases)]
			c.Type = CmdMessagesPost // never a nested batch
			if i%3 == 0 {
				c.Now = 0
			}
			enc, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			encs = append(encs, enc)
			want.Commands = append(want.Commands, c)
		}
		entry := AppendBatchEntry([]byte("prefix"), 42, encs)
		if !bytes.HasPrefix(entry, []byte("prefix")) {
			t.Fatal("dst not kept")
		}
		entry = entry[len("prefix"):]
		var outer Command
		if err := msgpack.Unmarshal(entry, &outer); err != nil {
			t.Fatal(err)
		}
		if outer.Type != CmdBatch || outer.Now != 42 || outer.RequestID != "" {
			t.Fatalf("outer %+v", outer)
		}
		var got Batch
		if err := msgpack.Unmarshal(outer.Payload, &got); err != nil {
			t.Fatal(err)
		}
		for i := range got.Commands {
			if len(got.Commands[i].Payload) == 0 {
				got.Commands[i].Payload = nil
			}
		}
		for i := range want.Commands {
			if len(want.Commands[i].Payload) == 0 {
				want.Commands[i].Payload = nil
			}
		}
		if len(got.Commands) != n || (n > 0 && !reflect.DeepEqual(got.Commands, want.Commands)) {
			t.Fatalf("batch of %d: got %+v", n, got.Commands)
		}
		// The apply path's own decoder reads it too.
		e, err := decodeEntry(entry)
		if err != nil || e.Type != CmdBatch {
			t.Fatalf("decodeEntry: %+v %v", e, err)
		}
		var b Batch
		if err := b.decodeInPlace(e.Payload); err != nil || len(b.Commands) != n {
			t.Fatalf("decodeInPlace: %d commands, %v", len(b.Commands), err)
		}
		if EncodedBatchOverhead < len(entry)-totalLen(encs) {
			t.Fatalf("overhead %d > EncodedBatchOverhead", len(entry)-totalLen(encs))
		}
	}
}

func totalLen(bs [][]byte) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}

func TestAppendStamped(t *testing.T) {
	for _, c := range encodeCases(t) {
		enc, _ := c.Encode()
		out, err := AppendStamped(nil, enc, 777)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeCommandInPlace(out)
		if err != nil || got.Now != 777 || got.Type != c.Type || got.RequestID != c.RequestID || !bytes.Equal(got.Payload, c.Payload) {
			t.Fatalf("stamped %+v %v from %+v", got, err, c)
		}
	}
}

func TestDecodeCommandInPlaceRejects(t *testing.T) {
	good, _ := (&Command{Type: CmdMessagesPost, RequestID: "r"}).Encode()
	for name, b := range map[string][]byte{
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0x01),
		"two":       append(append([]byte{}, good...), good...),
		"not a map": {0x93, 1, 2, 3},
		"bad type":  {0x81, 0xa1, 't', 0xa1, 'x'},
		"empty":     {},
	} {
		if _, err := DecodeCommandInPlace(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A nil envelope reads as the zero Command, as reflection decodes it;
	// the FSM answers its type 0 with CodeUnknownCommand when applied.
	if c, err := DecodeCommandInPlace([]byte{0xc0}); err != nil || c.Type != 0 || c.RequestID != "" || c.Payload != nil {
		t.Errorf("nil envelope: %+v, %v", c, err)
	}
}

func BenchmarkCommandEncode(b *testing.B) {
	post, _ := msgpack.Marshal(&MessagesPost{Project: "p", Queue: "q", Messages: []NewMessage{{Body: bytes.Repeat([]byte("x"), 256)}}})
	c := Command{Type: CmdMessagesPost, RequestID: "cl-0123456789abcdef0123456789abcdef", Payload: post}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = c.Encode()
		}
	})
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = msgpack.Marshal(&c)
		}
	})
}
