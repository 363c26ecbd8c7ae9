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
	res, size, err := resolveMessages(cfg, p.Messages)
	if err != nil {
		return errResult(err)
	}
	// A source with a live subscription also gets an outbox entry per
	// message, whose body counts against the budget too.
	src := s.liveSource(sourceKey{p.Project, SourceQueue, p.Queue}, c.now)
	if src != nil {
		size *= 2
	}
	if err := s.checkBudget(size); err != nil {
		return errResult(err)
	}
	if q == nil {
		q = s.createQueue(p.Project, p.Queue, nil)
	}
	ids := make([]string, len(p.Messages))
	for i, nm := range p.Messages {
		m := &Message{
			ID:          c.mint(),
			Body:        nm.Body,
			TTL:         res[i].ttl,
			Created:     c.now,
			Expires:     addSeconds(c.now, res[i].ttl),
			AvailableAt: addSeconds(c.now, res[i].delay),
			ClientID:    p.ClientID,
		}
		s.addMsg(q, m)
		ids[i] = m.ID
		if src != nil {
			var delay *int64
			if cfg.delay > 0 {
				d := res[i].delay // a copy, so that res does not escape
				delay = &d
			}
			s.appendOutbox(src, m, delay)
		}
	}
	return Result{IDs: ids}
}

// messageDelete deletes one message per the recommended column of §1.3.7.
func (s *state) messageDelete(c *applyCtx, p *MessageDelete) Result {
	q := s.queue(p.Project, p.Queue)
	if q == nil || !ValidID(p.ID) {
		return Result{}
	}
	m := q.getMsg(p.ID)
	if m == nil {
		return Result{}
	}
	active := claimActive(m, c.now)
	switch {
	case p.ClaimID == "":
		if active {
			return errResult(Errorf(CodeForbidden, "This message is claimed; it cannot be deleted without a valid claim ID."))
		}
	case !ValidID(p.ClaimID):
		return errResult(Errorf(CodeBadRequest, "The specified claim does not exist or has expired."))
	case !active:
		return errResult(Errorf(CodeBadRequest, "A claim was specified, but the message is not currently claimed."))
	case m.ClaimID != p.ClaimID:
		return errResult(Errorf(CodeForbidden, "This message is claimed by another client; it cannot be deleted with the claim ID given."))
	}
	s.dropMsg(q, m)
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
	var found []*Message
	for _, id := range p.IDs {
		if !ValidID(id) {
			continue
		}
		if m := q.getMsg(id); m != nil {
			found = append(found, m)
		}
	}
	if len(p.ClaimIDs) > 0 {
		allowed := make(map[string]bool, len(p.ClaimIDs))
		for _, cid := range p.ClaimIDs {
			allowed[cid] = true
		}
		for _, m := range found {
			if !claimActive(m, c.now) || !allowed[m.ClaimID] {
				return errResult(Errorf(CodeForbidden, "Message %s is not claimed by any of the given claim IDs; nothing was deleted.", m.ID))
			}
		}
	}
	for _, m := range found {
		if cur := q.getMsg(m.ID); cur != nil { // ids may repeat
			s.dropMsg(q, cur)
		}
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
	for i, m := range picked {
		s.dropMsg(q, m)
		out[i] = view(m, c.now)
	}
	return Result{Messages: out}
}

// pickAvailable returns up to limit of the oldest available messages. It
// scans only the free index (messages without a claim), so actively claimed
// messages cost nothing; callers reap expired claims first.
func (q *queue) pickAvailable(limit int, now int64) []*Message {
	var out []*Message
	q.free.Ascend(func(m *Message) bool {
		if q.available(m, now) {
			out = append(out, m)
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
	if q == nil || (o.Marker != "" && !ValidID(o.Marker)) {
		return nil, ""
	}
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	delayFilter := q.cfg.delay > 0 && !o.IncludeDelayed
	visit := func(m *Message) bool {
		switch {
		case m.ID == o.Marker:
		case m.Expires <= now:
		case !o.Echo && o.ClientID != "" && m.ClientID == o.ClientID:
		case !o.IncludeClaimed && claimActive(m, now):
		case delayFilter && m.AvailableAt > now:
		default:
			page = append(page, view(m, now))
		}
		return len(page) < limit
	}
	if o.Marker == "" {
		q.msgs.Ascend(visit)
	} else {
		q.msgs.AscendGreaterOrEqual(&Message{ID: o.Marker}, visit)
	}
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
		if !ValidID(id) || seen[id] {
			continue
		}
		seen[id] = true
		if m := q.getMsg(id); m != nil && m.Expires > now {
			out = append(out, view(m, now))
		}
	}
	return out
}

// Stats returns the queue's message counts: Total counts unexpired messages,
// Claimed those held by an active claim, Free the rest (delayed included).
// Cost: O(log n + expired-but-unswept + claimed).
func (s *State) Stats(project, queue string, now int64) Stats {
	q := s.st.queue(project, queue)
	if q == nil {
		return Stats{}
	}
	expired := 0
	q.exp.Ascend(func(k expKey) bool {
		if k.at > now {
			return false
		}
		expired++
		return true
	})
	var st Stats
	st.Total = q.msgs.Len() - expired
	for _, c := range q.claims {
		if c.Expires <= now {
			continue
		}
		for _, id := range c.MsgIDs {
			if m := q.getMsg(id); m != nil && m.ClaimID == c.ID && m.Expires > now {
				st.Claimed++
			}
		}
	}
	st.Free = st.Total - st.Claimed
	if st.Total == 0 {
		return st
	}
	q.msgs.Ascend(func(m *Message) bool {
		if m.Expires > now {
			v := view(m, now)
			st.Oldest = &v
			return false
		}
		return true
	})
	q.msgs.Descend(func(m *Message) bool {
		if m.Expires > now {
			v := view(m, now)
			st.Newest = &v
			return false
		}
		return true
	})
	return st
}
