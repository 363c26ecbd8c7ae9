package fsm

// sweep removes expired claims and messages (Expires <= now). Work is found
// through state.due, which orders queues by their earliest expiry, so a
// sweep with nothing due costs O(1), and each due queue is visited in (due
// time, project, queue) order, which every replica computes alike. Within a
// queue, expired claims are released first (all of them), then expired
// messages are removed oldest expiry first. Limit bounds the messages removed
// (0 = no bound); Result.Swept counts them. Then expired subscriptions (with
// their delivery state) and expired outbox entries are removed the same way,
// through subExp and srcDue, each kind under its own Limit.
func (s *state) sweep(c *applyCtx, p *Sweep) Result {
	swept := 0
	for p.Limit <= 0 || swept < p.Limit {
		d, ok := s.due.Min()
		if !ok || d.at > c.now {
			break
		}
		q := d.q
		s.reapClaims(q, c.now)
		for p.Limit <= 0 || swept < p.Limit {
			at, ok := q.msgs.minExp()
			if !ok || at > c.now {
				break
			}
			id, _ := q.msgs.minExpID()
			s.dropMsg(q, id)
			swept++
		}
		s.syncDue(q)
	}
	// Expired subscriptions go first: removing one may release a whole
	// outbox at once.
	s.sweepSubscriptions(c.now, p.Limit)
	s.sweepOutbox(c.now, p.Limit)
	return Result{Swept: swept}
}
