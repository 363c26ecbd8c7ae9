package httpapi

import (
	"fmt"
	"strings"
	"testing"
)

// as sends a request as another project (and user).
func (e *env) as(project, user, method, path, body string) *resp {
	e.t.Helper()
	r := e.req(method, path).set("X-Project-ID", project)
	if user != "" {
		r.set("X-User-ID", user)
	}
	if body != "" {
		r.json(body)
	}
	return r.do()
}

func (e *env) patchTopic(t, body string) *resp {
	return e.req("PATCH", "/v2/topics/"+t).json(body).set("Content-Type", patchMediaType).do()
}

func topicNames(t *testing.T, r *resp) []string {
	t.Helper()
	var out []string
	for _, it := range r.obj()["topics"].([]any) {
		out = append(out, it.(map[string]any)["name"].(string))
	}
	return out
}

func TestTopicCRUDListStats(t *testing.T) {
	e := newFSMEnv(t)
	r := e.put("/v2/topics/t1", `{"color": "red", "_allowed_sending_projects": ["p2"]}`).expect(201)
	if r.header.Get("Location") != "/v2/topics/t1" || len(r.body) != 0 {
		t.Fatalf("PUT answer %v %q", r.header, r.body)
	}
	e.put("/v2/topics/t1", `{"color": "blue"}`).expect(204)
	e.put("/v2/topics/t2", "").expect(201)
	e.put("/v2/topics/t3", `{"color": "red"}`).expect(201)
	got := compactJSON(t, string(e.get("/v2/topics/t1").expect(200).body))
	want := compactJSON(t, `{"_allowed_sending_projects":["p2"],"_default_message_delay":0,"_default_message_ttl":3600,"_max_messages_post_size":262144,"color":"red"}`)
	if got != want {
		t.Fatalf("GET %s, want %s", got, want)
	}
	e.get("/v2/topics/nope").expectErr(404, titleNotFound, "nope")
	e.get("/v2/topics/bad%20name").expectErr(400, "Invalid topic identification", "")

	// Paging, links, detailed, name and metadata filters.
	r = e.get("/v2/topics?limit=2").expect(200)
	if names := topicNames(t, r); fmt.Sprint(names) != "[t1 t2]" {
		t.Fatalf("page 1 %v", names)
	}
	next := r.obj()["links"].([]any)[0].(map[string]any)["href"].(string)
	if next != "/v2/topics?limit=2&marker=t2" {
		t.Fatalf("next %q", next)
	}
	if names := topicNames(t, e.get(next).expect(200)); fmt.Sprint(names) != "[t3]" {
		t.Fatalf("page 2 %v", names)
	}
	if r := e.get("/v2/topics?marker=t3").expect(200).obj(); len(r["topics"].([]any)) != 0 || len(r["links"].([]any)) != 0 {
		t.Fatalf("empty page %v", r)
	}
	item := e.get("/v2/topics?detailed=true&limit=1").expect(200).obj()["topics"].([]any)[0].(map[string]any)
	if item["href"] != "/v2/topics/t1" || item["metadata"].(map[string]any)["_default_message_ttl"] != 3600.0 {
		t.Fatalf("detailed %v", item)
	}
	if names := topicNames(t, e.get("/v2/topics?color=red&with_count=true").expect(200)); fmt.Sprint(names) != "[t1 t3]" {
		t.Fatalf("filtered %v", names)
	}
	if names := topicNames(t, e.get("/v2/topics?name=2").expect(200)); fmt.Sprint(names) != "[t2]" {
		t.Fatalf("name filter %v", names)
	}
	if r := e.get("/v2/topics").expect(200).obj(); r["count"] != nil {
		t.Fatal("topics have no count")
	}
	e.get("/v2/topics?limit=21").expect(400)
	e.get("/v2/topics?detailed=maybe").expect(400)
	if names := topicNames(t, e.as("p2", "", "GET", "/v2/topics", "")); len(names) != 0 {
		t.Fatalf("other project sees %v", names)
	}

	// Stats of a missing and an existing topic.
	if got := compactJSON(t, string(e.get("/v2/topics/nope/stats").expect(200).body)); got != `{"messages":{"claimed":0,"free":0,"total":0}}` {
		t.Fatalf("missing stats %s", got)
	}
	if got := compactJSON(t, string(e.get("/v2/topics/t2/stats").expect(200).body)); got != `{"messages":{"total":0}}` {
		t.Fatalf("empty stats %s", got)
	}
	e.delete("/v2/topics/t1").expect(204)
	e.delete("/v2/topics/t1").expect(204)
	e.get("/v2/topics/t1").expect(404)
}

func TestTopicBadACLValues(t *testing.T) {
	e := newFSMEnv(t)
	cases := map[string]string{
		`{"_allowed_sending_users": "u1"}`:                 `"_allowed_sending_users" must be a list of strings, not a string`,
		`{"_allowed_sending_projects": {"p": 1}}`:          `must be a list of strings, not an object`,
		`{"_allowed_subscribe_users": ["u1", 2]}`:          `entry 1 is a number`,
		`{"_allowed_subscribe_projects": [null]}`:          `entry 0 is null`,
		`{"_allowed_subscribe_protocols": ["sms"]}`:        `Unknown protocol "sms"`,
		`{"_allowed_subscribe_protocols": ["trust"]}`:      `Unknown protocol "trust"`,
		`{"_allowed_subscribe_protocols": "webhook"}`:      `must be a list of strings`,
		`{"_retry_policy": {"retry_backoff_function": 1}}`: `retry_backoff_function`,
	}
	for body, want := range cases {
		e.put("/v2/topics/t", body).expectErr(400, titleInvalidAPI, want)
	}
	e.get("/v2/topics/t").expect(404)
	e.put("/v2/topics/t", `{"_allowed_subscribe_protocols": [], "_allowed_sending_users": null}`).expect(201)
}

func TestTopicPatchForms(t *testing.T) {
	e := newFSMEnv(t)
	e.patchTopic("t", `[{"op": "add", "path": "/metadata/a", "value": 1}]`).expectErr(404, titleNotFound, "")
	e.put("/v2/topics/t", `{"a": 1}`).expect(201)
	// The spec's unprefixed path names the stored, underscored key; replace
	// of an absent ACL key is allowed.
	m := e.patchTopic("t", `[{"op": "replace", "path": "/metadata/allowed_sending_projects", "value": ["p2", "p3"]},
		{"op": "add", "path": "/metadata/_allowed_subscribe_protocols", "value": ["email"]},
		{"op": "remove", "path": "/metadata/_allowed_subscribe_users"},
		{"op": "remove", "path": "/metadata/_default_message_ttl"}]`).expect(200).obj()
	if fmt.Sprint(m["_allowed_sending_projects"]) != "[p2 p3]" || m["allowed_sending_projects"] != nil ||
		fmt.Sprint(m["_allowed_subscribe_protocols"]) != "[email]" || m["_default_message_ttl"] != 3600.0 || m["_max_claim_count"] != nil {
		t.Fatalf("patched %v", m)
	}
	e.patchTopic("t", `[{"op": "replace", "path": "/metadata/zz", "value": 1}]`).expectErr(409, titleConflict, "zz")
	e.patchTopic("t", `[{"op": "remove", "path": "/metadata/zz"}]`).expectErr(409, titleConflict, "zz")
	e.patchTopic("t", `[{"op": "add", "path": "/metadata/allowed_subscribe_protocols", "value": ["pigeon"]}]`).
		expectErr(400, titleInvalidBody, `Unknown protocol "pigeon"`)
	e.req("PATCH", "/v2/topics/t").json(`[]`).do().expect(415)
	if m := e.get("/v2/topics/t").expect(200).obj(); fmt.Sprint(m["_allowed_sending_projects"]) != "[p2 p3]" {
		t.Fatalf("GET after patch %v", m)
	}
}

func TestTopicMessages(t *testing.T) {
	e := newFSMEnv(t)
	r := e.post("/v2/topics/news/messages", `{"messages": [{"body": {"n": 1}}, {"body": 2, "ttl": 60}, {"body": 3}]}`).expect(201)
	res := r.obj()["resources"].([]any)
	if len(res) != 3 || !strings.HasPrefix(res[0].(string), "/v2/topics/news/messages/") ||
		!strings.HasPrefix(r.header.Get("Location"), "/v2/topics/news/messages?ids=") {
		t.Fatalf("post answer %v %v", res, r.header)
	}
	ids := make([]string, len(res))
	for i, h := range res {
		ids[i] = h.(string)[strings.LastIndex(h.(string), "/")+1:]
	}
	e.get("/v2/topics/news").expect(200) // created lazily
	page := e.get("/v2/topics/news/messages?limit=2").expect(200).obj()
	msgs := page["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["id"] != ids[0] || msgs[0].(map[string]any)["href"] != "/v2/topics/news/messages/"+ids[0] {
		t.Fatalf("list %v", page)
	}
	next := page["links"].([]any)[0].(map[string]any)["href"].(string)
	if msgs := e.get(next).expect(200).obj()["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["id"] != ids[2] {
		t.Fatalf("next page %v", msgs)
	}
	if m := e.get("/v2/topics/news/messages/" + ids[1]).expect(200).obj(); m["body"] != 2.0 || m["ttl"] != 60.0 {
		t.Fatalf("get %v", m)
	}
	if msgs := e.get("/v2/topics/news/messages?ids=" + ids[0] + ",nope").expect(200).obj()["messages"].([]any); len(msgs) != 1 {
		t.Fatalf("by ids %v", msgs)
	}
	e.get("/v2/topics/news/messages?ids=nope").expect(404)
	e.get("/v2/topics/news/messages/nope").expect(404)
	st := e.get("/v2/topics/news/stats").expect(200).obj()["messages"].(map[string]any)
	if st["total"] != 3.0 || st["claimed"] != nil || !strings.HasSuffix(st["oldest"].(map[string]any)["href"].(string), ids[0]) ||
		!strings.HasSuffix(st["newest"].(map[string]any)["href"].(string), ids[2]) {
		t.Fatalf("stats %v", st)
	}
	// No claims, no pop.
	e.post("/v2/topics/news/claims", `{"ttl": 60}`).expect(404)
	e.req("PUT", "/v2/topics/news/messages").do().expect(405)
	e.delete("/v2/topics/news/messages?pop=1").expectErr(400, titleInvalidAPI, "popped")
	e.delete("/v2/topics/news/messages").expect(400)
	// Delete one, then by ids.
	e.delete("/v2/topics/news/messages/" + ids[0]).expect(204)
	e.delete("/v2/topics/news/messages/nope").expect(204)
	e.delete("/v2/topics/news/messages?ids=" + ids[1]).expect(204)
	if st := e.get("/v2/topics/news/stats").expect(200).obj()["messages"].(map[string]any); st["total"] != 1.0 {
		t.Fatalf("after deletes %v", st)
	}
	// TTL: expired messages disappear.
	e.post("/v2/topics/news/messages", `{"messages": [{"body": 4, "ttl": 60}]}`).expect(201)
	e.clock.Advance(3601e9)
	if msgs := e.get("/v2/topics/news/messages").expect(200).obj()["messages"].([]any); len(msgs) != 0 {
		t.Fatalf("expired listed %v", msgs)
	}
	// Purge and size limits.
	e.post("/v2/topics/news/messages", `{"messages": [{"body": 5}]}`).expect(201)
	e.post("/v2/topics/news/purge", `{"resource_types": ["messages"]}`).expect(204)
	if st := e.get("/v2/topics/news/stats").expect(200).obj()["messages"].(map[string]any); st["total"] != 0.0 {
		t.Fatalf("after purge %v", st)
	}
	e.put("/v2/topics/small", `{"_max_messages_post_size": 30}`).expect(201)
	e.post("/v2/topics/small/messages", `{"messages": [{"body": "a long body, longer than thirty bytes"}]}`).expect(400)
	e.post("/v2/topics/news/messages", `{"messages": [{"body": 1, "ttl": 5}]}`).expect(400)
	e.post("/v2/topics/news/messages", `{"messages": []}`).expect(400)
}

func TestTopicACLMatrix(t *testing.T) {
	e := newFSMEnv(t)
	const owner = testProject
	q := "?topic_project=" + owner
	e.put("/v2/topics/open", "").expect(201)
	e.put("/v2/topics/locked", `{"_allowed_sending_projects": ["p2"], "_allowed_sending_users": ["u9"],
		"_allowed_subscribe_projects": ["p2"], "_allowed_subscribe_users": ["u4"], "_allowed_subscribe_protocols": ["webhook"]}`).expect(201)
	msg := `{"messages": [{"body": 1}]}`

	send := []struct {
		topic, project, user string
		want                 int
		desc                 string
	}{
		{"open", owner, "", 201, ""},
		{"open", "p2", "u2", 403, `Project "p2" may not send messages to topic "open" of project "` + owner + `"`},
		{"locked", owner, "anyone", 201, ""},
		{"locked", "p2", "", 201, ""},
		{"locked", "p5", "u9", 201, ""},
		{"locked", "p5", "u5", 403, `user "u5" is not listed in _allowed_sending_users [u9]`},
		{"missing", "p2", "", 404, "does not exist"},
	}
	for _, c := range send {
		r := e.as(c.project, c.user, "POST", "/v2/topics/"+c.topic+"/messages"+q, msg)
		if c.want == 403 {
			r.expectErr(403, titleNotAuthorized, c.desc)
		} else if c.want == 404 {
			r.expectErr(404, titleNotFound, c.desc)
		} else {
			r.expect(c.want)
		}
	}
	// The X-User-Id spelling works too.
	e.req("POST", "/v2/topics/locked/messages"+q).json(msg).set("X-Project-ID", "p7").set("X-User-Id", "u9").do().expect(201)

	sub := []struct {
		topic, project, user, subscriber string
		want                             int
		desc                             string
	}{
		{"open", "p3", "", "http://h/a", 201, ""},
		{"open", "p3", "", "mailto:a@example.com", 201, ""},
		{"locked", "p2", "", "http://h/b", 201, ""},
		{"locked", "p6", "u4", "http://h/c", 201, ""},
		{"locked", "p6", "u6", "http://h/d", 403, `Project "p6" may not subscribe to topic "locked"`},
		{"locked", "p2", "", "mailto:b@example.com", 403, `Protocol "email" (subscriber scheme "mailto") may not subscribe to topic "locked": _allowed_subscribe_protocols is [webhook]`},
		{"locked", owner, "", "mailto:c@example.com", 403, "_allowed_subscribe_protocols"},
		{"locked", owner, "", "http://h/e", 201, ""},
		{"missing", "p2", "", "http://h/f", 404, "does not exist"},
	}
	for _, c := range sub {
		r := e.as(c.project, c.user, "POST", "/v2/topics/"+c.topic+"/subscriptions"+q, `{"subscriber": "`+c.subscriber+`"}`)
		switch c.want {
		case 201:
			r.expect(201)
		case 403:
			r.expectErr(403, titleNotAuthorized, c.desc)
		default:
			r.expectErr(c.want, "", c.desc)
		}
	}
	// The owner posting with its own project in topic_project is the owner.
	e.post("/v2/topics/open/messages"+q, msg).expect(201)
	// Without topic_project, another project addresses its own namespace.
	e.as("p2", "", "POST", "/v2/topics/open/messages", msg).expect(201)
	e.as("p2", "", "GET", "/v2/topics/open", "").expect(200)
}

func TestTopicCrossProjectSubscriptions(t *testing.T) {
	e := newFSMEnv(t)
	const owner = testProject
	q := "?topic_project=" + owner
	col := "/v2/topics/t/subscriptions"
	e.put("/v2/topics/t", "").expect(201)
	mine := e.subscribe(col, `{"subscriber": "http://h/owner"}`)
	r := e.as("p2", "", "POST", col+q, `{"subscriber": "http://h/p2", "ttl": 300}`).expect(201)
	if r.header.Get("Location") != col+q {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	theirs := r.obj()["subscription_id"].(string)
	p3 := e.as("p3", "", "POST", col+q, `{"subscriber": "http://h/p3"}`).expect(201).obj()["subscription_id"].(string)
	// The same URI from another project: 409, nothing leaks.
	e.as("p3", "", "POST", col+q, `{"subscriber": "http://h/p2"}`).expectErr(409, titleConflict, "another project")

	// The owner sees all; p2 only its own.
	if ids := subscriptionIDs(t, e.get(col).expect(200)); fmt.Sprint(ids) != fmt.Sprint([]string{mine, theirs, p3}) {
		t.Fatalf("owner list %v", ids)
	}
	lr := e.as("p2", "", "GET", col+q, "").expect(200)
	if ids := subscriptionIDs(t, lr); fmt.Sprint(ids) != fmt.Sprint([]string{theirs}) {
		t.Fatalf("p2 list %v", ids)
	}
	if next := lr.obj()["links"].([]any)[0].(map[string]any)["href"].(string); !strings.Contains(next, "topic_project="+owner) {
		t.Fatalf("next %q", next)
	}
	// p2's list of its own namespace is empty.
	if ids := subscriptionIDs(t, e.as("p2", "", "GET", col, "").expect(200)); len(ids) != 0 {
		t.Fatalf("p2 own namespace %v", ids)
	}
	// Items: p2 reaches its own subscription, not the others.
	if m := e.as("p2", "", "GET", col+"/"+theirs+q, "").expect(200).obj(); m["subscriber"] != "http://h/p2" || m["source"] != "t" {
		t.Fatalf("p2 get %v", m)
	}
	e.as("p2", "", "GET", col+"/"+mine+q, "").expectErr(404, titleNotFound, "")
	e.as("p2", "", "GET", col+"/"+theirs+"/delivery"+q, "").expect(200)
	e.as("p2", "", "PATCH", col+"/"+theirs+q, `{"ttl": 600}`).expect(204)
	e.as("p2", "", "PATCH", col+"/"+p3+q, `{"ttl": 600}`).expect(404)
	e.as("p2", "", "PATCH", col+"/"+theirs+q, `{"subscriber": "mailto:x@example.com"}`).expect(204)
	e.as("p2", "", "DELETE", col+"/"+p3+q, "").expect(204)
	e.get(col + "/" + p3).expect(200) // not p2's: untouched
	// The owner manages every subscription of its topic.
	if m := e.get(col + "/" + theirs).expect(200).obj(); m["ttl"] != 600.0 {
		t.Fatalf("owner view %v", m)
	}
	e.delete(col + "/" + p3).expect(204)
	e.as("p2", "", "DELETE", col+"/"+theirs+q, "").expect(204)
	e.get(col+"/"+theirs).expectErr(404, titleNotFound, "")
	// Revoking protocols does not drop existing subscriptions but refuses
	// new ones and subscriber changes.
	e.patchTopic("t", `[{"op": "add", "path": "/metadata/allowed_subscribe_protocols", "value": ["email"]}]`).expect(200)
	e.patchSub(col+"/"+mine, `{"subscriber": "http://h/other"}`).expectErr(403, titleNotAuthorized, "webhook")
	e.get(col + "/" + mine).expect(200)
	// A bad topic_project.
	e.as("p2", "", "GET", col+"?topic_project="+strings.Repeat("x", 300), "").expect(400)
}
