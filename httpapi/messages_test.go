package httpapi

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
)

func TestMessagePost(t *testing.T) {
	e := newFSMEnv(t)
	r := e.post("/v2/queues/lazy/messages", `{"messages": [{"body": {"event": "BackupStarted"}, "ttl": 300},
		{"body": null, "extra": "dropped"}, {"body": "x<>&\u00e9", "ttl": 60, "delay": 5000}]}`).expect(201)
	res := r.obj()["resources"].([]any)
	if len(res) != 3 {
		t.Fatalf("resources %v", res)
	}
	var ids []string
	for _, h := range res {
		s := h.(string)
		if !strings.HasPrefix(s, "/v2/queues/lazy/messages/") {
			t.Fatalf("resource %q", s)
		}
		ids = append(ids, strings.TrimPrefix(s, "/v2/queues/lazy/messages/"))
	}
	if loc := r.header.Get("Location"); loc != "/v2/queues/lazy/messages?ids="+strings.Join(ids, ",") {
		t.Fatalf("Location %q", loc)
	}
	if names := e.queueNames(); len(names) != 1 || names[0] != "lazy" {
		t.Fatalf("queue not created lazily: %v", names)
	}
	// Follow Location: the set comes back in order, bodies as sent.
	got := e.get(r.header.Get("Location")).expect(200)
	msgs := got.obj()["messages"].([]any)
	if len(msgs) != 3 || path(msgs, 0, "body", "event") != "BackupStarted" || path(msgs, 1, "body") != nil ||
		path(msgs, 2, "body") != "x<>&é" || path(msgs, 0, "ttl") != float64(300) || path(msgs, 1, "ttl") != float64(3600) {
		t.Fatalf("messages %s", got.body)
	}
	if _, ok := got.obj()["links"]; ok {
		t.Fatal("GET by ids has no links")
	}
	if !strings.Contains(string(got.body), `"body":"x<>&\u00e9"`) {
		t.Fatalf("body not returned verbatim: %s", got.body)
	}
	// The queue had no _default_message_delay, so delay 5000 was dropped unchecked:
	// the message is visible at once.
	if n := len(e.get("/v2/queues/lazy/messages?echo=true").obj()["messages"].([]any)); n != 3 {
		t.Fatalf("listed %d", n)
	}
	// Many messages in one post: no count limit.
	var sb strings.Builder
	sb.WriteString(`{"messages": [`)
	for i := 0; i < 30; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"body": %d}`, i)
	}
	sb.WriteString("]}")
	if n := len(e.post("/v2/queues/lazy/messages", sb.String()).expect(201).obj()["resources"].([]any)); n != 30 {
		t.Fatalf("posted %d", n)
	}
}

func TestMessagePostValidation(t *testing.T) {
	e := newFSMEnv(t)
	e.put("/v2/queues/small", `{"_max_messages_post_size": 100}`).expect(201)
	cases := []struct {
		q, body, title, desc string
	}{
		{"v", `[{"body": 1}]`, titleInvalidAPI, "No messages were found in the request body."},
		{"v", `{"msgs": [{"body": 1}]}`, titleInvalidAPI, "No messages were found in the request body."},
		{"v", `{"messages": []}`, titleInvalidAPI, "No messages to enqueu."},
		{"v", `{"messages": {"body": 1}}`, titleInvalidBody, "Document type not supported."},
		{"v", `{"messages": [1]}`, titleInvalidBody, "Document type not supported."},
		{"v", `{"messages": [{"ttl": 60}]}`, titleInvalidBody, `Missing "body" field.`},
		{"v", `{"messages": [{"body": 1, "ttl": "60"}]}`, titleInvalidBody, `The value of the "ttl" field must be a int.`},
		{"v", `{"messages": [{"body": 1, "ttl": 60.0}]}`, titleInvalidBody, `must be a int`},
		{"v", `{"messages": [{"body": 1, "ttl": null}]}`, titleInvalidBody, `must be a int`},
		{"v", `{"messages": [{"body": 1, "ttl": true}]}`, titleInvalidAPI, "The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds long."},
		{"v", `{"messages": [{"body": 1, "ttl": 59}]}`, titleInvalidAPI, "The TTL for a message"},
		{"v", `{"messages": [{"body": 1}, {"body": 1, "ttl": 1209601}]}`, titleInvalidAPI, "The TTL for a message"},
		{"v", `{"messages": [{"body": 1, "ttl": 99999999999999999999}]}`, titleInvalidBody, "JSON contains integer that is too large."},
		{"v", `"123"`, titleInvalidBody, "Request body could not be parsed."},
		{"v", `{"messages": [{"body": 1}]`, titleInvalidBody, "Request body could not be parsed."},
		{"v", "{\"messages\": [{\"body\": \"\xc3\x28\"}]}", titleInvalidBody, "Request body could not be parsed."},
		{"v", ``, titleInvalidBody, "Request body can not be empty"},
		{"small", `{"messages": [{"body": "` + strings.Repeat("x", 100) + `"}]}`, titleInvalidAPI,
			"The max size for current queue is 100. It is calculated by max size = min(max_messages_post_size_config: 262144, max_messages_post_size_queue: 100)."},
		{"v", `{"messages": [{"body": "` + strings.Repeat("x", 262144) + `"}]}`, titleInvalidAPI, "Message collection size is too large. Max size 262144"},
	}
	for _, c := range cases {
		e.post("/v2/queues/"+c.q+"/messages", c.body).expectErr(400, c.title, c.desc)
	}
	r := e.req("POST", "/v2/queues/v/messages").json(`{"messages": [{"body": "` + strings.Repeat("x", 262144) + `"}]}`)
	r.length = -1 // chunked
	r.do().expectErr(400, titleInvalidAPI, "too large")
	if names := e.queueNames(); len(names) != 1 || names[0] != "small" {
		t.Fatalf("a rejected POST created a queue: %v", names)
	}
	if st := e.get("/v2/queues/small/stats").obj(); path(st, "messages", "total") != float64(0) {
		t.Fatal("a rejected POST stored messages")
	}
	e.post("/v2/queues/small/messages", `{"messages": [{"body": "ok"}]}`).expect(201)
}

func TestMessageDelay(t *testing.T) {
	e := newFSMEnv(t)
	e.put("/v2/queues/d", `{"_default_message_delay": 30}`).expect(201)
	e.post("/v2/queues/d/messages", `{"messages": [{"body": 1, "delay": 901}]}`).
		expectErr(400, titleInvalidAPI, "The Delay TTL for a message may not exceed 900 seconds")
	e.post("/v2/queues/d/messages", `{"messages": [{"body": 1, "delay": -1}]}`).expectErr(400, titleInvalidAPI, "Delay")
	e.post("/v2/queues/d/messages", `{"messages": [{"body": 1, "delay": "5"}]}`).expectErr(400, titleInvalidBody, `"delay" field must be a int`)
	e.postIDs("d", `{"messages": [{"body": "default delay"}, {"body": "no delay", "delay": 0}]}`)
	list := func(q string) int { return len(e.get("/v2/queues/d/messages?echo=true" + q).obj()["messages"].([]any)) }
	if n := list(""); n != 1 {
		t.Fatalf("delayed message listed: %d", n)
	}
	if n := list("&include_delayed=true"); n != 2 {
		t.Fatalf("include_delayed: %d", n)
	}
	e.clock.Advance(31 * time.Second)
	if n := list(""); n != 2 {
		t.Fatalf("after the delay: %d", n)
	}
}

func TestMessageList(t *testing.T) {
	e := newFSMEnv(t)
	mine := e.postIDs("l", `{"messages": [{"body": "m1"}, {"body": "m2"}, {"body": "m3"}]}`)
	theirs := e.req("POST", "/v2/queues/l/messages").set("Client-ID", testClient2).
		json(`{"messages": [{"body": "t1"}, {"body": "t2"}]}`).do().expect(201)
	_ = theirs
	e.clock.Advance(7 * time.Second)
	// echo=false (default) hides my own messages.
	r := e.get("/v2/queues/l/messages").expect(200).obj()
	msgs := r["messages"].([]any)
	if len(msgs) != 2 || path(msgs, 0, "body") != "t1" {
		t.Fatalf("echo=false: %v", msgs)
	}
	m0 := msgs[0].(map[string]any)
	if m0["age"] != float64(7) || m0["ttl"] != float64(3600) || m0["href"] != "/v2/queues/l/messages/"+m0["id"].(string) || len(m0) != 5 {
		t.Fatalf("message repr %v", m0)
	}
	// Paging with echo: links carry the params and the new marker; the last page is empty.
	var bodies []string
	next := "/v2/queues/l/messages?echo=true&limit=2"
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("paging does not end")
		}
		b := e.get(next).expect(200).obj()
		page := b["messages"].([]any)
		if len(page) == 0 {
			if len(b["links"].([]any)) != 0 {
				t.Fatal("empty page has links")
			}
			break
		}
		for _, m := range page {
			bodies = append(bodies, m.(map[string]any)["body"].(string))
		}
		next = path(b, "links", 0, "href").(string)
		u, _ := url.Parse(next)
		if u.Path != "/v2/queues/l/messages" || u.Query().Get("echo") != "true" || u.Query().Get("limit") != "2" || u.Query().Get("marker") == "" {
			t.Fatalf("next link %q", next)
		}
	}
	if strings.Join(bodies, ",") != "m1,m2,m3,t1,t2" {
		t.Fatalf("paged bodies %v", bodies)
	}
	// Claimed messages are hidden unless include_claimed.
	e.post("/v2/queues/l/claims?limit=2", "").expect(201)
	if n := len(e.get("/v2/queues/l/messages?echo=true").obj()["messages"].([]any)); n != 3 {
		t.Fatalf("claimed listed: %d", n)
	}
	all := e.get("/v2/queues/l/messages?echo=yes&include_claimed=on").obj()["messages"].([]any)
	if len(all) != 5 || !strings.Contains(path(all, 0, "href").(string), "?claim_id=") ||
		strings.Contains(path(all, 4, "href").(string), "claim_id") {
		t.Fatalf("include_claimed: %v", all)
	}
	// Missing queue and garbage marker: empty page.
	for _, p := range []string{"/v2/queues/none/messages", "/v2/queues/l/messages?marker=garbage"} {
		if b := string(e.get(p).expect(200).body); compactJSON(t, b) != `{"links":[],"messages":[]}` {
			t.Fatalf("%s: %s", p, b)
		}
	}
	// Parameter errors.
	for _, q := range []string{"limit=0", "limit=-1", "limit=21"} {
		e.get("/v2/queues/l/messages?"+q).expectErr(400, titleInvalidAPI, "Limit must be at least 1 and may not be greater than 20.")
	}
	for _, q := range []string{"limit=x", "echo=None", "include_claimed=2", "include_delayed=yes%20please"} {
		e.get("/v2/queues/l/messages?"+q).expectErr(400, titleInvalidParam, "")
	}
	_ = mine
}

func TestMessagesByID(t *testing.T) {
	e := newFSMEnv(t)
	ids := e.postIDs("g", `{"messages": [{"body": 1}, {"body": 2}]}`)
	r := e.get("/v2/queues/g/messages?ids=" + ids[1] + ",nope," + ids[0]).expect(200).obj()["messages"].([]any)
	if len(r) != 2 || path(r, 0, "body") != float64(2) || path(r, 1, "id") != ids[0] {
		t.Fatalf("by ids %v", r)
	}
	// python-zaqarclient repeats the parameter instead.
	r = e.get("/v2/queues/g/messages?ids=" + ids[0] + "&ids=" + ids[1]).expect(200).obj()["messages"].([]any)
	if len(r) != 2 {
		t.Fatalf("repeated ids %v", r)
	}
	for _, q := range []string{"ids=-1", "ids=" + fmt.Sprint(strings.Repeat("0", 24)) + ",abc", "ids=,"} {
		e.get("/v2/queues/g/messages?"+q).expectErr(404, titleNotFound, "")
	}
	e.get("/v2/queues/missing/messages?ids="+ids[0]).expectErr(404, titleNotFound, "")
	many := strings.TrimSuffix(strings.Repeat(ids[0]+",", 21), ",")
	e.get("/v2/queues/g/messages?ids="+many).expectErr(400, titleInvalidAPI, "may not be greater than 20")
	twenty := strings.TrimSuffix(strings.Repeat(ids[0]+",", 20), ",")
	e.get("/v2/queues/g/messages?ids=" + twenty).expect(200)
	// Single message.
	m := e.get("/v2/queues/g/messages/" + ids[0]).expect(200).obj()
	if m["id"] != ids[0] || m["href"] != "/v2/queues/g/messages/"+ids[0] || m["body"] != float64(1) {
		t.Fatalf("single %v", m)
	}
	e.get("/v2/queues/g/messages/nope").expectErr(404, titleNotFound, "")
	e.get("/v2/queues/g/messages/"+strings.Repeat("f", 24)).expectErr(404, titleNotFound, "")
	e.get("/v2/queues/other/messages/"+ids[0]).expectErr(404, titleNotFound, "")
	// Expiry by the reader's clock.
	e.clock.Advance(3601 * time.Second)
	e.get("/v2/queues/g/messages/"+ids[0]).expectErr(404, titleNotFound, "")
}

func TestMessagesBulkDeleteAndPop(t *testing.T) {
	e := newFSMEnv(t)
	ids := e.postIDs("b", `{"messages": [{"body": 1}, {"body": 2}, {"body": 3}, {"body": 4}, {"body": 5}]}`)
	bad := []struct{ q, title, desc string }{
		{"", titleInvalidAPI, `The request should have either "ids" or "pop" parameter`},
		{"ids=&pop=", titleInvalidAPI, `either "ids" or "pop"`},
		{"ids=" + ids[0] + "&pop=1", titleInvalidAPI, "pop and id params cannot be present together"},
		{"pop=0", titleInvalidAPI, "Pop value must be at least 1 and may not be greater than 20."},
		{"pop=-1", titleInvalidAPI, "Pop value"},
		{"pop=21", titleInvalidAPI, "Pop value"},
		{"pop=1000000", titleInvalidAPI, "Pop value"},
		{"pop=%20", titleInvalidParam, `"pop"`},
		{"pop=one", titleInvalidParam, `"pop"`},
		{"ids=" + strings.TrimSuffix(strings.Repeat(ids[0]+",", 21), ","), titleInvalidAPI, "ids parameter should have at least 1 and not greater than 20 values."},
	}
	for _, c := range bad {
		e.delete("/v2/queues/b/messages?"+c.q).expectErr(400, c.title, c.desc)
	}
	if st := e.get("/v2/queues/b/stats").obj(); path(st, "messages", "total") != float64(5) {
		t.Fatal("a rejected DELETE removed messages")
	}
	// Bulk delete removes claimed messages too and ignores unknown ids.
	e.post("/v2/queues/b/claims?limit=1", "").expect(201)
	e.delete("/v2/queues/b/messages?ids=" + ids[0] + ",garbage&ids=" + ids[1]).expect(204) // repeated, as python-zaqarclient sends
	if n := path(e.get("/v2/queues/b/stats").obj(), "messages", "total"); n != float64(3) {
		t.Fatalf("after bulk delete: total %v", n)
	}
	e.delete("/v2/queues/missing/messages?ids=" + ids[0]).expect(204)
	// Pop: raw form, FIFO.
	e.clock.Advance(4 * time.Second)
	r := e.delete("/v2/queues/b/messages?pop=2").expect(200)
	popped := r.obj()["messages"].([]any)
	if len(popped) != 2 {
		t.Fatalf("popped %s", r.body)
	}
	p0 := popped[0].(map[string]any)
	if p0["id"] != ids[2] || p0["body"] != float64(3) || p0["age"] != float64(4) || p0["ttl"] != float64(3600) ||
		p0["claim_count"] != float64(0) || len(p0) != 6 {
		t.Fatalf("popped repr %v", p0)
	}
	if v, ok := p0["claim_id"]; !ok || v != nil {
		t.Fatalf("claim_id must be null: %v", p0)
	}
	if b := string(e.delete("/v2/queues/b/messages?pop=20").expect(200).body); !strings.Contains(b, `"body":5`) {
		t.Fatalf("pop rest %s", b)
	}
	if b := string(e.delete("/v2/queues/b/messages?pop=5").expect(200).body); b != `{"messages":[]}` {
		t.Fatalf("pop empty %s", b)
	}
	if b := string(e.delete("/v2/queues/nothing/messages?pop=5").expect(200).body); b != `{"messages":[]}` {
		t.Fatalf("pop missing queue %s", b)
	}
}

func TestMessagesDeleteWithClaimIDs(t *testing.T) {
	e := newFSMEnv(t)
	ids := e.postIDs("ci", `{"messages": [{"body": 1}, {"body": 2}]}`)
	loc := e.post("/v2/queues/ci/claims?limit=1", "").expect(201).header.Get("Location")
	cid := loc[strings.LastIndex(loc, "/")+1:]
	e.delete("/v2/queues/ci/messages?ids="+ids[0]+","+ids[1]+"&claim_ids="+cid).expectErr(403, titleNotAuthorized, "")
	e.delete("/v2/queues/ci/messages?ids=" + ids[0] + "&claim_ids=" + cid).expect(204)
	if n := path(e.get("/v2/queues/ci/stats").obj(), "messages", "total"); n != float64(1) {
		t.Fatalf("total %v", n)
	}
}

func TestMessageDeleteSingle(t *testing.T) {
	e := newFSMEnv(t)
	ids := e.postIDs("one", `{"messages": [{"body": 1}, {"body": 2}, {"body": 3}]}`)
	exists := func(id string) bool { return e.get("/v2/queues/one/messages/"+id).status == 200 }
	// Missing queue, malformed or unknown id: 204.
	e.delete("/v2/queues/none/messages/" + ids[0]).expect(204)
	e.delete("/v2/queues/one/messages/malformed").expect(204)
	e.delete("/v2/queues/one/messages/" + strings.Repeat("a", 24)).expect(204)
	// Malformed claim id: 400, message kept.
	for _, c := range []string{"123", "invalid"} {
		e.delete("/v2/queues/one/messages/"+ids[0]+"?claim_id="+c).
			expectErr(400, titleUnableDelete, "The specified claim does not exist or has expired.")
	}
	if !exists(ids[0]) {
		t.Fatal("message deleted by a malformed claim id")
	}
	// claim_id given but the message is not claimed: 400.
	e.delete("/v2/queues/one/messages/"+ids[0]+"?claim_id="+strings.Repeat("b", 24)).
		expectErr(400, titleUnableDelete, "A claim was specified, but the message is not currently claimed.")
	// Claimed: 403 without claim id, 403 with another claim's id, 204 through the claim href.
	r := e.post("/v2/queues/one/claims?limit=1", `{"ttl": 60}`).expect(201)
	href := path(r.json(), "messages", 0, "href").(string)
	e.delete("/v2/queues/one/messages/"+ids[0]).
		expectErr(403, titleUnableDelete, "This message is claimed; it cannot be deleted without a valid claim ID.")
	r2 := e.post("/v2/queues/one/claims?limit=1", "").expect(201)
	otherClaim := strings.TrimPrefix(r2.header.Get("Location"), "/v2/queues/one/claims/")
	e.delete("/v2/queues/one/messages/"+ids[0]+"?claim_id="+otherClaim).expectErr(403, titleUnableDelete, "")
	if !exists(ids[0]) {
		t.Fatal("claimed message deleted without its claim")
	}
	e.delete(href).expect(204)
	if exists(ids[0]) {
		t.Fatal("delete through the claim href failed")
	}
	// Expired claim: plain delete works, claim id no longer does.
	e.clock.Advance(301 * time.Second)
	e.delete("/v2/queues/one/messages/"+ids[1]+"?claim_id="+otherClaim).
		expectErr(400, titleUnableDelete, "not currently claimed")
	e.delete("/v2/queues/one/messages/" + ids[1]).expect(204)
	if exists(ids[1]) || !exists(ids[2]) {
		t.Fatal("wrong messages deleted")
	}
}

func TestDottedQueueNames(t *testing.T) {
	e := newFSMEnv(t)
	e.put("/v2/queues/a.b", "").expect(201)
	e.postIDs("a.b", `{"messages": [{"body": 1}]}`)
	e.postIDs("x.y-z_0", `{"messages": [{"body": 1}]}`)
	if names := e.queueNames(); strings.Join(names, ",") != "a.b,x.y-z_0" {
		t.Fatalf("queues %v", names)
	}
}

func TestMemoryBudgetIs503(t *testing.T) {
	e := newFSMEnvConfig(t, fsm.Config{MaxBodyBytes: 10})
	e.post("/v2/queues/m/messages", `{"messages": [{"body": "12345678"}]}`).expect(201)
	r := e.post("/v2/queues/m/messages", `{"messages": [{"body": "12345678"}]}`).
		expectErr(503, titleUnavailable, "max-body-bytes")
	if !strings.Contains(r.obj()["description"].(string), "10 bytes") {
		t.Fatalf("description should name the limit: %s", r.body)
	}
	if n := path(e.get("/v2/queues/m/stats").obj(), "messages", "total"); n != float64(1) {
		t.Fatalf("total %v", n)
	}
}

func TestIdempotentPost(t *testing.T) {
	e := newFSMEnv(t)
	post := func() []any {
		return e.req("POST", "/v2/queues/i/messages").set("Idempotency-Key", "retry-1").
			json(`{"messages": [{"body": 1}]}`).do().expect(201).obj()["resources"].([]any)
	}
	first, second := post(), post()
	if first[0] != second[0] {
		t.Fatalf("retry posted again: %v vs %v", first, second)
	}
	if n := path(e.get("/v2/queues/i/stats").obj(), "messages", "total"); n != float64(1) {
		t.Fatalf("total %v", n)
	}
	// The same key in another project is another request.
	e.req("POST", "/v2/queues/i/messages").set("Idempotency-Key", "retry-1").set("X-Project-ID", "p2").
		json(`{"messages": [{"body": 1}]}`).do().expect(201)
	if n := path(e.req("GET", "/v2/queues/i/stats").set("X-Project-ID", "p2").do().obj(), "messages", "total"); n != float64(1) {
		t.Fatalf("p2 total %v", n)
	}
}
