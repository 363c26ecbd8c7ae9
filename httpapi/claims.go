package httpapi

import (
	"net/http"

	"github.com/herald-mq/herald/fsm"
)

func claimHref(queue, id string) string { return queueHref(queue) + "/claims/" + id }

var claimBodyTooLarge = badBody("Request body is too large. Max size: %d", maxSmallBody)

// readClaimBody reads and decodes a claim body (required for PATCH) and
// range-checks its ttl, the first check of both claim POST and PATCH.
func readClaimBody(c *call, required bool) (claimBody, *apiError) {
	b, aerr := readBody(c, maxSmallBody, claimBodyTooLarge)
	if aerr != nil {
		return claimBody{}, aerr
	}
	body, aerr := decodeClaimBody(b, required)
	if aerr != nil {
		return claimBody{}, aerr
	}
	return body, validateClaimTTL(body.TTL)
}

// postClaim: POST /v2/queues/{q}/claims[?limit=N] (§1.4.1).
func (s *server) postClaim(c *call) {
	limit, hasLimit, aerr := params(c.r.URL.Query()).int("limit")
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	// Zaqar's order: ttl, then limit, then grace.
	body, aerr := readClaimBody(c, false)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	if !hasLimit {
		limit = fsm.DefaultPageSize
	} else if limit < 1 || limit > fsm.MaxMessagesPerClaimPop {
		s.fail(c, limitError(fsm.MaxMessagesPerClaimPop))
		return
	}
	if aerr := validateClaimGrace(body.Grace); aerr != nil {
		s.fail(c, aerr)
		return
	}
	cmd := &fsm.ClaimCreate{Project: c.project, Queue: c.queue(), Limit: limit, TTL: body.TTL, Grace: body.Grace}
	res, err := s.apply(c, fsm.CmdClaimCreate, cmd)
	if err != nil {
		s.fail(c, err)
		return
	}
	if res.ClaimID == "" || len(res.Messages) == 0 {
		writeEmpty(c.w, http.StatusNoContent)
		return
	}
	c.w.Header().Set("Location", claimHref(c.queue(), res.ClaimID))
	writeMessages(c.w, http.StatusCreated, reprMessages(c.queue(), res.Messages, res.ClaimID, s.nowNano()))
}

// claimRepr is the body of GET claim.
type claimRepr struct {
	Age      int64         `json:"age"`
	TTL      int64         `json:"ttl"`
	Messages []messageRepr `json:"messages"`
	Href     string        `json:"href"`
}

// getClaim: GET /v2/queues/{q}/claims/{cid} (§1.4.2). 404 when the claim is
// missing, expired, or holds no message any more.
func (s *server) getClaim(c *call) {
	id := c.vars["claim_id"]
	now := s.nowNano()
	var ci fsm.ClaimInfo
	var ok bool
	if err := s.read(c, func(st *fsm.State) { ci, ok = st.Claim(c.project, c.queue(), id, now) }); err != nil {
		s.fail(c, err)
		return
	}
	if !ok || len(ci.Messages) == 0 {
		s.fail(c, notFound("Claim %s does not exist.", id))
		return
	}
	writeJSON(c.w, http.StatusOK, claimRepr{Age: ageSeconds(ci.Updated, now), TTL: ci.TTL,
		Messages: reprMessages(c.queue(), ci.Messages, id, now), Href: claimHref(c.queue(), id)})
}

// patchClaim: PATCH /v2/queues/{q}/claims/{cid} (§1.4.3). Only ttl is
// range-checked, as in Zaqar.
func (s *server) patchClaim(c *call) {
	body, aerr := readClaimBody(c, true)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	id := c.vars["claim_id"]
	if !fsm.ValidID(id) {
		s.fail(c, notFound("Claim %s does not exist.", id))
		return
	}
	cmd := &fsm.ClaimUpdate{Project: c.project, Queue: c.queue(), ClaimID: id, TTL: body.TTL, Grace: body.Grace}
	if _, err := s.apply(c, fsm.CmdClaimUpdate, cmd); err != nil {
		s.fail(c, err)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}

// deleteClaim: DELETE /v2/queues/{q}/claims/{cid} (§1.4.4), 204 always.
func (s *server) deleteClaim(c *call) {
	id := c.vars["claim_id"]
	if fsm.ValidID(id) { // a malformed id names no claim: nothing to release
		cmd := &fsm.ClaimDelete{Project: c.project, Queue: c.queue(), ClaimID: id}
		if _, err := s.apply(c, fsm.CmdClaimDelete, cmd); err != nil {
			s.fail(c, err)
			return
		}
	}
	writeEmpty(c.w, http.StatusNoContent)
}
