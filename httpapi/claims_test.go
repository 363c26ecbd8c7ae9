package httpapi

import (
	"strings"
	"testing"
	"time"
)

// claim posts a claim and returns its id and answer.
func (e *env) claim(q, query, body string) (string, *resp) {
	e.t.Helper()
	r := e.post("/v2/queues/"+q+"/claims"+query, body).expect(201)
	loc := r.header.Get("Location")
	prefix := "/v2/queues/" + q + "/claims/"
	if !strings.HasPrefix(loc, prefix) {
		e.t.Fatalf("claim Location %q", loc)
	}
	return strings.TrimPrefix(loc, prefix), r
}

func TestClaimCreate(t *testing.T) {
	e := newFSMEnv(t)
	// Missing queue and empty queue: 204, no body.
	if r := e.post("/v2/queues/none/claims", "").expect(204); len(r.body) != 0 {
		t.Fatalf("204 body %q", r.body)
	}
	e.put("/v2/queues/c", "").expect(201)
	e.post("/v2/queues/c/claims", `{}`).expect(204)
	ids := e.postIDs("c", `{"messages": [{"body": 1, "ttl": 60}, {"body": 2}, {"body": 3}]}`)
	// Body errors, then ttl, then limit, then grace.
	bad := []struct{ query, body, title, desc string }{
		{"?limit=x", `{}`, titleInvalidParam, `"limit"`},
		{"?limit=%20", `{}`, titleInvalidParam, `"limit"`},
		{"", `[]`, titleInvalidBody, "Document type not supported."},
		{"", `"x"`, titleInvalidBody, "could not be parsed"},
		{"", `{"ttl": "60"}`, titleInvalidBody, `The value of the "ttl" field must be a int.`},
		{"", `{"grace": 1.5}`, titleInvalidBody, `The value of the "grace" field must be a int.`},
		{"", `{"ttl": 99999999999999999999}`, titleInvalidBody, "too large"},
		{"?limit=0", `{"ttl": 59}`, titleInvalidAPI, "The TTL for a claim may not exceed 43200 seconds, and must be at least 60 seconds long."},
		{"", `{"ttl": 43201}`, titleInvalidAPI, "The TTL for a claim"},
		{"?limit=0", `{"grace": 10}`, titleInvalidAPI, "Limit must be at least 1 and may not be greater than 20."},
		{"?limit=-1", ``, titleInvalidAPI, "Limit must be at least 1"},
		{"?limit=21", ``, titleInvalidAPI, "Limit must be at least 1"},
		{"", `{"grace": 59}`, titleInvalidAPI, "The grace for a claim may not exceed 43200 seconds, and must be at least 60 seconds long."},
		{"", `{"grace": 43201}`, titleInvalidAPI, "The grace for a claim"},
	}
	for _, c := range bad {
		e.post("/v2/queues/c/claims"+c.query, c.body).expectErr(400, c.title, c.desc)
	}
	if st := path(e.get("/v2/queues/c/stats").obj(), "messages", "claimed"); st != float64(0) {
		t.Fatal("a rejected claim claimed messages")
	}
	// A limit in the body is ignored; the query limit counts.
	cid, r := e.claim("c", "?limit=2", `{"ttl": 120, "grace": 60, "limit": 1}`)
	msgs := r.obj()["messages"].([]any)
	if len(msgs) != 2 {
		t.Fatalf("claimed %d", len(msgs))
	}
	m0 := msgs[0].(map[string]any)
	if m0["id"] != ids[0] || m0["href"] != "/v2/queues/c/messages/"+ids[0]+"?claim_id="+cid || len(m0) != 5 {
		t.Fatalf("claimed message %v", m0)
	}
	// Grace rule: a message that would expire before the claim lives to ttl + grace.
	if m0["ttl"] != float64(180) || path(msgs, 1, "ttl") != float64(3600) {
		t.Fatalf("ttls after claim: %v, %v", m0["ttl"], path(msgs, 1, "ttl"))
	}
	// Defaults: ttl 300, grace 60; limit 10.
	cid2, _ := e.claim("c", "", "")
	if c := e.get("/v2/queues/c/claims/" + cid2).expect(200).obj(); c["ttl"] != float64(300) {
		t.Fatalf("default claim ttl %v", c["ttl"])
	}
	e.post("/v2/queues/c/claims", "").expect(204)
}

func TestClaimGetPatchDelete(t *testing.T) {
	e := newFSMEnv(t)
	ids := e.postIDs("g", `{"messages": [{"body": "a"}, {"body": "b"}]}`)
	cid, _ := e.claim("g", "", `{"ttl": 100, "grace": 60}`)
	e.clock.Advance(30 * time.Second)
	c := e.get("/v2/queues/g/claims/" + cid).expect(200).obj()
	if c["age"] != float64(30) || c["ttl"] != float64(100) || c["href"] != "/v2/queues/g/claims/"+cid || len(c) != 4 {
		t.Fatalf("claim %v", c)
	}
	if msgs := c["messages"].([]any); len(msgs) != 2 || path(msgs, 1, "href") != "/v2/queues/g/messages/"+ids[1]+"?claim_id="+cid {
		t.Fatalf("claim messages %v", msgs)
	}
	// Unknown, malformed, other queue: 404.
	for _, p := range []string{strings.Repeat("0", 24), "nope"} {
		e.get("/v2/queues/g/claims/"+p).expectErr(404, titleNotFound, "")
	}
	e.get("/v2/queues/other/claims/"+cid).expectErr(404, titleNotFound, "")
	// PATCH: body required; only ttl is range-checked.
	for _, b := range []struct{ body, desc string }{
		{``, "Request body can not be empty"},
		{`[]`, "Document type not supported."},
		{`{"ttl": "1"}`, "must be a int"},
		{`{"ttl": 59}`, "The TTL for a claim"},
	} {
		e.req("PATCH", "/v2/queues/g/claims/"+cid).json(b.body).do().expectErr(400, "", b.desc)
	}
	e.req("PATCH", "/v2/queues/g/claims/"+cid).json(`{"ttl": 200, "grace": 5}`).do().expect(204)
	c = e.get("/v2/queues/g/claims/" + cid).obj()
	if c["age"] != float64(0) || c["ttl"] != float64(200) {
		t.Fatalf("renewed claim %v", c)
	}
	e.req("PATCH", "/v2/queues/g/claims/"+cid).json(`{}`).do().expect(204)
	if c = e.get("/v2/queues/g/claims/" + cid).obj(); c["ttl"] != float64(300) {
		t.Fatalf("PATCH {} must renew with the default ttl: %v", c)
	}
	e.req("PATCH", "/v2/queues/g/claims/"+strings.Repeat("0", 24)).json(`{}`).do().expectErr(404, titleNotFound, "")
	e.req("PATCH", "/v2/queues/g/claims/bad").json(`{}`).do().expectErr(404, titleNotFound, "")
	// Expired claim: 404 everywhere, messages free again.
	e.clock.Advance(301 * time.Second)
	e.get("/v2/queues/g/claims/"+cid).expectErr(404, titleNotFound, "")
	e.req("PATCH", "/v2/queues/g/claims/"+cid).json(`{}`).do().expectErr(404, titleNotFound, "")
	// A claim whose messages were all deleted is gone too.
	cid, _ = e.claim("g", "", "")
	e.delete("/v2/queues/g/messages?ids=" + ids[0] + "," + ids[1]).expect(204)
	e.get("/v2/queues/g/claims/"+cid).expectErr(404, titleNotFound, "")
	// DELETE always 204; released messages are claimable at once.
	more := e.postIDs("g", `{"messages": [{"body": "c"}]}`)
	cid, _ = e.claim("g", "", "")
	e.post("/v2/queues/g/claims", "").expect(204)
	e.delete("/v2/queues/g/claims/" + cid).expect(204)
	e.delete("/v2/queues/g/claims/" + cid).expect(204)
	e.delete("/v2/queues/g/claims/garbage").expect(204)
	e.delete("/v2/queues/none/claims/" + cid).expect(204)
	cid, r := e.claim("g", "", "")
	if path(r.json(), "messages", 0, "id") != more[0] {
		t.Fatalf("released message not reclaimed: %s", r.body)
	}
	// Deleting the queue drops its claims.
	e.delete("/v2/queues/g").expect(204)
	e.get("/v2/queues/g/claims/"+cid).expectErr(404, titleNotFound, "")
	e.req("PATCH", "/v2/queues/g/claims/"+cid).json(`{}`).do().expectErr(404, titleNotFound, "")
}
