package fsm

import (
	"fmt"
	"unique"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// Snapshot message records are the msgpack encoding of Message (struct
// tags in view.go, omitempty fields left out, int64 fields as 9-byte
// int64s, ClaimCount compact), exactly what msgpack's reflection encoder
// writes. Persist and restore handle millions of them, so these functions
// write and read that format directly from and into a stored msg, without
// reflection or an intermediate Message. msgcodec_test.go checks them
// against the reflection codec byte for byte.

// recordEncoder writes message records; its scratch buffer holds the id
// texts, so encoding allocates nothing.
type recordEncoder struct {
	enc *msgpack.Encoder
	err error
	buf [idLen]byte
}

// key writes a map key unless an error occurred, and reports whether the
// value may follow.
func (w *recordEncoder) key(k string) bool {
	if w.err == nil {
		w.err = w.enc.EncodeString(k)
	}
	return w.err == nil
}

// id writes an id as its 24-digit text.
func (w *recordEncoder) id(id mid) error {
	b := appendID(w.buf[:0], id)
	return w.enc.EncodeString(unsafe.String(&b[0], len(b)))
}

// encode writes m's snapshot record.
func (w *recordEncoder) encode(m *msg) error {
	fields := 5 // i, b, t, c, x
	for _, set := range [...]bool{m.availAt != 0, m.client != (unique.Handle[string]{}), m.claimed, m.claimExp != 0, m.claims != 0} {
		if set {
			fields++
		}
	}
	w.err = w.enc.EncodeMapLen(fields)
	if w.key("i") {
		w.err = w.id(m.id())
	}
	if w.key("b") {
		w.err = w.enc.EncodeBytes(m.bodyBytes())
	}
	if w.key("t") {
		w.err = w.enc.EncodeInt64(m.ttl)
	}
	if w.key("c") {
		w.err = w.enc.EncodeInt64(m.created)
	}
	if w.key("x") {
		w.err = w.enc.EncodeInt64(m.expires)
	}
	if m.availAt != 0 && w.key("a") {
		w.err = w.enc.EncodeInt64(m.availAt)
	}
	if c := m.clientID(); c != "" && w.key("p") {
		w.err = w.enc.EncodeString(c)
	}
	if m.claimed && w.key("l") {
		w.err = w.id(m.claimID())
	}
	if m.claimExp != 0 && w.key("y") {
		w.err = w.enc.EncodeInt64(m.claimExp)
	}
	if m.claims != 0 && w.key("n") {
		w.err = w.enc.EncodeInt(int64(m.claims))
	}
	return w.err
}

// recordDecoder decodes message records into stored messages. It remembers
// the last client id so that a run of messages from one producer interns
// it once.
type recordDecoder struct {
	lastClient string
	lastHandle unique.Handle[string]
}

// decode reads one message record (any field order, unknown keys skipped,
// like the reflection decoder) and validates what a msg cannot represent.
func (rd *recordDecoder) decode(dec *msgpack.Decoder) (msg, error) {
	var (
		m      msg
		id     string
		claim  string
		client string
		count  int64
	)
	err := decodeFields(dec, func(key string) error {
		var err error
		switch key {
		case "i":
			id, err = dec.DecodeString()
		case "b":
			var b []byte
			b, err = dec.DecodeBytes()
			m.body = stringOf(b) // freshly allocated by the decoder
		case "t":
			m.ttl, err = dec.DecodeInt64()
		case "c":
			m.created, err = dec.DecodeInt64()
		case "x":
			m.expires, err = dec.DecodeInt64()
		case "a":
			m.availAt, err = dec.DecodeInt64()
		case "p":
			client, err = dec.DecodeString()
		case "l":
			claim, err = dec.DecodeString()
		case "y":
			m.claimExp, err = dec.DecodeInt64()
		case "n":
			count, err = dec.DecodeInt64()
		default:
			err = dec.Skip()
		}
		return err
	})
	if err != nil {
		return msg{}, err
	}
	n, ok := parseID(id)
	if !ok {
		return msg{}, fmt.Errorf("invalid message id %q", id)
	}
	m.idx, m.n = n.idx, n.n
	if claim != "" {
		c, ok := parseID(claim)
		if !ok {
			return msg{}, fmt.Errorf("message %s: invalid claim id %q", id, claim)
		}
		m.claimIdx, m.claimN, m.claimed = c.idx, c.n, true
	}
	if count < 0 || count > maxClaimCount {
		return msg{}, fmt.Errorf("message %s: claim count %d out of range", id, count)
	}
	m.claims = uint32(count)
	if client != rd.lastClient || client == "" {
		rd.lastClient, rd.lastHandle = client, intern(client)
	}
	m.client = rd.lastHandle
	return m, nil
}
