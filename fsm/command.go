package fsm

import (
	"encoding/json"

	"github.com/vmihailenco/msgpack/v5"
)

// CmdType identifies the payload carried by a Command. Values are part of the
// on-disk log format: never renumber them. Types with the high bit
// (CmdOptionalBit) set may be skipped by an older binary that does not know
// them; unknown types without it yield a CodeUnknownCommand result.
type CmdType uint16

// CmdOptionalBit marks a command type that older binaries may ignore.
const CmdOptionalBit CmdType = 0x8000

// Command types. The payload struct of each is named in its comment.
const (
	CmdBatch        CmdType = 1  // Batch: several commands in one raft entry (group commit)
	CmdQueueCreate  CmdType = 2  // QueueCreate
	CmdQueueDelete  CmdType = 3  // QueueDelete
	CmdQueuePatch   CmdType = 4  // QueuePatch
	CmdQueuePurge   CmdType = 5  // QueuePurge
	CmdMessagesPost CmdType = 6  // MessagesPost
	CmdMessagesDel  CmdType = 7  // MessagesDelete (bulk, by ids)
	CmdMessageDel   CmdType = 8  // MessageDelete (one, with optional claim id)
	CmdMessagesPop  CmdType = 9  // MessagesPop
	CmdClaimCreate  CmdType = 10 // ClaimCreate
	CmdClaimUpdate  CmdType = 11 // ClaimUpdate
	CmdClaimDelete  CmdType = 12 // ClaimDelete
	CmdSweep        CmdType = 13 // Sweep: drop expired messages and claims
	CmdNoop         CmdType = 14 // Noop: empty payload; used as a barrier and to advance LastNow

	CmdSubscriptionCreate  CmdType = 15 // SubscriptionCreate
	CmdSubscriptionUpdate  CmdType = 16 // SubscriptionUpdate
	CmdSubscriptionDelete  CmdType = 17 // SubscriptionDelete
	CmdSubscriptionConfirm CmdType = 18 // SubscriptionConfirm
	CmdAssign              CmdType = 19 // Assign: dispatcher ownership of subscriptions (fenced by epoch)
	CmdAck                 CmdType = 20 // Ack: delivery progress of one subscription, from its owner

	CmdTopicCreate         CmdType = 21 // TopicCreate
	CmdTopicDelete         CmdType = 22 // TopicDelete
	CmdTopicPatch          CmdType = 23 // TopicPatch
	CmdTopicPurge          CmdType = 24 // TopicPurge
	CmdTopicMessagesPost   CmdType = 25 // TopicMessagesPost
	CmdTopicMessagesDelete CmdType = 26 // TopicMessagesDelete
)

// Command is the envelope of every raft log entry, encoded with msgpack.
// Now is stamped by the leader just before raft.Apply (unix nanoseconds);
// RequestID, when set, makes the command idempotent within the dedupe window.
type Command struct {
	Type      CmdType            `msgpack:"t"`
	Now       int64              `msgpack:"n"`
	RequestID string             `msgpack:"r,omitempty"`
	Payload   msgpack.RawMessage `msgpack:"p,omitempty"`
}

// NewCommand builds a Command whose payload is p encoded with msgpack.
func NewCommand(t CmdType, requestID string, p any) (*Command, error) {
	var raw []byte
	if p != nil {
		b, err := msgpack.Marshal(p)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	return &Command{Type: t, RequestID: requestID, Payload: raw}, nil
}

// Encode returns the msgpack encoding of c (AppendEncode into a new slice).
func (c *Command) Encode() ([]byte, error) {
	return c.AppendEncode(make([]byte, 0, len(c.Payload)+len(c.RequestID)+16)), nil
}

// DecodeCommand parses a msgpack-encoded Command. The Command does not
// share b (its payload is a copy).
func DecodeCommand(b []byte) (*Command, error) { return decodeCommandCopy(b) }

// Batch carries several commands applied in order inside one raft entry.
// Each inner command keeps its own RequestID; the outer Now applies to all.
type Batch struct {
	Commands []Command `msgpack:"c"`
}

// QueueCreate creates a queue with the given metadata. Creating an existing
// queue succeeds with Result.Created=false and leaves its metadata untouched.
type QueueCreate struct {
	Project  string                     `msgpack:"p"`
	Queue    string                     `msgpack:"q"`
	Metadata map[string]json.RawMessage `msgpack:"m,omitempty"`
}

// QueueDelete deletes a queue with its messages and claims (not its
// subscriptions). Deleting a missing queue succeeds.
type QueueDelete struct {
	Project string `msgpack:"p"`
	Queue   string `msgpack:"q"`
}

// PatchOp is one decoded JSON-patch operation on queue metadata: Op is
// "add", "replace" or "remove"; Key is the metadata key (second pointer
// segment); Value is the raw JSON value for add/replace.
type PatchOp struct {
	Op    string          `msgpack:"o"`
	Key   string          `msgpack:"k"`
	Value json.RawMessage `msgpack:"v,omitempty"`
}

// QueuePatch applies JSON-patch operations to an existing queue's metadata.
// Result.Metadata holds the stored metadata afterwards (without defaults).
// Errors: CodeNotFound (no queue), CodeConflict (replace/remove of a missing
// non-reserved key), CodeBadRequest (result fails reserved-key validation).
type QueuePatch struct {
	Project string    `msgpack:"p"`
	Queue   string    `msgpack:"q"`
	Ops     []PatchOp `msgpack:"o"`
}

// QueuePurge deletes all messages (and their claims) and/or subscriptions of
// a queue.
type QueuePurge struct {
	Project       string `msgpack:"p"`
	Queue         string `msgpack:"q"`
	Messages      bool   `msgpack:"m"`
	Subscriptions bool   `msgpack:"s"`
}

// NewMessage is one message of a MessagesPost. TTL and Delay are in seconds;
// nil means "not given" and is resolved against the queue's metadata at
// apply time (ttl: _default_message_ttl or DefaultMessageTTL; delay: only
// honoured when the queue has a truthy _default_message_delay, which is also
// the default).
type NewMessage struct {
	Body  json.RawMessage `msgpack:"b"`
	TTL   *int64          `msgpack:"t,omitempty"`
	Delay *int64          `msgpack:"d,omitempty"`
}

// MessagesPost appends messages to a queue, creating it lazily, all or
// nothing. ClientID is the canonical producer id (32 lowercase hex digits for
// a UUID). Result.IDs lists the new message ids in input order.
// Errors: CodeNoSpace when the memory budget would be exceeded.
type MessagesPost struct {
	Project  string       `msgpack:"p"`
	Queue    string       `msgpack:"q"`
	ClientID string       `msgpack:"c"`
	Messages []NewMessage `msgpack:"m"`
}

// MessagesDelete deletes the listed messages even if claimed; unknown ids are
// ignored. When ClaimIDs is non-empty every existing listed message must be
// actively claimed by one of them (else CodeForbidden, nothing deleted).
type MessagesDelete struct {
	Project  string   `msgpack:"p"`
	Queue    string   `msgpack:"q"`
	IDs      []string `msgpack:"i"`
	ClaimIDs []string `msgpack:"c,omitempty"`
}

// MessageDelete deletes one message following the table of ZAQAR-API.md
// §1.3.7 (recommended column): missing message -> ok; no ClaimID and actively
// claimed -> CodeForbidden; ClaimID given and message not actively claimed ->
// CodeBadRequest; claimed by another claim -> CodeForbidden.
type MessageDelete struct {
	Project string `msgpack:"p"`
	Queue   string `msgpack:"q"`
	ID      string `msgpack:"i"`
	ClaimID string `msgpack:"c,omitempty"`
}

// MessagesPop removes up to Limit of the oldest available (unexpired,
// unclaimed, not delayed) messages and returns them in Result.Messages.
type MessagesPop struct {
	Project string `msgpack:"p"`
	Queue   string `msgpack:"q"`
	Limit   int    `msgpack:"l"`
}

// ClaimCreate claims up to Limit of the oldest available messages for TTL
// seconds, applying the grace rule and dead-lettering (§4.3, §4.6).
// Result.ClaimID is empty and Result.Messages nil when nothing was claimed.
type ClaimCreate struct {
	Project string `msgpack:"p"`
	Queue   string `msgpack:"q"`
	Limit   int    `msgpack:"l"`
	TTL     int64  `msgpack:"t"`
	Grace   int64  `msgpack:"g"`
}

// ClaimUpdate renews an active claim: expiry = now+TTL, age reset, grace rule
// re-applied. Errors: CodeNotFound when missing or expired.
type ClaimUpdate struct {
	Project string `msgpack:"p"`
	Queue   string `msgpack:"q"`
	ClaimID string `msgpack:"c"`
	TTL     int64  `msgpack:"t"`
	Grace   int64  `msgpack:"g"`
}

// ClaimDelete releases a claim; its messages become available at once.
// Releasing an unknown claim succeeds.
type ClaimDelete struct {
	Project string `msgpack:"p"`
	Queue   string `msgpack:"q"`
	ClaimID string `msgpack:"c"`
}

// Sweep removes expired messages and claims, outbox entries and
// subscriptions (with their delivery state) whose expiry is <= the command's
// time. Proposed periodically by the leader. Limit bounds the number of
// messages removed per entry, and separately the outbox entries and the
// subscriptions (0 = no bound).
type Sweep struct {
	Limit int `msgpack:"l,omitempty"`
}

// Source kinds of a subscription: what it listens on.
const (
	SourceQueue = "queue"
	SourceTopic = "topic"
)

// SubscriptionCreate subscribes Subscriber (a URI) to a source for TTL
// seconds (0 yields an already expired subscription, as in Zaqar; httpapi
// resolves the default). A queue source is created lazily, before anything
// else is checked (Zaqar's order). Options are stored verbatim (an empty map
// is stored as none). Secret is the subscription's HMAC key, generated by the
// API node from a cryptographic random source, so that Apply stays
// deterministic. Result.Created tells a new subscription from an unconfirmed
// duplicate (same project, kind, source and subscriber), whose id is
// returned with its ttl and options untouched; a confirmed duplicate is
// CodeConflict, also with Result.SubscriptionID set.
type SubscriptionCreate struct {
	Project    string                     `msgpack:"p"`
	SourceKind string                     `msgpack:"k"`
	Source     string                     `msgpack:"s"`
	Subscriber string                     `msgpack:"u"`
	TTL        int64                      `msgpack:"t"`
	Options    map[string]json.RawMessage `msgpack:"o,omitempty"`
	Secret     []byte                     `msgpack:"h,omitempty"`
	// SubscriberProject and SubscriberUser identify the caller of a topic
	// subscription made by another project than the topic's owner (Project):
	// the topic's subscribe ACL is checked against them and the subscription
	// records SubscriberProject. Empty (or equal to Project) = the owner.
	// Ignored for queue sources.
	SubscriberProject string `msgpack:"sp,omitempty"`
	SubscriberUser    string `msgpack:"su,omitempty"`
}

// SubscriptionUpdate changes a subscription of the given source. A nil field
// is left unchanged; a non-nil Options (even empty) replaces the options
// wholesale; a new TTL restarts the clock (Expires = now + TTL).
// Errors: CodeNotFound (unknown or expired id, or another source/project),
// CodeConflict (Subscriber duplicates another subscription of the source).
type SubscriptionUpdate struct {
	Project    string  `msgpack:"p"`
	SourceKind string  `msgpack:"k"`
	Source     string  `msgpack:"s"`
	ID         string  `msgpack:"i"`
	Subscriber *string `msgpack:"u,omitempty"`
	TTL        *int64  `msgpack:"t,omitempty"`
	// Options has no omitempty: an empty non-nil map must survive encoding.
	Options map[string]json.RawMessage `msgpack:"o"`
}

// SubscriptionDelete deletes a subscription of the given source with its
// delivery state. It always succeeds.
type SubscriptionDelete struct {
	Project    string `msgpack:"p"`
	SourceKind string `msgpack:"k"`
	Source     string `msgpack:"s"`
	ID         string `msgpack:"i"`
}

// SubscriptionConfirm sets a subscription's confirmed flag. Like Zaqar's
// mongo store it matches on project and id only. Errors: CodeNotFound.
type SubscriptionConfirm struct {
	Project   string `msgpack:"p"`
	ID        string `msgpack:"i"`
	Confirmed bool   `msgpack:"c"`
}

// Assignment gives one subscription to a dispatcher node ("" = nobody).
type Assignment struct {
	SubscriptionID string `msgpack:"i"`
	Owner          string `msgpack:"o"`
}

// Assign records the dispatcher coordinator's ownership decisions. It is
// accepted only when Epoch is greater than the current assignment epoch
// (else CodeConflict "stale epoch"); it then becomes the current epoch and
// every listed, stored subscription gets Owner and OwnerEpoch = Epoch
// (unknown ids are skipped; a repeated id: the last change wins).
type Assign struct {
	Epoch   uint64       `msgpack:"e"`
	Changes []Assignment `msgpack:"c,omitempty"`
}

// FailedDelivery reports an outbox entry that exhausted its retries.
type FailedDelivery struct {
	Seq       uint64 `msgpack:"s"`
	MessageID string `msgpack:"i"`
	Error     string `msgpack:"e,omitempty"`
	Attempts  int    `msgpack:"a,omitempty"`
}

// Ack records the delivery progress of one subscription. It is accepted only
// from the current owner (Owner and Epoch equal the subscription's Owner and
// OwnerEpoch, Owner non-empty), else CodeForbidden "not the owner"; an
// unknown or expired subscription is CodeNotFound. Cursor (the last outbox
// seq handled) only moves forward and never past the source's tail; the
// counters add up; LastError/LastErrorAt (the worker's wall time, 0 = FSM
// time) are recorded when LastError is set. Each failure is kept in the
// subscription's recent-failure ring and, when its options name a
// dead-letter queue ("_dead_letter_queue"), the entry's body is posted there.
// A failure must be reported in the same Ack as (or before) the cursor that
// passes it: entries behind every cursor are removed at once.
// Result.Cursor is the cursor afterwards, Result.IDs the dead-letter ids.
type Ack struct {
	SubscriptionID string           `msgpack:"i"`
	Owner          string           `msgpack:"o"`
	Epoch          uint64           `msgpack:"e"`
	Cursor         uint64           `msgpack:"c,omitempty"`
	Delivered      uint64           `msgpack:"d,omitempty"`
	Skipped        uint64           `msgpack:"k,omitempty"` // entries passed over on purpose (e.g. unconfirmed)
	Failed         []FailedDelivery `msgpack:"f,omitempty"`
	LastError      string           `msgpack:"l,omitempty"`
	LastErrorAt    int64            `msgpack:"a,omitempty"`
	// ConfirmSent reports that the confirmation request with this number
	// (SubscriptionInfo.ConfirmRequested) was sent or given up: the
	// subscription's ConfirmSent takes max(old, min(given, requested)).
	ConfirmSent uint64 `msgpack:"cs,omitempty"`
}

// TopicCreate creates a topic with the given metadata (validated with
// ValidateTopicMetadata). Creating an existing topic succeeds with
// Result.Created=false and leaves its metadata untouched.
type TopicCreate struct {
	Project  string                     `msgpack:"p"`
	Topic    string                     `msgpack:"q"`
	Metadata map[string]json.RawMessage `msgpack:"m,omitempty"`
}

// TopicDelete deletes a topic with its messages (its outbox). Its
// subscriptions stay, as a queue's do (§4.8): a topic re-created (e.g.
// lazily by a post) feeds them again. Deleting a missing topic succeeds.
type TopicDelete struct {
	Project string `msgpack:"p"`
	Topic   string `msgpack:"q"`
}

// TopicPatch applies JSON-patch operations to an existing topic's metadata
// like QueuePatch. replace/remove of an absent key is lenient for the
// three reserved defaults of topics, the ACL keys and _retry_policy.
// Result.Metadata holds the stored metadata afterwards.
type TopicPatch struct {
	Project string    `msgpack:"p"`
	Topic   string    `msgpack:"q"`
	Ops     []PatchOp `msgpack:"o"`
}

// TopicPurge deletes the messages (outbox entries) and/or subscriptions of
// a topic; a missing topic is fine.
type TopicPurge struct {
	Project       string `msgpack:"p"`
	Topic         string `msgpack:"q"`
	Messages      bool   `msgpack:"m"`
	Subscriptions bool   `msgpack:"s"`
}

// TopicMessagesPost publishes messages to the topic Topic of project
// Project (its owner), all or nothing: each becomes one outbox entry of the
// source (Project, "topic", Topic), stored whether or not anyone subscribes.
// The owner project creates the topic lazily; another project
// (SenderProject non-empty and different) must address an existing topic
// (CodeNotFound) and pass its sending ACL (CodeForbidden). TTL and delay
// resolve against the topic's metadata as for queues. Result.IDs lists the
// new message ids in input order. Errors: CodeNoSpace (memory budget).
type TopicMessagesPost struct {
	Project       string       `msgpack:"p"`
	Topic         string       `msgpack:"q"`
	SenderProject string       `msgpack:"sp,omitempty"`
	SenderUser    string       `msgpack:"su,omitempty"`
	Messages      []NewMessage `msgpack:"m"`
}

// TopicMessagesDelete deletes the listed topic messages (they are then
// delivered to nobody who has not received them yet); unknown ids are
// ignored.
type TopicMessagesDelete struct {
	Project string   `msgpack:"p"`
	Topic   string   `msgpack:"q"`
	IDs     []string `msgpack:"i"`
}
