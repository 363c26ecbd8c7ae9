package fsm

import "encoding/json"

// Message is a read-only copy of a stored message. Times are unix
// nanoseconds in FSM time. Body is shared and must not be modified.
type Message struct {
	ID           string          `msgpack:"i"`
	Body         json.RawMessage `msgpack:"b"`
	TTL          int64           `msgpack:"t"` // seconds, as reported (grows with claim grace)
	Created      int64           `msgpack:"c"`
	Expires      int64           `msgpack:"x"`
	AvailableAt  int64           `msgpack:"a,omitempty"` // Created + delay
	ClientID     string          `msgpack:"p,omitempty"`
	ClaimID      string          `msgpack:"l,omitempty"` // set only while the claim is active at the read time
	ClaimExpires int64           `msgpack:"y,omitempty"`
	ClaimCount   int             `msgpack:"n,omitempty"`
}

// QueueInfo describes one queue. Metadata holds stored keys only (no
// reserved defaults; httpapi merges those in).
type QueueInfo struct {
	Name     string
	Metadata map[string]json.RawMessage
}

// QueueListOptions selects queues for State.ListQueues.
type QueueListOptions struct {
	Marker  string            // names strictly greater than Marker
	Limit   int               // page size
	Name    string            // substring filter on the name ("" = none)
	Filters map[string]string // metadata[key] == value; value compared as int JSON if it parses as int, else as a JSON string
}

// ListOptions selects messages for State.ListMessages.
type ListOptions struct {
	Marker         string // opaque; from a previous page ("" = start); garbage -> empty page
	Limit          int
	Echo           bool   // include messages whose ClientID equals ClientID
	ClientID       string // canonical client id of the caller
	IncludeClaimed bool
	IncludeDelayed bool // ignored (forced true) when the queue has no truthy _default_message_delay
}

// ClaimInfo describes an active claim.
type ClaimInfo struct {
	ID       string
	TTL      int64 // seconds
	Grace    int64 // seconds
	Updated  int64 // unix ns of creation or last renewal (age = now - Updated)
	Expires  int64
	Messages []Message // unexpired messages still held by the claim, in queue order
}

// Stats are the message counts of a queue at a read time.
type Stats struct {
	Claimed int
	Free    int
	Total   int
	Oldest  *Message // nil when Total == 0
	Newest  *Message
}
