package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// msgFromRecord is the reference conversion of a reflection-decoded record.
func msgFromRecord(r *Message) (msg, bool) {
	id, ok := parseID(r.ID)
	if !ok || r.ClaimCount < 0 || int64(r.ClaimCount) > maxClaimCount {
		return msg{}, false
	}
	m := msg{body: stringOf(r.Body), client: intern(r.ClientID), idx: id.idx, n: id.n,
		ttl: r.TTL, created: r.Created, expires: r.Expires, availAt: r.AvailableAt,
		claimExp: r.ClaimExpires, claims: uint32(r.ClaimCount)}
	if r.ClaimID != "" {
		c, ok := parseID(r.ClaimID)
		if !ok {
			return msg{}, false
		}
		m.claimIdx, m.claimN, m.claimed = c.idx, c.n, true
	}
	return m, true
}

// randomMsg returns a message with every field sometimes zero, sometimes
// small, sometimes large or negative.
func randomMsg(rng *prng) msg {
	val := func() int64 {
		switch rng.intn(5) {
		case 0:
			return 0
		case 1:
			return int64(rng.intn(200)) - 100
		case 2:
			return -int64(rng.next() >> 1)
		default:
			return int64(rng.next() >> 1)
		}
	}
	m := msg{idx: rng.next(), n: uint32(rng.next()), ttl: val(), created: val(), expires: val(), availAt: val(), claimExp: val()}
	switch rng.intn(3) {
	case 0:
	case 1:
		m.body = `{"a":1}`
	default:
		m.body = string(bytes.Repeat([]byte("x"), rng.intn(70000)))
	}
	if rng.intn(2) == 0 {
		m.client = intern(fmt.Sprintf("client-%d", rng.intn(3)))
	}
	if rng.intn(2) == 0 {
		m.setClaim(mid{rng.next(), uint32(rng.next())}, m.claimExp)
		m.claimExp = val()
	}
	switch rng.intn(3) {
	case 1:
		m.claims = uint32(rng.intn(300))
	case 2:
		m.claims = maxClaimCount
	}
	return m
}

// TestMsgRecordCodec checks that message records are exactly msgpack's
// reflection encoding of the Message view, and decode back to the same
// stored message.
func TestMsgRecordCodec(t *testing.T) {
	rng := &prng{s: 9}
	for i := 0; i < 2000; i++ {
		m := randomMsg(rng)
		var fast, slow bytes.Buffer
		w := &recordEncoder{enc: msgpack.NewEncoder(&fast)}
		if err := w.encode(&m); err != nil {
			t.Fatal(err)
		}
		r := m.record()
		if err := msgpack.NewEncoder(&slow).Encode(&r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
			t.Fatalf("record of %+v:\n fast %x\n slow %x", r, fast.Bytes(), slow.Bytes())
		}
		var back Message
		if err := msgpack.Unmarshal(slow.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		want, ok := msgFromRecord(&back)
		got, err := (&recordDecoder{}).decode(msgpack.NewDecoder(&fast))
		if !ok || err != nil || got != want || got != m {
			t.Fatalf("decoded %+v (%v), reference %+v, stored %+v", got, err, want, m)
		}
	}
}

// TestMsgRecordDecodeRejects checks that records a msg cannot hold fail.
func TestMsgRecordDecodeRejects(t *testing.T) {
	good := formatID(1, 2)
	for name, rec := range map[string]any{
		"bad id":          map[string]any{"i": "nope", "b": json.RawMessage(`1`)},
		"no id":           map[string]any{"b": json.RawMessage(`1`)},
		"bad claim":       map[string]any{"i": good, "l": "zz"},
		"negative count":  map[string]any{"i": good, "n": -1},
		"count too large": map[string]any{"i": good, "n": int64(maxClaimCount) + 1},
		"not a map":       []int{1, 2},
	} {
		b, err := msgpack.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&recordDecoder{}).decode(msgpack.NewDecoder(bytes.NewReader(b))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Unknown keys are skipped, fields come in any order.
	b, _ := msgpack.Marshal(map[string]any{"zz": []int{1}, "x": 5, "i": good, "p": "c1"})
	m, err := (&recordDecoder{}).decode(msgpack.NewDecoder(bytes.NewReader(b)))
	if err != nil || m.id() != (mid{1, 2}) || m.expires != 5 || m.clientID() != "c1" {
		t.Fatalf("decoded %+v, %v", m, err)
	}
}
