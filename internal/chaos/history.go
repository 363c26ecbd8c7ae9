package chaos

import (
	"encoding/json"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome classifies how an operation ended.
type Outcome string

// Outcomes. Unknown means the operation may or may not have taken effect
// (timeout, 5xx, 503, connection error).
const (
	OK      Outcome = "ok"
	Fail    Outcome = "fail"
	Unknown Outcome = "unknown"
)

// Op kinds.
const (
	OpPost   = "post"
	OpList   = "list"
	OpClaim  = "claim"
	OpDelete = "delete"
	OpPop    = "pop"
	OpDrain  = "drain"
)

// MsgRef is a message as an operation saw it.
type MsgRef struct {
	ID      string `json:"id"`
	Token   string `json:"token,omitempty"`
	ClaimID string `json:"claim_id,omitempty"`
}

// Op is one recorded operation. Times are nanoseconds since the run began;
// Return is the completion time also for unknown outcomes (when the client
// gave up).
type Op struct {
	Seq     int      `json:"seq"`
	Worker  int      `json:"worker"`
	Node    string   `json:"node"`
	Kind    string   `json:"kind"`
	Queue   string   `json:"queue"`
	Call    int64    `json:"call"`
	Return  int64    `json:"return"`
	Outcome Outcome  `json:"outcome"`
	Status  int      `json:"status,omitempty"`
	Err     string   `json:"err,omitempty"`
	Tokens  []string `json:"tokens,omitempty"`   // post: bodies sent
	N       int      `json:"n,omitempty"`        // pop/claim limit
	TTL     int      `json:"ttl,omitempty"`      // claim ttl (s)
	Target  string   `json:"target,omitempty"`   // delete: message id
	ClaimID string   `json:"claim_id,omitempty"` // claim result / delete arg
	Msgs    []MsgRef `json:"msgs,omitempty"`     // post ids, claim/pop/list results

	// Lin writes only (see linwork.go): the Idempotency-Key sent, and for
	// a write whose first answer was unknown and that a retry with the
	// same key resolved, when and how the first attempt ended, how many
	// retries it took and which node answered the last one.
	IdemKey     string `json:"idem_key,omitempty"`
	FirstReturn int64  `json:"first_return,omitempty"`
	FirstErr    string `json:"first_err,omitempty"`
	Retries     int    `json:"retries,omitempty"`
	ResolvedBy  string `json:"resolved_by,omitempty"`
}

// Event is a fault or other note on the run's time line.
type Event struct {
	At   int64  `json:"at"`
	What string `json:"what"`
}

// History is the concurrent-safe record of a run.
type History struct {
	start  time.Time
	writes atomic.Int64 // write calls of the workload (see CountWrite)
	mu     sync.Mutex
	Ops    []Op    `json:"ops"`
	Events []Event `json:"events"`
}

// NewHistory starts the clock.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the current run time in nanoseconds.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// CountWrite counts one write call of the workload (its retries, which
// reuse its Idempotency-Key, are not counted again).
func (h *History) CountWrite() { h.writes.Add(1) }

// Writes is the number of write calls counted so far.
func (h *History) Writes() int64 { return h.writes.Load() }

// Add records op and returns its sequence number.
func (h *History) Add(op Op) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Seq = len(h.Ops)
	h.Ops = append(h.Ops, op)
	return op.Seq
}

// Note records an event.
func (h *History) Note(what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Events = append(h.Events, Event{At: h.Now(), What: what})
}

// Snapshot returns a copy of the operations.
func (h *History) Snapshot() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.Ops...)
}

// Counts returns ok, fail and unknown totals.
func (h *History) Counts() (ok, fail, unknown int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.Ops {
		switch o.Outcome {
		case OK:
			ok++
		case Fail:
			fail++
		default:
			unknown++
		}
	}
	return
}

// WriteJSON writes the history to path.
func (h *History) WriteJSON(path string) error {
	h.mu.Lock()
	b, err := json.MarshalIndent(struct {
		Ops    []Op    `json:"ops"`
		Events []Event `json:"events"`
	}{h.Ops, h.Events}, "", " ")
	h.mu.Unlock()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o640)
}

// ReadHistory loads the operations of a history written by WriteJSON.
func ReadHistory(path string) ([]Op, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Ops []Op `json:"ops"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	return doc.Ops, nil
}
