package fsm

// IDs of messages, claims and subscriptions derive from the raft log:
// id = 16 hex digits of the entry's index followed by 8 hex digits of a
// counter that numbers every id minted while applying that entry (shared by
// the inner commands of a Batch). Every replica therefore mints the same ids,
// ids are unique across the whole state, and because they have a fixed width
// their string order equals mint order (post order within a queue).

// idLen is the length of every id: 16 + 8 lowercase hex digits.
const idLen = 24

const hexDigits = "0123456789abcdef"

// formatID renders (index, n) as "%016x%08x" without fmt.
func formatID(index uint64, n uint32) string {
	var b [idLen]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[index&0xf]
		index >>= 4
	}
	for i := idLen - 1; i >= 16; i-- {
		b[i] = hexDigits[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

// ValidID reports whether s has the syntax of a message, claim or
// subscription id: exactly 24 lowercase hexadecimal digits.
func ValidID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ValidQueueName reports whether s is a valid Zaqar queue name: 1 to
// MaxNameLength characters from [A-Za-z0-9_.-] (dots allowed, as in current Zaqar).
func ValidQueueName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// applyCtx is the per-entry context of one ApplyEntry call: the entry's
// index, its FSM time and the id counter shared by all commands in the entry.
type applyCtx struct {
	index uint64
	now   int64
	n     uint32
	// run is set by a post to the ids it minted: a hint for the dedupe
	// window, which keeps a post's ids as a run (dedupe.go). Reset before
	// every command.
	run idRun
}

// mintID returns the next id of the entry in numeric form.
func (c *applyCtx) mintID() mid {
	id := mid{c.index, c.n}
	c.n++
	return id
}

// formatRun renders the n consecutive ids from first, as mintID returns
// them, with one allocation for all their text.
func formatRun(first mid, n int) []string {
	buf := make([]byte, 0, n*idLen)
	for i := 0; i < n; i++ {
		buf = appendID(buf, mid{first.idx, first.n + uint32(i)})
	}
	text := stringOf(buf) // buf is not written again
	ids := make([]string, n)
	for i := range ids {
		ids[i] = text[i*idLen : (i+1)*idLen]
	}
	return ids
}

// mint returns the text of the next id of the entry.
func (c *applyCtx) mint() string { return c.mintID().String() }
