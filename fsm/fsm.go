package fsm

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vmihailenco/msgpack/v5"
)

// Config configures an FSM. Every replica of a cluster must use the same
// values: they influence results.
type Config struct {
	// MaxBodyBytes is the memory budget: the total bytes of stored message
	// bodies, of outbox entries (a body shared by a message and its entry
	// counts once) and of the bodies and metadata held by the results the
	// dedupe window remembers. A post that would exceed it fails with
	// CodeNoSpace. 0 = unlimited.
	MaxBodyBytes int64
	// DedupeWindow is how many recent RequestIDs are remembered (0 means
	// DefaultDedupeWindow).
	DedupeWindow int
}

// FSM is Herald's replicated state machine. Apply methods are called by a
// single goroutine (raft's); read methods may be called concurrently.
type FSM struct {
	cfg Config

	// mu guards st (the pointer and everything reachable from it: projects,
	// queues, their trees, maps and claims, the dedupe window and the
	// counters). ApplyEntry, Snapshot (which clones trees, a mutation) and
	// Restore's swap hold it for writing; Read and Digest for reading.
	mu sync.RWMutex
	st *state

	// applied and lastNow mirror st.applied and st.lastNow so status
	// endpoints can read them without the lock. They are stored only while
	// mu is held for writing.
	applied atomic.Uint64
	lastNow atomic.Int64
}

// New returns an empty FSM.
func New(cfg Config) *FSM {
	if cfg.DedupeWindow <= 0 {
		cfg.DedupeWindow = DefaultDedupeWindow
	}
	return &FSM{cfg: cfg, st: newState(cfg)}
}

// ApplyEntry decodes and applies one raft log entry at index. It never reads
// a clock. An undecodable entry panics (the log is corrupt). The returned
// Result is the caller's to keep (its slices and maps are copies; message
// bodies are shared and must not be modified).
//
// data must not be modified while ApplyEntry runs (commands are decoded in
// place, see decode.go); nothing refers to it once ApplyEntry returns.
func (f *FSM) ApplyEntry(index uint64, data []byte) *Result {
	cmd, err := decodeEntry(data)
	if err != nil {
		panic(fmt.Sprintf("fsm: undecodable log entry at index %d: %v", index, err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res := f.st.applyEntry(index, &cmd)
	f.applied.Store(f.st.applied)
	f.lastNow.Store(f.st.lastNow)
	return res
}

// AppliedIndex returns the index of the last applied entry.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// LastNow returns the FSM time (unix ns) of the last applied command.
func (f *FSM) LastNow() int64 { return f.lastNow.Load() }

// Read runs fn with a consistent read-only view of the state, under the
// readers' lock. fn must not retain the *State.
func (f *FSM) Read(fn func(s *State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(&State{st: f.st})
}

// applyEntry applies one decoded entry: FSM time is max(cmd.Now, lastNow).
func (s *state) applyEntry(index uint64, cmd *Command) *Result {
	now := cmd.Now
	if now < s.lastNow {
		now = s.lastNow
	}
	s.lastNow = now
	s.applied = index
	c := &applyCtx{index: index, now: now}
	r := s.apply(c, cmd)
	return &r
}

// apply applies one command (top-level or inside a Batch), consulting the
// dedupe window first when the command carries a RequestID. The result is
// the caller's: it shares no slice or map with the dedupe window (message
// bodies aside, which nobody modifies).
func (s *state) apply(c *applyCtx, cmd *Command) Result {
	if cmd.RequestID != "" {
		if r, ok := s.dedupe.get(cmd.RequestID); ok {
			return cloneResult(r)
		}
	}
	c.run = idRun{}
	r := s.dispatch(c, cmd)
	if cmd.RequestID == "" {
		return r
	}
	// The id was absent above; only a batch can have added it since (an
	// inner command with the same RequestID).
	var shared bool
	if cmd.Type == CmdBatch {
		shared = s.dedupe.put(cmd.RequestID, &r, c.run)
	} else {
		shared = s.dedupe.add(cmd.RequestID, &r, c.run)
	}
	if shared {
		r = cloneResult(&r)
	}
	return r
}

// dispatch is the single dispatch point from command type to apply code.
func (s *state) dispatch(c *applyCtx, cmd *Command) Result {
	p := cmd.Payload
	// The hot payloads decode in place (decode.go), directly into a local
	// that stays on the stack; the others through msgpack's reflection.
	switch cmd.Type {
	case CmdBatch:
		var x Batch
		if len(p) > 0 && x.decodeInPlace(p) != nil {
			return malformed("fsm.Batch")
		}
		return s.applyBatch(c, &x)
	case CmdQueueCreate:
		return run(s, c, p, (*state).queueCreate)
	case CmdQueueDelete:
		return run(s, c, p, (*state).queueDelete)
	case CmdQueuePatch:
		return run(s, c, p, (*state).queuePatch)
	case CmdQueuePurge:
		return run(s, c, p, (*state).queuePurge)
	case CmdMessagesPost:
		var x MessagesPost
		if len(p) > 0 && x.decodeInPlace(p) != nil {
			return malformed("fsm.MessagesPost")
		}
		return s.messagesPost(c, &x)
	case CmdMessagesDel:
		var x MessagesDelete
		if len(p) > 0 && x.decodeInPlace(p) != nil {
			return malformed("fsm.MessagesDelete")
		}
		return s.messagesDelete(c, &x)
	case CmdMessageDel:
		var x MessageDelete
		if len(p) > 0 && x.decodeInPlace(p) != nil {
			return malformed("fsm.MessageDelete")
		}
		return s.messageDelete(c, &x)
	case CmdMessagesPop:
		return run(s, c, p, (*state).messagesPop)
	case CmdClaimCreate:
		var x ClaimCreate
		if len(p) > 0 && x.decodeInPlace(p) != nil {
			return malformed("fsm.ClaimCreate")
		}
		return s.claimCreate(c, &x)
	case CmdClaimUpdate:
		return run(s, c, p, (*state).claimUpdate)
	case CmdClaimDelete:
		return run(s, c, p, (*state).claimDelete)
	case CmdSweep:
		return run(s, c, p, (*state).sweep)
	case CmdNoop:
		return Result{}
	case CmdSubscriptionCreate:
		return run(s, c, p, (*state).subscriptionCreate)
	case CmdSubscriptionUpdate:
		return run(s, c, p, (*state).subscriptionUpdate)
	case CmdSubscriptionDelete:
		return run(s, c, p, (*state).subscriptionDelete)
	case CmdSubscriptionConfirm:
		return run(s, c, p, (*state).subscriptionConfirm)
	case CmdAssign:
		return run(s, c, p, (*state).assign)
	case CmdAck:
		return run(s, c, p, (*state).ack)
	case CmdTopicCreate:
		return run(s, c, p, (*state).topicCreate)
	case CmdTopicDelete:
		return run(s, c, p, (*state).topicDelete)
	case CmdTopicPatch:
		return run(s, c, p, (*state).topicPatch)
	case CmdTopicPurge:
		return run(s, c, p, (*state).topicPurge)
	case CmdTopicMessagesPost:
		return run(s, c, p, (*state).topicMessagesPost)
	case CmdTopicMessagesDelete:
		return run(s, c, p, (*state).topicMessagesDelete)
	}
	if cmd.Type&CmdOptionalBit != 0 {
		return Result{}
	}
	return Result{Code: CodeUnknownCommand, Msg: fmt.Sprintf("unknown command type %d", cmd.Type)}
}

// run decodes a payload of type T and calls fn. A payload that does not
// decode is a deterministic CodeBadRequest result: every replica reaches the
// same verdict, and one malformed command must not stop the whole cluster.
func run[T any](s *state, c *applyCtx, raw msgpack.RawMessage, fn func(*state, *applyCtx, *T) Result) Result {
	var p T
	if len(raw) > 0 {
		if err := msgpack.Unmarshal(raw, &p); err != nil {
			return malformed(fmt.Sprintf("%T", p))
		}
	}
	return fn(s, c, &p)
}

// malformed is the result of a payload of type typ (as %T prints it) that
// does not decode.
func malformed(typ string) Result {
	return Result{Code: CodeBadRequest, Msg: "malformed " + typ + " command payload"}
}

// applyBatch applies the inner commands in order with the entry's shared id
// counter; each gets its own Result and a failure does not affect the others.
func (s *state) applyBatch(c *applyCtx, b *Batch) Result {
	out := make([]Result, len(b.Commands))
	for i := range b.Commands {
		inner := &b.Commands[i]
		if inner.Type == CmdBatch {
			out[i] = Result{Code: CodeBadRequest, Msg: "a batch cannot contain a batch"}
			continue
		}
		out[i] = s.apply(c, inner)
	}
	c.run = idRun{} // the batch's own result has no ids
	return Result{Batch: out}
}

// cloneResult copies r deeply enough that the caller may modify the copy
// without touching the dedupe window (message bodies stay shared).
func cloneResult(r *Result) Result {
	out := *r
	if r.IDs != nil {
		out.IDs = append([]string(nil), r.IDs...)
	}
	if r.Messages != nil {
		out.Messages = append([]Message(nil), r.Messages...)
	}
	if r.Metadata != nil {
		out.Metadata = copyMeta(r.Metadata)
	}
	if r.Batch != nil {
		out.Batch = make([]Result, len(r.Batch))
		for i := range r.Batch {
			out.Batch[i] = cloneResult(&r.Batch[i])
		}
	}
	return out
}

// BodyBytes returns the quantity the memory budget (Config.MaxBodyBytes)
// limits: the bytes of stored message bodies, of outbox entry bodies not
// shared with a stored message, and of the bodies and metadata in the
// results the dedupe window remembers.
func (f *FSM) BodyBytes() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.budgetUsed()
}
