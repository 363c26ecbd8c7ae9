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

// SubscriptionInfo describes a subscription with its delivery state, as seen
// at a read time. Times are unix ns in FSM time (except LastErrorAt, the
// worker's clock). Options, Secret and RecentFailures are copies.
type SubscriptionInfo struct {
	ID         string
	Project    string
	SourceKind string // SourceQueue or SourceTopic
	Source     string
	Subscriber string
	Options    map[string]json.RawMessage // stored verbatim; nil when none
	TTL        int64                      // seconds
	Created    int64                      // age = now - Created
	Expires    int64
	Confirmed  bool
	// Secret is the per-subscription HMAC key (for signing deliveries). Never
	// render it in API answers.
	Secret []byte

	Owner          string // dispatcher node that owns it ("" = unassigned)
	OwnerEpoch     uint64 // assignment epoch of that ownership (Acks must carry it)
	Cursor         uint64 // last outbox seq handled by the owner
	Pending        uint64 // outbox tail - Cursor (an upper bound: expired entries included)
	Delivered      uint64 // deliveries acknowledged
	FailedCount    uint64 // deliveries given up after all retries
	Skipped        uint64 // entries passed over on purpose
	LastError      string
	LastErrorAt    int64
	RecentFailures []FailureRecord // the last MaxRecentFailures failures, oldest first

	// ConfirmRequested counts the confirmation notifications requested
	// (create, duplicate unconfirmed create, confirmed -> unconfirmed);
	// ConfirmSent is the last one the owner reported sent. One is pending
	// while ConfirmSent < ConfirmRequested; ConfirmUnsubscribe says the
	// latest is an UnsubscribeConfirmation.
	ConfirmRequested   uint64
	ConfirmSent        uint64
	ConfirmUnsubscribe bool

	// SubscriberProject is the project that made a topic subscription on
	// another project's topic ("" = the owner, Project).
	SubscriberProject string
}

// FailureRecord is one failed delivery kept for visibility.
type FailureRecord struct {
	Seq       uint64 `msgpack:"s"`
	MessageID string `msgpack:"i"`
	Error     string `msgpack:"e,omitempty"`
	Attempts  int    `msgpack:"a,omitempty"`
	At        int64  `msgpack:"t"` // FSM time of the Ack that reported it
	// DeadLetterID is the id of the copy posted to the subscription's
	// dead-letter queue; DeadLetterError says why none was made although
	// one is configured.
	DeadLetterID    string `msgpack:"d,omitempty"`
	DeadLetterError string `msgpack:"x,omitempty"`
}

// OutboxEntry is one message owed to the subscriptions of a source: a
// notification recorded at post time so it survives the message being
// deleted or popped. Body is shared and must not be modified.
type OutboxEntry struct {
	Seq       uint64          `msgpack:"s"` // per source, from 1, monotonic
	MessageID string          `msgpack:"i"`
	Body      json.RawMessage `msgpack:"b"`
	TTL       int64           `msgpack:"t"`           // seconds
	Delay     *int64          `msgpack:"d,omitempty"` // set only when the queue has a truthy _default_message_delay
	Created   int64           `msgpack:"c"`
	Expires   int64           `msgpack:"x"` // = the message's expiry
}
