package fsm

import (
	"encoding/json"
	"unique"
	"unsafe"
)

// A stored message is a msg value inside its queue's msgTree (msgtree.go),
// not a *Message: 96 bytes per message besides the body, with no pointer
// of its own and no id string. The exported Message is only a view (reads,
// results, snapshot records), built on demand by view().
//
//   - ids are kept as numbers, mid (raft index, n); formatID renders the
//     24-digit text, which every replica derives alike.
//   - the body is a string sharing the bytes decoded from the command (one
//     allocation per message, never copied again: outbox entries, views and
//     results share it; nobody may modify it).
//   - the client id is interned (unique.Handle): one copy per distinct id
//     in the process, 8 bytes per message.
//   - the claim is (claim id, claim expiry, claimed flag) inline.

// mid is a minted id in numeric form: the raft index of the entry that
// minted it and the position n among the ids minted by that entry.
// formatID(idx, n) is its text; mid order equals text order.
type mid struct {
	idx uint64
	n   uint32
}

func (a mid) less(b mid) bool {
	if a.idx != b.idx {
		return a.idx < b.idx
	}
	return a.n < b.n
}

// String renders the id as its 24 hex digits.
func (a mid) String() string { return formatID(a.idx, a.n) }

// parseID converts an id's text to a mid; ok is false unless ValidID(s).
func parseID(s string) (id mid, ok bool) {
	if !ValidID(s) {
		return mid{}, false
	}
	for i := 0; i < 16; i++ {
		id.idx = id.idx<<4 | uint64(unhex(s[i]))
	}
	for i := 16; i < idLen; i++ {
		id.n = id.n<<4 | uint32(unhex(s[i]))
	}
	return id, true
}

// unhex is the value of a lowercase hex digit (checked by ValidID).
func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// appendID appends the 24 hex digits of id to b (no allocation beyond b's).
func appendID(b []byte, id mid) []byte {
	var buf [idLen]byte
	idx, n := id.idx, id.n
	for i := 15; i >= 0; i-- {
		buf[i] = hexDigits[idx&0xf]
		idx >>= 4
	}
	for i := idLen - 1; i >= 16; i-- {
		buf[i] = hexDigits[n&0xf]
		n >>= 4
	}
	return append(b, buf[:]...)
}

// msg is a stored message. Field order keeps the struct at 96 bytes.
type msg struct {
	body     string                // shared, immutable; "" for an empty body
	client   unique.Handle[string] // producer's client id; zero value = none
	idx      uint64                // id = (idx, n)
	claimIdx uint64                // claim id = (claimIdx, claimN), valid when claimed
	ttl      int64                 // seconds, as reported (grows with claim grace)
	created  int64                 // unix ns, FSM time
	expires  int64
	availAt  int64 // created + delay
	claimExp int64 // expiry of the claim; kept as stored (view() hides it unless active)
	n        uint32
	claimN   uint32
	claims   uint32 // claim count (saturating)
	claimed  bool   // the message carries a claim id
	// outboxed: an outbox entry of the queue's source was made for this
	// message (and shares its body); it may have gone since. Not part of
	// snapshots or the digest: restore sets it again (outbox.go).
	outboxed bool
}

func (m *msg) id() mid { return mid{m.idx, m.n} }

func (m *msg) claimID() mid { return mid{m.claimIdx, m.claimN} }

// setClaim records claim c (expiring at exp) on m.
func (m *msg) setClaim(c mid, exp int64) {
	m.claimIdx, m.claimN, m.claimExp, m.claimed = c.idx, c.n, exp, true
}

// clearClaim removes the claim fields (the claim count stays).
func (m *msg) clearClaim() {
	m.claimIdx, m.claimN, m.claimExp, m.claimed = 0, 0, 0, false
}

// heldBy reports whether m carries the claim with id c.
func (m *msg) heldBy(c mid) bool { return m.claimed && m.claimID() == c }

// active reports whether m is held by a claim that is active at now.
func (m *msg) active(now int64) bool { return m.claimed && m.claimExp > now }

// bodyBytes returns the body as a byte slice sharing its memory (nil when
// empty). The bytes must not be modified.
func (m *msg) bodyBytes() json.RawMessage { return bytesOf(m.body) }

// clientID returns the producer's client id ("" when none).
func (m *msg) clientID() string { return handleValue(m.client) }

// bytesOf returns s's bytes without copying (nil for ""). They must not be
// modified: strings are immutable.
func bytesOf(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// stringOf returns b's bytes as a string without copying. The caller hands
// b over: nobody may modify it afterwards.
func stringOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// intern returns the canonical handle of s (the zero handle for "").
func intern(s string) unique.Handle[string] {
	if s == "" {
		return unique.Handle[string]{}
	}
	return unique.Make(s)
}

// handleValue is the string of an interned handle ("" for the zero handle).
func handleValue(h unique.Handle[string]) string {
	if h == (unique.Handle[string]{}) {
		return ""
	}
	return h.Value()
}

// view returns m as seen at now: claim fields are cleared unless the claim
// is active.
func (m *msg) view(now int64) Message {
	var cid string
	if m.active(now) {
		cid = formatID(m.claimIdx, m.claimN)
	}
	return m.viewWith(now, formatID(m.idx, m.n), cid)
}

// viewWith is view with the texts of m's id and of its claim's id given
// (claimID is used only while the claim is active).
func (m *msg) viewWith(now int64, id, claimID string) Message {
	v := m.message(id)
	if m.active(now) {
		v.ClaimID, v.ClaimExpires = claimID, m.claimExp
	}
	return v
}

// message returns m with the given id text and without its claim, which
// viewWith and record fill in each their own way.
func (m *msg) message(id string) Message {
	return Message{
		ID:          id,
		Body:        m.bodyBytes(),
		TTL:         m.ttl,
		Created:     m.created,
		Expires:     m.expires,
		AvailableAt: m.availAt,
		ClientID:    m.clientID(),
		ClaimCount:  int(m.claims),
	}
}

// appendIDs appends the 24 hex digits of each message's id to b.
func appendIDs(b []byte, ms []msg) []byte {
	for i := range ms {
		b = appendID(b, ms[i].id())
	}
	return b
}

// record returns m as stored, the form of snapshot records.
func (m *msg) record() Message {
	v := m.message(formatID(m.idx, m.n))
	v.ClaimExpires = m.claimExp
	if m.claimed {
		v.ClaimID = formatID(m.claimIdx, m.claimN)
	}
	return v
}

// maxClaimCount is where a message's claim count stops growing.
const maxClaimCount = 1<<32 - 1
