package httpapi

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

const freshQueueMeta = `{"_max_messages_post_size": 262144, "_default_message_ttl": 3600,
	"_default_message_delay": 0, "_dead_letter_queue": null, "_dead_letter_queue_messages_ttl": null,
	"_max_claim_count": null, "_enable_encrypt_messages": false}`

// queueNames lists the project's queue names (first page of 20).
func (e *env) queueNames() []string {
	e.t.Helper()
	var out []string
	for _, q := range e.get("/v2/queues?limit=20").expect(200).obj()["queues"].([]any) {
		out = append(out, q.(map[string]any)["name"].(string))
	}
	return out
}

func TestQueueCreateGetDelete(t *testing.T) {
	e := newFSMEnv(t)
	r := e.put("/v2/queues/fizbit", "").expect(201)
	if len(r.body) != 0 || r.header.Get("Location") != "/v2/queues/fizbit" {
		t.Fatalf("201: body %q Location %q", r.body, r.header.Get("Location"))
	}
	r = e.put("/v2/queues/fizbit", `{"ignored": true}`).expect(204)
	if r.header.Get("Location") != "/v2/queues/fizbit" {
		t.Fatal("204 lacks Location")
	}
	if got := string(e.get("/v2/queues/fizbit").expect(200).body); compactJSON(t, got) != compactJSON(t, freshQueueMeta) {
		t.Fatalf("metadata of existing queue changed: %s", got)
	}
	// Missing queue: 200 with the defaults, exactly.
	if got := string(e.get("/v2/queues/nothere").expect(200).body); compactJSON(t, got) != compactJSON(t, freshQueueMeta) {
		t.Fatalf("missing queue: %s", got)
	}
	e.put("/v2/queues/meta", `{"color": "red", "n": 5, "_default_message_ttl": null, "_max_claim_count": 3,
		"nested": {"z": 1, "a": [true, null]}}`).expect(201)
	m := e.get("/v2/queues/meta").expect(200).obj()
	if m["color"] != "red" || m["n"] != float64(5) || m["_default_message_ttl"] != float64(3600) ||
		m["_max_claim_count"] != float64(3) || path(m, "nested", "a", 0) != true || len(m) != 10 {
		t.Fatalf("metadata %v", m)
	}
	if !strings.Contains(string(e.get("/v2/queues/meta").body), `"nested":{"z":1,"a":[true,null]}`) {
		t.Fatal("metadata values must round-trip as sent")
	}
	e.post("/v2/queues/meta/messages", `{"messages":[{"body":1}]}`).expect(201)
	e.delete("/v2/queues/meta").expect(204)
	e.delete("/v2/queues/meta").expect(204)
	e.delete("/v2/queues/never").expect(204)
	if st := e.get("/v2/queues/meta/stats").obj(); path(st, "messages", "total") != float64(0) {
		t.Fatalf("messages survived the queue: %v", st)
	}
	if names := e.queueNames(); len(names) != 1 || names[0] != "fizbit" {
		t.Fatalf("queues %v", names)
	}
	e.req("HEAD", "/v2/queues/fizbit").do().expect(405)
}

func TestQueuePutValidation(t *testing.T) {
	e := newFSMEnv(t)
	big := `{"k": "` + strings.Repeat("x", 65536) + `"}`
	cases := []struct {
		body, title, desc string
	}{
		{`[1, 2]`, titleInvalidBody, "Document type not supported."},
		{`"123"`, titleInvalidBody, "Request body could not be parsed."},
		{`123`, titleInvalidBody, "Request body could not be parsed."},
		{`{"a": }`, titleInvalidBody, "Request body could not be parsed."},
		{`{"a": 1} {"b": 2}`, titleInvalidBody, "Request body could not be parsed."},
		{`{"a": 1}x`, titleInvalidBody, "Request body could not be parsed."},
		{`{"overflow": 9223372036854775808}`, titleInvalidBody, "JSON contains integer that is too large."},
		{`{"a": [{"b": -9223372036854775809}]}`, titleInvalidBody, "JSON contains integer that is too large."},
		{"{\"a\": \"\xff\xfe\"}", titleInvalidBody, "Request body could not be parsed."},
		{"\xef\xbb\xbf{}", titleInvalidBody, "Request body could not be parsed."},
		{`{"a": NaN}`, titleInvalidBody, "Request body could not be parsed."},
		{strings.Repeat("[", 2000) + strings.Repeat("]", 2000), titleInvalidBody, "could not be parsed"},
		{big, titleInvalidAPI, "Queue metadata is too large. Max size: 65536"},
		{`{"_default_message_ttl": 59}`, titleInvalidAPI, "_default_message_ttl"},
		{`{"_max_messages_post_size": "big"}`, titleInvalidAPI, "_max_messages_post_size"},
		{`{"_default_message_delay": 901}`, titleInvalidAPI, "_default_message_delay"},
		{`{"_enable_encrypt_messages": "yes"}`, titleInvalidAPI, "_enable_encrypt_messages"},
		{`{"_retry_policy": {"minimum_delay": 30, "maximum_delay": 20}}`, titleInvalidAPI, "maximum_delay"},
	}
	for _, c := range cases {
		e.put("/v2/queues/q", c.body).expectErr(400, c.title, c.desc)
	}
	// A chunked body (no Content-Length) cannot exceed the limit either.
	r := e.req("PUT", "/v2/queues/q").json(big)
	r.length = -1
	r.do().expectErr(400, titleInvalidAPI, "too large")
	// Floats and big integers in fractions are fine (Python parses them as float).
	e.put("/v2/queues/f", `{"x": 1e400, "y": 9223372036854775808.0}`).expect(201)
	e.put("/v2/queues/g", `{"x": 9223372036854775807, "y": -9223372036854775808}`).expect(201)
	if names := e.queueNames(); len(names) != 2 {
		t.Fatalf("a rejected PUT created a queue: %v", names)
	}
}

func TestQueueListPaging(t *testing.T) {
	e := newFSMEnv(t)
	for i := 1; i <= 5; i++ {
		e.put(fmt.Sprintf("/v2/queues/q%d", i), fmt.Sprintf(`{"color": "%s", "size": %d}`,
			map[bool]string{true: "red", false: "blue"}[i%2 == 1], i)).expect(201)
	}
	r := e.get("/v2/queues?limit=2&with_count=true&detailed=false").expect(200)
	body := r.obj()
	if len(body["queues"].([]any)) != 2 || body["count"] != float64(5) {
		t.Fatalf("page 1: %s", r.body)
	}
	q0 := path(body, "queues", 0).(map[string]any)
	if q0["name"] != "q1" || q0["href"] != "/v2/queues/q1" || q0["metadata"] != nil {
		t.Fatalf("item %v", q0)
	}
	next := path(body, "links", 0, "href").(string)
	u, _ := url.Parse(next)
	if u.Path != "/v2/queues" || u.Query().Get("marker") != "q2" || u.Query().Get("limit") != "2" ||
		u.Query().Get("with_count") != "true" || u.Query().Get("detailed") != "false" || path(body, "links", 0, "rel") != "next" {
		t.Fatalf("next link %q", next)
	}
	var all []string
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging does not end")
		}
		b := e.get(next).expect(200).obj()
		qs := b["queues"].([]any)
		if len(qs) == 0 {
			if links := b["links"].([]any); len(links) != 0 {
				t.Fatalf("empty page has links %v", links)
			}
			break
		}
		if len(b["links"].([]any)) != 1 {
			t.Fatalf("non-empty page must have one next link: %v", b)
		}
		for _, q := range qs {
			all = append(all, q.(map[string]any)["name"].(string))
		}
		next = path(b, "links", 0, "href").(string)
	}
	if strings.Join(all, ",") != "q3,q4,q5" {
		t.Fatalf("later pages %v", all)
	}
	// Without with_count there is no count; an empty project never has one.
	if _, ok := e.get("/v2/queues").obj()["count"]; ok {
		t.Fatal("count without with_count")
	}
	empty := e.req("GET", "/v2/queues?with_count=true").set("X-Project-ID", "other").do().expect(200)
	if compactJSON(t, string(empty.body)) != `{"links":[],"queues":[]}` {
		t.Fatalf("empty list %s", empty.body)
	}
	// detailed merges the defaults in.
	d := e.get("/v2/queues?detailed=True&limit=1").obj()
	md := path(d, "queues", 0, "metadata").(map[string]any)
	if md["color"] != "red" || md["_default_message_ttl"] != float64(3600) || len(md) != 9 {
		t.Fatalf("detailed metadata %v", md)
	}
	// name is a substring filter; unknown params filter metadata and stay out of links.
	b := e.get("/v2/queues?name=3").obj()
	if len(b["queues"].([]any)) != 1 || !strings.Contains(path(b, "links", 0, "href").(string), "name=3") {
		t.Fatalf("name filter %v", b)
	}
	b = e.get("/v2/queues?color=red").obj()
	if n := len(b["queues"].([]any)); n != 3 || strings.Contains(path(b, "links", 0, "href").(string), "color") {
		t.Fatalf("metadata filter: %d queues, links %v", n, b["links"])
	}
	if n := len(e.get("/v2/queues?size=4&color=blue").obj()["queues"].([]any)); n != 1 {
		t.Fatalf("int filter: %d", n)
	}
	if n := len(e.get("/v2/queues?color=").obj()["queues"].([]any)); n != 5 {
		t.Fatalf("a blank filter is absent: %d", n)
	}
	// Parameter errors.
	for _, q := range []string{"limit=0", "limit=-1", "limit=21", "limit=200"} {
		e.get("/v2/queues?"+q).expectErr(400, titleInvalidAPI, "Limit must be at least 1")
	}
	for _, q := range []string{"limit=abc", "limit=%20", "limit=1.5"} {
		e.get("/v2/queues?"+q).expectErr(400, titleInvalidParam, `"limit"`)
	}
	for _, q := range []string{"detailed=None", "detailed=TRUE", "with_count=maybe"} {
		e.get("/v2/queues?"+q).expectErr(400, titleInvalidParam, "")
	}
	e.get("/v2/queues?limit=&detailed=").expect(200)
}

func TestProjectIsolation(t *testing.T) {
	e := newFSMEnv(t)
	e.put("/v2/queues/shared", `{"owner": "a"}`).expect(201)
	ids := e.postIDs("shared", `{"messages": [{"body": "secret"}]}`)
	b := func(m, p string) *req { return e.req(m, p).set("X-Project-ID", "proj-b") }
	if qs := b("GET", "/v2/queues").do().expect(200).obj()["queues"].([]any); len(qs) != 0 {
		t.Fatalf("B sees %v", qs)
	}
	if m := b("GET", "/v2/queues/shared").do().expect(200).obj(); m["owner"] != nil {
		t.Fatalf("B sees A's metadata: %v", m)
	}
	b("GET", "/v2/queues/shared/messages/"+ids[0]).do().expect(404)
	b("GET", "/v2/queues/shared/messages?ids="+ids[0]).do().expect(404)
	if st := b("GET", "/v2/queues/shared/stats").do().expect(200).obj(); path(st, "messages", "total") != float64(0) {
		t.Fatalf("B's stats %v", st)
	}
	b("DELETE", "/v2/queues/shared/messages?ids="+ids[0]).do().expect(204)
	b("DELETE", "/v2/queues/shared").do().expect(204)
	b("POST", "/v2/queues/shared/claims").do().expect(204)
	if got := e.get("/v2/queues/shared/messages/" + ids[0]).expect(200).obj(); got["body"] != "secret" {
		t.Fatalf("A's message after B's deletes: %v", got)
	}
}

func TestQueuePatch(t *testing.T) {
	e := newFSMEnv(t)
	e.put("/v2/queues/p", `{"keep": 1, "max_timeout": 10}`).expect(201)
	before := string(e.get("/v2/queues/p").body)
	unchanged := func() {
		t.Helper()
		if got := string(e.get("/v2/queues/p").body); got != before {
			t.Fatalf("metadata changed after a failed PATCH: %s", got)
		}
	}
	// Media type: exact string compare, after the size check.
	for _, ct := range []string{"application/json", patchMediaType + "; charset=utf-8", "", "application/json-patch+json"} {
		e.req("PATCH", "/v2/queues/p").json(`[]`).set("Content-Type", ct).do().
			expectErr(415, titleMediaType, "Accepted media type for PATCH: {'Accept-Patch': '"+patchMediaType+"'}.")
	}
	big := `[{"op": "add", "path": "/metadata/k", "value": "` + strings.Repeat("x", 65536) + `"}]`
	e.req("PATCH", "/v2/queues/p").json(big).set("Content-Type", "text/plain").do().
		expectErr(400, titleInvalidBody, "Queue metadata is too large")
	bad := []struct{ body, desc string }{
		{``, "PATCH body could not be empty for update."},
		{`{"op": "add"}`, "Document type not supported."},
		{`[1]`, "Operations must be JSON objects."},
		{`[{"path": "/metadata/a", "value": 1}]`, "Unable to find `op` in JSON Schema change."},
		{`[{"op": "move", "path": "/metadata/a", "value": 1}]`, "Invalid operation: `move`."},
		{`[{"op": 5, "path": "/metadata/a", "value": 1}]`, "Invalid operation: `5`."},
		{`[{"op": "add", "value": 1}]`, `Unable to find "path" in JSON Schema change`},
		{`[{"op": "add", "path": 3, "value": 1}]`, `"path"`},
		{`[{"op": "add", "path": "metadata/a", "value": 1}]`, "does not start with"},
		{`[{"op": "add", "path": "/metadata//a", "value": 1}]`, "adjacent"},
		{`[{"op": "add", "path": "//metadata/a", "value": 1}]`, "adjacent"},
		{`[{"op": "add", "path": "/metadata/ /a", "value": 1}]`, "adjacent"},
		{`[{"op": "add", "path": "/metadata/a/", "value": 1}]`, "end with"},
		{`[{"op": "add", "path": "/metadata/a~2", "value": 1}]`, "~"},
		{`[{"op": "add", "path": "/metadata/a~", "value": 1}]`, "~"},
		{`[{"op": "add", "path": "/metadata", "value": 1}]`, "Invalid JSON pointer for this resource: '/metadata, e.g /metadata/key'"},
		{`[{"op": "add", "path": "/metadata/a/b", "value": 1}]`, "Invalid JSON pointer"},
		{`[{"op": "add", "path": "/other/a", "value": 1}]`, "Invalid JSON pointer"},
		{`[{"op": "replace", "path": "/meta/a", "value": 1}]`, "Invalid JSON pointer"},
		{`[{"op": "add", "path": "/metadata/a"}]`, `Operation "add" requires a member named "value".`},
		{`[{"op": "add", "path": "/metadata/a", "value": 99999999999999999999}]`, "too large"},
		{`[{"op": "add", "path": "/metadata/_default_message_ttl", "value": 5}]`, "_default_message_ttl"},
	}
	for _, c := range bad {
		e.patchQueue("p", c.body).expectErr(400, titleInvalidBody, c.desc)
		unchanged()
	}
	e.patchQueue("p", `[{"op": "replace", "path": "/metadata/nothere", "value": 1}]`).
		expectErr(409, titleConflict, "Can't replace non-existent object nothere.")
	e.patchQueue("p", `[{"op": "add", "path": "/metadata/x", "value": 1}, {"op": "remove", "path": "/metadata/ghost"}]`).
		expectErr(409, titleConflict, "Can't remove non-existent object ghost.")
	unchanged()
	e.patchQueue("missing", `[{"op": "add", "path": "/metadata/a", "value": 1}]`).expectErr(404, titleNotFound, "")
	if names := e.queueNames(); len(names) != 1 {
		t.Fatalf("PATCH created a queue: %v", names)
	}
	// Success: add, replace (stored and reserved), remove (stored and reserved but unstored).
	r := e.patchQueue("p", `[
		{"op": "add", "path": "/metadata/new", "value": {"deep": [1, "two"]}},
		{"op": "replace", "path": "/METADATA/max_timeout", "value": 100},
		{"op": "replace", "path": "/metadata/_max_claim_count", "value": 5},
		{"op": "remove", "path": "/metadata/keep"},
		{"op": "remove", "path": "/anything/_dead_letter_queue"},
		{"op": "add", "path": "/metadata/ a~1b~0c ", "value": "esc"}]`).expect(200)
	m := r.obj()
	if m["max_timeout"] != float64(100) || m["_max_claim_count"] != float64(5) || m["keep"] != nil ||
		path(m, "new", "deep", 1) != "two" || m["a/b~c"] != "esc" || m["_default_message_ttl"] != float64(3600) || len(m) != 10 {
		t.Fatalf("patched metadata %v", m)
	}
	if got := string(e.get("/v2/queues/p").body); compactJSON(t, got) != compactJSON(t, string(r.body)) {
		t.Fatalf("GET after PATCH %s != %s", got, r.body)
	}
}

func TestQueueStats(t *testing.T) {
	e := newFSMEnv(t)
	zero := `{"messages":{"claimed":0,"free":0,"total":0}}`
	if got := string(e.get("/v2/queues/none/stats").expect(200).body); got != zero {
		t.Fatalf("missing queue stats %s", got)
	}
	e.put("/v2/queues/s", "").expect(201)
	if got := string(e.get("/v2/queues/s/stats").body); got != zero {
		t.Fatalf("empty queue stats %s", got)
	}
	ids := e.postIDs("s", `{"messages": [{"body": 1}]}`)
	e.clock.Advance(10 * time.Second)
	ids = append(ids, e.postIDs("s", `{"messages": [{"body": 2}, {"body": 3}]}`)...)
	e.clock.Advance(5 * time.Second)
	e.post("/v2/queues/s/claims?limit=1", "").expect(201)
	st := e.get("/v2/queues/s/stats").expect(200).obj()["messages"].(map[string]any)
	if st["claimed"] != float64(1) || st["free"] != float64(2) || st["total"] != float64(3) {
		t.Fatalf("stats %v", st)
	}
	oldest, newest := st["oldest"].(map[string]any), st["newest"].(map[string]any)
	if oldest["href"] != "/v2/queues/s/messages/"+ids[0] || oldest["age"] != float64(15) ||
		oldest["created"] != "2026-03-01T12:00:00Z" || len(oldest) != 3 {
		t.Fatalf("oldest %v", oldest)
	}
	if newest["href"] != "/v2/queues/s/messages/"+ids[2] || newest["age"] != float64(5) ||
		newest["created"] != "2026-03-01T12:00:10Z" {
		t.Fatalf("newest %v", newest)
	}
}

func TestQueuePurge(t *testing.T) {
	e := newFSMEnv(t)
	fill := func() {
		e.postIDs("pq", `{"messages": [{"body": 1}, {"body": 2}, {"body": 3}]}`)
		e.post("/v2/queues/pq/claims?limit=1", "").expect(201)
	}
	total := func() any { return path(e.get("/v2/queues/pq/stats").obj(), "messages", "total") }
	fill()
	for _, c := range []struct{ body, desc string }{
		{`{}`, `Post body must contain key "resource_types".`},
		{`{"resource_types": ["messages", "queues"]}`, "Resource types must be a sub set of"},
		{`{"resource_types": "messages"}`, "Resource types must be a sub set of"},
		{`[]`, "Document type not supported."},
		{`{"resource_types": [1]}`, "sub set"},
		{`nope`, "could not be parsed"},
	} {
		e.post("/v2/queues/pq/purge", c.body).expectErr(400, "", c.desc)
	}
	if total() != float64(3) {
		t.Fatal("a failed purge deleted messages")
	}
	e.post("/v2/queues/pq/purge", `{"resource_types": ["subscriptions"]}`).expect(204)
	if total() != float64(3) {
		t.Fatal("purging subscriptions deleted messages")
	}
	e.post("/v2/queues/pq/purge", `{"resource_types": ["messages"]}`).expect(204)
	if total() != float64(0) {
		t.Fatal("purge left messages (claimed ones included)")
	}
	fill()
	e.post("/v2/queues/pq/purge", "").expect(204)
	if total() != float64(0) {
		t.Fatal("bodiless purge left messages")
	}
	e.post("/v2/queues/missing/purge", "").expect(204)
	if m := e.get("/v2/queues/pq").obj(); m == nil {
		t.Fatal("purge deleted the queue")
	}
}
