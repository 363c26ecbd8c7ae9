package fsm

// defaultClaimLimit is the storage default of a claim's limit (§1.4.1).
const defaultClaimLimit = 10

// checkClaimTimes guards a claim's ttl and grace against absurd values.
func checkClaimTimes(ttl, grace int64) *Error {
	if ttl <= 0 || ttl > maxGuardSeconds {
		return Errorf(CodeBadRequest, "Claim ttl %d is out of range (1 to %d seconds).", ttl, int64(maxGuardSeconds))
	}
	if grace < 0 || grace > maxGuardSeconds {
		return Errorf(CodeBadRequest, "Claim grace %d is out of range (0 to %d seconds).", grace, int64(maxGuardSeconds))
	}
	return nil
}

// claimCreate claims up to Limit of the oldest available messages (§1.4.1),
// dead-lettering those that reached _max_claim_count (§4.6, recommended).
func (s *state) claimCreate(c *applyCtx, p *ClaimCreate) Result {
	if err := checkClaimTimes(p.TTL, p.Grace); err != nil {
		return errResult(err)
	}
	q := s.queue(p.Project, p.Queue)
	if q == nil {
		return Result{}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = defaultClaimLimit
	}
	s.reapClaims(q, c.now)
	picked := q.pickAvailable(limit, c.now)
	if len(picked) == 0 {
		return Result{}
	}
	cfg := q.cfg
	cid := c.mintID()
	cl := &claim{ID: cid.String(), TTL: p.TTL, Grace: p.Grace, Updated: c.now, Expires: addSeconds(c.now, p.TTL),
		MsgIDs: make([]string, 0, len(picked))}
	out := make([]Message, 0, len(picked))
	// The claimed ids' text, one allocation for all (shared by the claim
	// and the result, both immutable).
	text := stringOf(appendIDs(make([]byte, 0, idLen*len(picked)), picked))
	for i := range picked {
		m := &picked[i]
		if cfg.dlq != "" && int64(m.claims) >= cfg.maxClaims {
			s.deadLetter(c, q, m, cfg)
			continue
		}
		nm, _ := s.updateMsg(q, m.id(), func(x *msg) {
			if x.claims < maxClaimCount {
				x.claims++
			}
			x.setClaim(cid, cl.Expires)
			applyGrace(x, cl)
		})
		v := nm.viewWith(c.now, text[i*idLen:(i+1)*idLen], cl.ID)
		cl.MsgIDs = append(cl.MsgIDs, v.ID)
		out = append(out, v)
	}
	if len(cl.MsgIDs) == 0 {
		return Result{}
	}
	s.putClaim(q, cl)
	return Result{ClaimID: cl.ID, Messages: out}
}

// applyGrace extends a claimed message that would expire before its claim:
// expiry = claim expiry + grace and reported ttl = claim ttl + grace (§4.3).
func applyGrace(m *msg, cl *claim) {
	if m.expires < cl.Expires {
		m.expires = addSeconds(cl.Expires, cl.Grace)
		m.ttl = cl.TTL + cl.Grace
	}
}

// deadLetter moves m from q to the dead-letter queue (same project, created
// lazily) under a new id minted from the entry, so it lands at the tail.
// Its claim is cleared and its claim count kept; its expiry becomes now +
// _dead_letter_queue_messages_ttl when set, else it is kept.
func (s *state) deadLetter(c *applyCtx, q *queue, m *msg, cfg queueCfg) {
	s.dropMsg(q, m.id())
	dq := s.ensureQueue(q.project, cfg.dlq)
	nm := *m
	id := c.mintID()
	nm.idx, nm.n = id.idx, id.n
	nm.clearClaim()
	nm.outboxed = false // a move appends no outbox entry
	if cfg.dlqTTL > 0 {
		nm.expires = addSeconds(c.now, cfg.dlqTTL)
		nm.ttl = cfg.dlqTTL
	}
	s.addMsg(dq, nm)
}

// claimUpdate renews an active claim: expiry = now + ttl, Updated = now, and
// the grace rule is re-applied to the messages it still holds.
func (s *state) claimUpdate(c *applyCtx, p *ClaimUpdate) Result {
	if err := checkClaimTimes(p.TTL, p.Grace); err != nil {
		return errResult(err)
	}
	q := s.queue(p.Project, p.Queue)
	var old *claim
	if q != nil {
		old = q.claims[p.ClaimID]
	}
	if old == nil || old.Expires <= c.now {
		return errResult(Errorf(CodeNotFound, "Claim %s does not exist or has expired.", p.ClaimID))
	}
	cl := &claim{ID: old.ID, TTL: p.TTL, Grace: p.Grace, Updated: c.now, Expires: addSeconds(c.now, p.TTL)}
	cid, _ := parseID(cl.ID)
	for _, id := range old.MsgIDs {
		m := q.getMsg(id)
		if m == nil || !m.heldBy(cid) {
			continue
		}
		s.updateMsg(q, m.id(), func(x *msg) {
			x.claimExp = cl.Expires
			applyGrace(x, cl)
		})
		cl.MsgIDs = append(cl.MsgIDs, id)
	}
	s.putClaim(q, cl)
	return Result{}
}

// claimDelete releases a claim; unknown claims and queues are fine.
func (s *state) claimDelete(_ *applyCtx, p *ClaimDelete) Result {
	if q := s.queue(p.Project, p.Queue); q != nil {
		if cl := q.claims[p.ClaimID]; cl != nil {
			s.releaseClaim(q, cl)
		}
	}
	return Result{}
}

// releaseClaim removes a claim and clears the claim fields of the messages
// it still holds (their ClaimCount is kept), making them free again.
func (s *state) releaseClaim(q *queue, cl *claim) {
	cid, _ := parseID(cl.ID)
	for _, id := range cl.MsgIDs {
		m := q.getMsg(id)
		if m == nil || !m.heldBy(cid) {
			continue
		}
		q.msgs.update(m.id(), (*msg).clearClaim) // no expiry changes: syncDue below covers the claim
	}
	delete(q.claims, cl.ID)
	q.cexp.Delete(expKey{cl.Expires, cl.ID})
	s.syncDue(q)
}

// reapClaims releases every claim of q that has expired at now. Expired
// claims are invisible to every read, so this only tidies the state (and
// keeps the free index exact) before claiming or popping.
func (s *state) reapClaims(q *queue, now int64) int {
	n := 0
	for {
		k, ok := q.cexp.Min()
		if !ok || k.at > now {
			return n
		}
		if cl := q.claims[k.id]; cl != nil {
			s.releaseClaim(q, cl)
		} else { // cannot happen: cexp mirrors claims
			q.cexp.Delete(k)
			s.syncDue(q)
		}
		n++
	}
}

// Claim returns an active claim of the queue with the unexpired messages it
// still holds, in queue order (possibly none).
func (s *State) Claim(project, queue, claimID string, now int64) (ClaimInfo, bool) {
	q := s.st.queue(project, queue)
	if q == nil {
		return ClaimInfo{}, false
	}
	cl := q.claims[claimID]
	if cl == nil || cl.Expires <= now {
		return ClaimInfo{}, false
	}
	info := ClaimInfo{ID: cl.ID, TTL: cl.TTL, Grace: cl.Grace, Updated: cl.Updated, Expires: cl.Expires}
	cid, _ := parseID(cl.ID)
	for _, id := range cl.MsgIDs {
		if m := q.getMsg(id); m != nil && m.heldBy(cid) && m.expires > now {
			info.Messages = append(info.Messages, m.view(now))
		}
	}
	return info, true
}
