package fsm

import "encoding/json"

// Helpers shared by the queue and topic apply code.

// createMeta is the body of queueCreate and topicCreate: names and metadata
// are validated first (as Zaqar's handler does), then an existing resource
// is ok with the metadata ignored and a new one is made by create.
func (s *state) createMeta(project, name string, md map[string]json.RawMessage,
	validate func(map[string]json.RawMessage) error, exists bool, create func(meta map[string]json.RawMessage)) Result {
	if err := checkNames(project, name); err != nil {
		return errResult(err)
	}
	if err := validate(md); err != nil {
		return errResult(err)
	}
	if exists {
		return Result{}
	}
	var meta map[string]json.RawMessage
	if len(md) > 0 {
		meta = copyMeta(md)
	}
	create(meta)
	return Result{Created: true}
}

// patchMeta applies JSON-patch operations to a copy of meta, all or
// nothing (§1.2.4), and validates the result. lenient reports the keys that
// may be replaced or removed although they are not stored. The patched
// metadata is nil when empty.
func patchMeta(meta map[string]json.RawMessage, ops []PatchOp, lenient func(string) bool,
	validate func(map[string]json.RawMessage) error) (map[string]json.RawMessage, error) {
	md := copyMeta(meta)
	if md == nil {
		md = map[string]json.RawMessage{}
	}
	for _, op := range ops {
		_, stored := md[op.Key]
		switch op.Op {
		case "add", "replace":
			if len(op.Value) == 0 {
				return nil, Errorf(CodeBadRequest, "Missing value for %s operation on %s.", op.Op, op.Key)
			}
			if op.Op == "replace" && !stored && !lenient(op.Key) {
				return nil, Errorf(CodeConflict, "Can't replace non-existent object %s.", op.Key)
			}
			md[op.Key] = op.Value
		case "remove":
			if stored {
				delete(md, op.Key)
			} else if !lenient(op.Key) {
				return nil, Errorf(CodeConflict, "Can't remove non-existent object %s.", op.Key)
			}
		default:
			return nil, Errorf(CodeBadRequest, "Invalid operation %q: must be add, replace or remove.", op.Op)
		}
	}
	if err := validate(md); err != nil {
		return nil, err
	}
	if len(md) == 0 {
		md = nil
	}
	return md, nil
}

// metaResult is the answer of a patch: a copy of md, never nil.
func metaResult(md map[string]json.RawMessage) Result {
	out := copyMeta(md)
	if out == nil {
		out = map[string]json.RawMessage{}
	}
	return Result{Metadata: out}
}

// resolvedMsg is a posted message's ttl and delay after the defaults of
// its queue or topic.
type resolvedMsg struct{ ttl, delay int64 }

// resolveMessages applies cfg's defaults to posted messages and checks
// their ttl and delay; size is the total of their bodies. res is appended
// to dst (which may be a caller's stack buffer).
func resolveMessages(cfg queueCfg, msgs []NewMessage, dst []resolvedMsg) (res []resolvedMsg, size int64, err error) {
	res = dst[:0]
	for i, nm := range msgs {
		ttl := int64(DefaultMessageTTL)
		switch {
		case nm.TTL != nil:
			ttl = *nm.TTL
		case cfg.defaultTTL > 0:
			ttl = cfg.defaultTTL
		}
		if ttl <= 0 || ttl > maxGuardSeconds {
			return nil, 0, Errorf(CodeBadRequest, "Message %d: ttl %d is out of range (1 to %d seconds).", i, ttl, int64(maxGuardSeconds))
		}
		var delay int64
		if cfg.delay > 0 {
			delay = cfg.delay
			if nm.Delay != nil {
				delay = *nm.Delay
			}
			if delay < 0 || delay > maxGuardSeconds {
				return nil, 0, Errorf(CodeBadRequest, "Message %d: delay %d is out of range (0 to %d seconds).", i, delay, int64(maxGuardSeconds))
			}
		}
		res = append(res, resolvedMsg{ttl, delay})
		size += int64(len(nm.Body))
	}
	return res, size, nil
}

// budgetUsed is what the memory budget (Config.MaxBodyBytes) limits: the
// bodies of stored messages, of outbox entries no stored message shares,
// and the bodies and metadata held by remembered results (dedupe.go).
func (s *state) budgetUsed() int64 {
	return s.bodyBytes + s.outboxBytes + s.dedupe.bytes
}

// checkBudget fails when storing size more bytes of bodies would exceed
// the memory budget.
func (s *state) checkBudget(size int64) error {
	if s.maxBody > 0 && s.budgetUsed()+size > s.maxBody {
		return Errorf(CodeNoSpace,
			"Memory budget exhausted: storing %d more bytes of message bodies would exceed the limit of %d bytes (%d in use).",
			size, s.maxBody, s.budgetUsed())
	}
	return nil
}

// listSubs returns up to limit (0 = DefaultPageSize) unexpired
// subscriptions of a source that keep admits, with ids greater than marker,
// ordered by id.
func (s *State) listSubs(project, kind, source, marker string, limit int, now int64, keep func(*subscription) bool) []SubscriptionInfo {
	src := s.st.sources[sourceKey{project, kind, source}]
	if src == nil {
		return nil
	}
	if limit <= 0 {
		limit = DefaultPageSize
	}
	var page []SubscriptionInfo
	src.subs.AscendGreaterOrEqual(marker, func(id string) bool {
		if id == marker {
			return true
		}
		if sub := s.st.subs[id]; sub.Expires > now && keep(sub) {
			page = append(page, s.st.info(sub))
		}
		return len(page) < limit
	})
	return page
}
