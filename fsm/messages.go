package fsm

// maxGuardSeconds bounds every TTL, delay and grace the FSM accepts (about
// 68 years) so that time arithmetic can never overflow. httpapi enforces the
// much tighter Zaqar limits; this is only a guard.
const maxGuardSeconds = 1<<31 - 1

// messagesPost appends messages, lazily creating the queue; all or nothing.
// When the queue has a live subscription, each message also gets an outbox
// entry (outbox.go).
func (s *state) messagesPost(c *applyCtx, p *MessagesPost) Result {
	if err := checkNames(p.Project, p.Queue); err != nil {
		return errResult(err)
	}
	if len(p.Messages) == 0 {
		return errResult(Errorf(CodeBadRequest, "No messages to enqueue."))
	}
	q := s.queue(p.Project, p.Queue)
	var cfg queueCfg
	if q != nil {
		cfg = q.cfg
	}
	var resBuf [16]resolvedMsg
	res, size, err := resolveMessages(cfg, p.Messages, resBuf[:0])
	if err != nil {
		return errResult(err)
	}
	// A source with a live subscription also gets an outbox entry per
	// message, sharing its body (counted once, outbox.go).
	src := s.liveSource(sourceKey{p.Project, SourceQueue, p.Queue}, c.now)
	if err := s.checkBudget(size); err != nil {
		return errResult(err)
	}
	if q == nil {
		q = s.createQueue(p.Project, p.Queue, nil)
	}
	client := intern(p.ClientID)
	c.run = idRun{mid{c.index, c.n}, uint32(len(p.Messages))}
	ids := formatRun(c.run.first, len(p.Messages))
	for i, nm := range p.Messages {
		id := c.mintID() // = the run's i-th
		// The body takes over the bytes decoded for this command (they
		// belong to p, which nothing else sees): one allocation per body.
		m := msg{
			body:    stringOf(nm.Body),
			client:  client,
			idx:     id.idx,
			n:       id.n,
			ttl:     res[i].ttl,
			created: c.now,
			expires: addSeconds(c.now, res[i].ttl),
			availAt: addSeconds(c.now, res[i].delay),
			// outboxed: set now, so that addEntry need not update it
			outboxed: src != nil,
		}
		s.addMsg(q, m)
		if src != nil {
			var delay *int64
			if cfg.delay > 0 {
				d := res[i].delay // a copy, so that res does not escape
				delay = &d
			}
			s.appendOutbox(src, ids[i], &m, delay)
		}
	}
	return Result{IDs: ids}
}

// messageDelete deletes one message per the recommended column of §1.3.7.
func (s *state) messageDelete(c *applyCtx, p *MessageDelete) Result {
	q := s.queue(p.Project, p.Queue)
	if q == nil {
		return Result{}
	}
	m := q.getMsg(p.ID)
	if m == nil {
		return Result{}
	}
	active := m.active(c.now)
	cid, _ := parseID(p.ClaimID)
	switch {
	case p.ClaimID == "":
		if active {
			return errResult(Errorf(CodeForbidden, "This message is claimed; it cannot be deleted without a valid claim ID."))
		}
	case !ValidID(p.ClaimID):
		return errResult(Errorf(CodeBadRequest, "The specified claim does not exist or has expired."))
	case !active:
		return errResult(Errorf(CodeBadRequest, "A claim was specified, but the message is not currently claimed."))
	case m.claimID() != cid:
		return errResult(Errorf(CodeForbidden, "This message is claimed by another client; it cannot be deleted with the claim ID given."))
	}
	s.dropMsg(q, m.id())
	return Result{}
}

// messagesDelete deletes listed messages even if claimed, unless ClaimIDs
// is given: then every existing listed message must be actively claimed by
// one of them, else nothing is deleted.
func (s *state) messagesDelete(c *applyCtx, p *MessagesDelete) Result {
	q := s.queue(p.Project, p.Queue)
	if q == nil {
		return Result{}
	}
	var found []*msg // valid until the first change of q
	for _, id := range p.IDs {
		if m := q.getMsg(id); m != nil {
			found = append(found, m)
		}
	}
	if len(p.ClaimIDs) > 0 {
		allowed := make(map[mid]bool, len(p.ClaimIDs))
		for _, cid := range p.ClaimIDs {
			if id, ok := parseID(cid); ok {
				allowed[id] = true
			}
		}
		for _, m := range found {
			if !m.active(c.now) || !allowed[m.claimID()] {
				return errResult(Errorf(CodeForbidden, "Message %s is not claimed by any of the given claim IDs; nothing was deleted.", m.id()))
			}
		}
	}
	drop := make([]mid, len(found))
	for i, m := range found {
		drop[i] = m.id()
	}
	for _, id := range drop {
		s.dropMsg(q, id) // ids may repeat: a second drop finds nothing
	}
	return Result{}
}

// messagesPop removes up to Limit of the oldest available messages.
func (s *state) messagesPop(c *applyCtx, p *MessagesPop) Result {
	q := s.queue(p.Project, p.Queue)
	if q == nil || p.Limit <= 0 {
		return Result{}
	}
	s.reapClaims(q, c.now)
	picked := q.pickAvailable(p.Limit, c.now)
	if len(picked) == 0 {
		return Result{}
	}
	out := make([]Message, len(picked))
	for i := range picked {
		s.dropMsg(q, picked[i].id())
		out[i] = picked[i].view(c.now)
	}
	return Result{Messages: out}
}

// pickAvailable returns copies of up to limit of the oldest available
// messages. It visits only messages without a claim (msgTree.ascendFree),
// so actively claimed messages cost nothing; callers reap expired claims
// first.
func (q *queue) pickAvailable(limit int, now int64) []msg {
	out := make([]msg, 0, min(limit, q.msgs.free(), MaxMessagesPerClaimPop))
	q.msgs.ascendFree(func(m *msg) bool {
		if q.available(m, now) {
			out = append(out, *m)
		}
		return len(out) < limit
	})
	return out
}

// ListMessages returns a page of messages in post order and the marker of the
// last one returned ("" when the page is empty). Cost: O(log n + page +
// skipped).
func (s *State) ListMessages(project, queue string, o ListOptions, now int64) (page []Message, marker string) {
	q := s.st.queue(project, queue)
	if q == nil {
		return nil, ""
	}
	var from mid
	if o.Marker != "" {
		var ok bool
		if from, ok = parseID(o.Marker); !ok {
			return nil, ""
		}
	}
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	delayFilter := q.cfg.delay > 0 && !o.IncludeDelayed
	q.msgs.ascend(from, func(m *msg) bool {
		switch {
		case o.Marker != "" && m.id() == from:
		case m.expires <= now:
		case !o.Echo && o.ClientID != "" && m.clientID() == o.ClientID:
		case !o.IncludeClaimed && m.active(now):
		case delayFilter && m.availAt > now:
		default:
			page = append(page, m.view(now))
		}
		return len(page) < limit
	})
	if len(page) == 0 {
		return nil, ""
	}
	return page, page[len(page)-1].ID
}

// GetMessages returns the existing, unexpired messages among ids, in the
// order of ids; malformed, unknown and repeated ids are skipped.
func (s *State) GetMessages(project, queue string, ids []string, now int64) []Message {
	q := s.st.queue(project, queue)
	if q == nil {
		return nil
	}
	var out []Message
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if m := q.getMsg(id); m != nil && m.expires > now {
			out = append(out, m.view(now))
		}
	}
	return out
}

// Stats returns the queue's message counts: Total counts unexpired messages,
// Claimed those held by an active claim, Free the rest (delayed included).
// Cost: O(log n + claimed) plus O(log n) per expired-but-unswept message
// (msgTree.countExpired).
func (s *State) Stats(project, queue string, now int64) Stats {
	q := s.st.queue(project, queue)
	if q == nil {
		return Stats{}
	}
	var st Stats
	st.Total = q.msgs.Len() - q.msgs.countExpired(now)
	for _, c := range q.claims {
		if c.Expires <= now {
			continue
		}
		cid, _ := parseID(c.ID)
		for _, id := range c.MsgIDs {
			if m := q.getMsg(id); m != nil && m.heldBy(cid) && m.expires > now {
				st.Claimed++
			}
		}
	}
	st.Free = st.Total - st.Claimed
	if st.Total == 0 {
		return st
	}
	q.msgs.ascend(mid{}, func(m *msg) bool {
		if m.expires > now {
			v := m.view(now)
			st.Oldest = &v
			return false
		}
		return true
	})
	q.msgs.descend(func(m *msg) bool {
		if m.expires > now {
			v := m.view(now)
			st.Newest = &v
			return false
		}
		return true
	})
	return st
}
