package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/herald-mq/herald/fsm"
)

func itoa(n int) string { return strconv.Itoa(n) }

func messagesHref(queue string) string { return queueHref(queue) + "/messages" }

// messageHref is a message's path, with ?claim_id= while it is claimed
// (built in one concatenation: it is rendered for every listed message).
func messageHref(queue, id, claimID string) string {
	if claimID != "" {
		return queueKind.prefix + "/" + queue + "/messages/" + id + "?claim_id=" + url.QueryEscape(claimID)
	}
	return queueKind.prefix + "/" + queue + "/messages/" + id
}

// ageSeconds is floor(now - created) in seconds, never negative.
func ageSeconds(created, now int64) int64 {
	if now <= created {
		return 0
	}
	return (now - created) / 1e9
}

// messageRepr is Zaqar's message representation (§1.3).
type messageRepr struct {
	ID   string          `json:"id"`
	Href string          `json:"href"`
	TTL  int64           `json:"ttl"`
	Age  int64           `json:"age"`
	Body json.RawMessage `json:"body"`
}

func reprMessages(queue string, msgs []fsm.Message, claimID string, now int64) []messageRepr {
	out := make([]messageRepr, 0, len(msgs))
	for _, m := range msgs {
		cid := m.ClaimID
		if claimID != "" {
			cid = claimID
		}
		out = append(out, messageRepr{ID: m.ID, Href: messageHref(queue, m.ID, cid), TTL: m.TTL,
			Age: ageSeconds(m.Created, now), Body: bodyOrNull(m.Body)})
	}
	return out
}

func bodyOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// postMessages: POST /v2/queues/{q}/messages (§1.3.1).
func (s *server) postMessages(c *call) {
	msgs, ok := s.readMessagesPost(c, func(st *fsm.State) map[string]json.RawMessage {
		if q, ok := st.Queue(c.project, c.queue()); ok {
			return q.Metadata
		}
		return nil
	}, func(limit, q int64) *apiError {
		return badAPI("Message collection size is too large. The max size for current queue is %d. "+
			"It is calculated by max size = min(max_messages_post_size_config: %d, max_messages_post_size_queue: %d).",
			limit, fsm.MaxMessagesPostSize, q)
	})
	if !ok {
		return
	}
	cmd := &fsm.MessagesPost{Project: c.project, Queue: c.queue(), ClientID: c.clientID, Messages: msgs}
	res, err := s.apply(c, fsm.CmdMessagesPost, cmd)
	if err != nil {
		s.fail(c, err)
		return
	}
	writePosted(c, res.IDs, messagesHref(c.queue()))
}

// getMessages: GET /v2/queues/{q}/messages, a page (§1.3.2) or, with ids,
// a set (§1.3.3).
func (s *server) getMessages(c *call) {
	p := params(c.r.URL.Query())
	if ids := p.list("ids"); ids != nil {
		s.getMessagesByID(c, ids)
		return
	}
	mp, err := parseMessagePage(p)
	if err != nil {
		s.fail(c, err)
		return
	}
	opts := fsm.ListOptions{Marker: mp.marker, Limit: mp.limit, Echo: mp.flags[0], ClientID: c.clientID,
		IncludeClaimed: mp.flags[1], IncludeDelayed: mp.flags[2]}
	now := s.nowNano()
	var page []fsm.Message
	var next string
	if e := s.read(c, func(st *fsm.State) { page, next = st.ListMessages(c.project, c.queue(), opts, now) }); e != nil {
		s.fail(c, e)
		return
	}
	writeMessagePage(c, &mp, messagesHref(c.queue()), reprMessages(c.queue(), page, "", now), next)
}

func (s *server) getMessagesByID(c *call, ids []string) {
	s.writeMessagesByID(c, ids, "queue", c.queue(),
		func(st *fsm.State, now int64) []fsm.Message { return st.GetMessages(c.project, c.queue(), ids, now) },
		queueRepr(c))
}

// queueRepr is reprMessages for the addressed queue, without a claim.
func queueRepr(c *call) func([]fsm.Message, int64) []messageRepr {
	return func(msgs []fsm.Message, now int64) []messageRepr { return reprMessages(c.queue(), msgs, "", now) }
}

// deleteMessages: DELETE /v2/queues/{q}/messages with ids (§1.3.4) or pop
// (§1.3.5). claim_ids, when given with ids, makes the delete conditional
// on every listed message being claimed by one of them (Zaqar's
// message_delete_with_claim_id behaviour, opt-in per request).
func (s *server) deleteMessages(c *call) {
	p := params(c.r.URL.Query())
	ids := p.list("ids")
	claimIDs := p.list("claim_ids")
	pop, hasPop, err := p.int("pop")
	if err != nil {
		s.fail(c, err)
		return
	}
	switch {
	case ids != nil && hasPop && pop != 0:
		s.fail(c, badAPI("pop and id params cannot be present together in the delete request."))
		return
	case ids == nil && !hasPop:
		s.fail(c, badAPI("The request should have either \"ids\" or \"pop\" parameter in the request, to be able to delete."))
		return
	case hasPop && (pop < 1 || pop > fsm.MaxMessagesPerClaimPop):
		s.fail(c, badAPI("Pop value must be at least 1 and may not be greater than %d.", fsm.MaxMessagesPerClaimPop))
		return
	case ids != nil && len(ids) > fsm.MaxMessagesPerPage:
		s.fail(c, badAPI("ids parameter should have at least 1 and not greater than %d values.", fsm.MaxMessagesPerPage))
		return
	}
	if hasPop {
		s.popMessages(c, pop)
		return
	}
	cmd := &fsm.MessagesDelete{Project: c.project, Queue: c.queue(), IDs: ids, ClaimIDs: claimIDs}
	if _, err := s.apply(c, fsm.CmdMessagesDel, cmd); err != nil {
		s.fail(c, err)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}

// poppedRepr is the raw storage form pop returns (no href).
type poppedRepr struct {
	ID         string          `json:"id"`
	Age        int64           `json:"age"`
	TTL        int64           `json:"ttl"`
	Body       json.RawMessage `json:"body"`
	ClaimID    *string         `json:"claim_id"`
	ClaimCount int             `json:"claim_count"`
}

func (s *server) popMessages(c *call, n int) {
	res, err := s.apply(c, fsm.CmdMessagesPop, &fsm.MessagesPop{Project: c.project, Queue: c.queue(), Limit: n})
	if err != nil {
		s.fail(c, err)
		return
	}
	now := s.nowNano()
	out := make([]poppedRepr, 0, len(res.Messages))
	for _, m := range res.Messages {
		r := poppedRepr{ID: m.ID, Age: ageSeconds(m.Created, now), TTL: m.TTL, Body: bodyOrNull(m.Body),
			ClaimCount: m.ClaimCount}
		if m.ClaimID != "" {
			cid := m.ClaimID
			r.ClaimID = &cid
		}
		out = append(out, r)
	}
	writeJSON(c.w, http.StatusOK, map[string][]poppedRepr{"messages": out})
}

// getMessage: GET /v2/queues/{q}/messages/{id} (§1.3.6).
func (s *server) getMessage(c *call) {
	s.writeMessage(c, func(st *fsm.State, id string, now int64) []fsm.Message {
		return st.GetMessages(c.project, c.queue(), []string{id}, now)
	}, queueRepr(c))
}

// deleteMessage: DELETE /v2/queues/{q}/messages/{id}[?claim_id=] (§1.3.7).
func (s *server) deleteMessage(c *call) {
	id := c.vars["message_id"]
	claimID, hasClaim := params(c.r.URL.Query()).str("claim_id")
	if !fsm.ValidID(id) {
		writeEmpty(c.w, http.StatusNoContent) // cannot exist
		return
	}
	if hasClaim && !fsm.ValidID(claimID) {
		s.fail(c, newError(http.StatusBadRequest, titleUnableDelete, "The specified claim does not exist or has expired."))
		return
	}
	cmd := &fsm.MessageDelete{Project: c.project, Queue: c.queue(), ID: id, ClaimID: claimID}
	if _, err := s.apply(c, fsm.CmdMessageDel, cmd); err != nil {
		e := toAPIError(err)
		switch e.status {
		case http.StatusBadRequest:
			e = newError(e.status, titleUnableDelete, "A claim was specified, but the message is not currently claimed.")
		case http.StatusForbidden:
			e = newError(e.status, titleUnableDelete, "This message is claimed; it cannot be deleted without a valid claim ID.")
		}
		s.fail(c, e)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}
