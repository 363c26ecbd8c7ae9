package fsm

// THIS FILE IS A PLACEHOLDER for the API contract; the fsm implementation
// replaces it. Signatures here are the contract other packages code against.

import (
	"encoding/json"
	"io"
)

// Config configures an FSM.
type Config struct {
	// MaxBodyBytes is the memory budget: the total bytes of stored message
	// bodies. A post that would exceed it fails with CodeNoSpace. 0 = unlimited.
	MaxBodyBytes int64
	// DedupeWindow is how many recent RequestIDs are remembered (default 10000).
	DedupeWindow int
}

// FSM is Herald's replicated state machine. Apply methods are called by a
// single goroutine (raft's); read methods may be called concurrently.
type FSM struct{}

// New returns an empty FSM.
func New(cfg Config) *FSM { panic("unimplemented") }

// ApplyEntry decodes and applies one raft log entry at index. It never reads
// a clock. An undecodable entry panics (the log is corrupt).
func (f *FSM) ApplyEntry(index uint64, data []byte) *Result { panic("unimplemented") }

// Snapshot captures the current state cheaply; the returned function streams
// it to w and may run concurrently with later ApplyEntry calls.
func (f *FSM) Snapshot() (persist func(w io.Writer) error, err error) { panic("unimplemented") }

// Restore replaces the whole state with the snapshot read from r.
func (f *FSM) Restore(r io.Reader) error { panic("unimplemented") }

// Digest returns a hex SHA-256 over a canonical traversal of the state.
func (f *FSM) Digest() string { panic("unimplemented") }

// AppliedIndex returns the index of the last applied entry.
func (f *FSM) AppliedIndex() uint64 { panic("unimplemented") }

// LastNow returns the FSM time (unix ns) of the last applied command.
func (f *FSM) LastNow() int64 { panic("unimplemented") }

// Read runs fn with a consistent read-only view of the state, under the
// readers' lock. fn must not retain the *State.
func (f *FSM) Read(fn func(s *State)) { panic("unimplemented") }

// State is the read-only view passed to FSM.Read. All methods take the
// reader's time now (unix ns) to filter expired messages and claims.
type State struct{}

// Queue returns a queue's info.
func (s *State) Queue(project, name string) (QueueInfo, bool) { panic("unimplemented") }

// ListQueues returns a page of the project's queues sorted by name, and the
// total number of queues in the project (ignoring filters).
func (s *State) ListQueues(project string, o QueueListOptions) (page []QueueInfo, total int) {
	panic("unimplemented")
}

// ListMessages returns a page of messages in post order and the marker of the
// last one returned ("" when the page is empty).
func (s *State) ListMessages(project, queue string, o ListOptions, now int64) (page []Message, marker string) {
	panic("unimplemented")
}

// GetMessages returns the existing, unexpired messages among ids, in the
// order of ids; malformed and unknown ids are skipped.
func (s *State) GetMessages(project, queue string, ids []string, now int64) []Message {
	panic("unimplemented")
}

// Claim returns an active claim of the queue.
func (s *State) Claim(project, queue, claimID string, now int64) (ClaimInfo, bool) {
	panic("unimplemented")
}

// Stats returns the queue's message counts.
func (s *State) Stats(project, queue string, now int64) Stats { panic("unimplemented") }

// ValidID reports whether s has the syntax of a message, claim or
// subscription id.
func ValidID(s string) bool { panic("unimplemented") }

// ValidateQueueMetadata checks reserved keys of a queue's metadata (§3) and
// returns a CodeBadRequest *Error describing the first problem.
func ValidateQueueMetadata(md map[string]json.RawMessage) error { panic("unimplemented") }
