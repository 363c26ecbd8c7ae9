package httpapi

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/herald-mq/herald/fsm"
)

func TestRoutingNotFoundAndMethods(t *testing.T) {
	e := newFakeEnv(t)
	for _, p := range []string{"/v2", "/v2/queues/", "/nope", "/v2/topics/t/claims",
		"/v2/topics/", "/v2/topics/t/share", "/v2/queues/q/messages/", "/v2//queues", "/v1.1/queues", "/v2/queues/q/claims/"} {
		e.get(p).expectErr(404, title404, "")
	}
	cases := []struct{ method, path, allow string }{
		{"HEAD", "/v2/queues/q", "DELETE, GET, PATCH, PUT"},
		{"POST", "/v2/queues", "GET"},
		{"PUT", "/v2/queues/q/messages", "DELETE, GET, POST"},
		{"POST", "/v2/ping", "GET, HEAD"},
		{"GET", "/v2/queues/q/claims", "POST"},
		{"PUT", "/v2/queues/q/claims/c", "DELETE, GET, PATCH"},
		{"GET", "/v2/queues/q/share", "POST"},
		{"PUT", "/v2/queues/q/subscriptions", "GET, POST"},
		{"POST", "/v2/queues/q/subscriptions/s", "DELETE, GET, PATCH"},
		{"GET", "/v2/queues/q/subscriptions/s/confirm", "PUT"},
		{"PUT", "/v2/queues/q/subscriptions/s/delivery", "GET"},
		{"DELETE", "/", "GET"},
		{"POST", "/healthz", "GET"},
	}
	for _, c := range cases {
		r := e.req(c.method, c.path).do()
		if r.status != 405 || r.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: status %d Allow %q, want 405 %q", c.method, c.path, r.status, r.header.Get("Allow"), c.allow)
		}
		if c.method != "HEAD" {
			r.expectErr(405, title405, "")
		}
	}
	if e.fake.appliedCount() != 0 {
		t.Fatal("routing errors must not write")
	}
}

func TestRequestIDOnEveryResponse(t *testing.T) {
	e := newFakeEnv(t)
	re := regexp.MustCompile(`^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for _, r := range []*resp{e.get("/"), e.get("/nope"), e.get("/v2/queues"), e.req("HEAD", "/v2/queues/q").do(),
		e.req("GET", "/v2/queues").del("Client-ID").do(), e.get("/healthz")} {
		id := r.header.Get("x-openstack-request-id")
		if !re.MatchString(id) {
			t.Fatalf("request id %q", id)
		}
		if seen[id] {
			t.Fatalf("request id %q repeated", id)
		}
		seen[id] = true
	}
}

func TestVersionsAndHome(t *testing.T) {
	e := newFakeEnv(t)
	// "/" needs neither Client-ID nor project.
	r := e.req("GET", "/").del("Client-ID").del("X-Project-ID").do().expect(300)
	if path(r.json(), "versions", 0, "links", 0, "href") != "/v2/" || path(r.json(), "versions", 0, "id") != "2" {
		t.Fatalf("versions body %s", r.body)
	}
	r = e.get("/v2/").expect(200)
	if r.header.Get("Content-Type") != "application/json-home" || r.header.Get("Cache-Control") != "max-age=86400" {
		t.Fatalf("home headers %v", r.header)
	}
	res := r.obj()["resources"].(map[string]any)
	for _, rel := range []string{"rel/queues", "rel/queue", "rel/queue_stats", "rel/queue_share", "rel/queue_purge",
		"rel/messages", "rel/post_messages", "rel/messages_delete", "rel/message_delete", "rel/message_get",
		"rel/claim", "rel/post_claim", "rel/patch_claim", "rel/delete_claim", "rel/subscriptions_get",
		"rel/subscriptions_post", "rel/subscription", "rel/subscription_patch", "rel/ping", "rel/health"} {
		v, ok := res[rel].(map[string]any)
		if !ok {
			t.Fatalf("home lacks %s", rel)
		}
		tmpl, _ := v["href-template"].(string)
		if tmpl == "" {
			tmpl, _ = v["href"].(string)
		}
		if !strings.HasPrefix(tmpl, "/v2") {
			t.Fatalf("%s template %q", rel, tmpl)
		}
	}
	// The home document still needs Client-ID and an Accept admitting JSON.
	e.req("GET", "/v2/").del("Client-ID").do().expectErr(400, titleMissingHeader, "")
	e.req("GET", "/v2/").set("Accept", "application/json-home").do().expectErr(406, title406, "")
}

func TestPing(t *testing.T) {
	e := newFakeEnv(t)
	if r := e.get("/v2/ping"); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("ping %d %q", r.status, r.body)
	}
	if r := e.req("HEAD", "/v2/ping").do(); r.status != 204 {
		t.Fatalf("HEAD ping %d", r.status)
	}
	e.req("HEAD", "/v2/ping").del("Client-ID").do().expect(400)
	e.fake.readFn = func(_ context.Context, _ bool, _ func(*fsm.State)) error { return noLeader{} }
	e.get("/v2/ping").expectErr(503, titleUnavailable, "")
	if r := e.req("HEAD", "/v2/ping").do(); r.status != 204 {
		t.Fatalf("HEAD ping must not touch storage: %d", r.status)
	}
}

func TestFormEncodedRefused(t *testing.T) {
	e := newFakeEnv(t)
	e.req("PUT", "/v2/queues/q").json("a=b").set("Content-Type", "application/x-www-form-urlencoded").
		set("Accept", "text/html").do().expectErr(400, titleInvalidCT, "application/x-www-form-urlencoded")
	e.req("PUT", "/v2/queues/q").json("").set("Content-Type", "Application/X-WWW-Form-URLencoded").
		do().expectErr(400, titleInvalidCT, "")
	// No declared body: allowed. A parameter in the type defeats the exact compare, as in Zaqar.
	e.req("GET", "/v2/queues").set("Content-Type", "application/x-www-form-urlencoded").do().expect(200)
	e.req("PUT", "/v2/queues/q").json("{}").set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8").
		do().expect(204)
}

func TestAcceptNegotiation(t *testing.T) {
	e := newFakeEnv(t)
	ok := []string{"", "application/json", "*/*", "application/*", "text/html, application/json;q=0.1",
		"APPLICATION/JSON", "*", "application/json; charset=utf-8", "text/plain;q=1, */*;q=0.2"}
	for _, a := range ok {
		if r := e.req("GET", "/v2/queues").set("Accept", a).do(); r.status != 200 {
			t.Errorf("Accept %q: %d", a, r.status)
		}
	}
	bad := []string{"text/html", "application/json-home", "application/json;q=0", "application/json;q=0, */*",
		"application/xml, text/*", "garbage"}
	for _, a := range bad {
		r := e.req("GET", "/v2/queues").set("Accept", a).del("Client-ID").do().expectErr(406, title406, "Accept")
		if path(r.json(), "link", "rel") != "help" {
			t.Errorf("406 body lacks link: %s", r.body)
		}
	}
}

func TestClientID(t *testing.T) {
	e := newFakeEnv(t)
	e.req("GET", "/v2/queues").del("Client-ID").del("X-Project-ID").do().
		expectErr(400, titleMissingHeader, "The Client-Id header is required.")
	bad := []string{"", "not-a-uuid", "3381af92-2b9e-11e3-b191-71861300734", "3381af92-2b9e-11e3-b191-71861300734cc",
		"3381af922b9e11e3b19171861300734g", "URN:UUID:3381af92-2b9e-11e3-b191-71861300734c", " 3381af922b9e11e3b19171861300734c",
		"3381af92_2b9e_11e3_b191_71861300734c", "0x81af922b9e11e3b19171861300734c", "日本語"}
	for _, id := range bad {
		e.req("GET", "/v2/queues").set("Client-ID", id).do().expectErr(400, titleWrongUUID, "Malformed hexadecimal UUID.")
	}
	good := []string{"3381af92-2b9e-11e3-b191-71861300734c", "3381AF922B9E11E3B19171861300734C",
		"{3381af92-2b9e-11e3-b191-71861300734c}", "urn:uuid:3381af92-2b9e-11e3-b191-71861300734c",
		"uuid:3381af922b9e11e3b19171861300734c", "3381-af922b9e11e3b191-71861300734c"}
	for _, id := range good {
		e.req("POST", "/v2/queues/q/messages").set("Client-ID", id).json(`{"messages":[{"body":1}]}`).do().expect(201)
	}
	// Every post stored the canonical id.
	for _, cmd := range e.fake.applied {
		var p fsm.MessagesPost
		if err := msgpack.Unmarshal(cmd.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.ClientID != "3381af922b9e11e3b19171861300734c" {
			t.Fatalf("client id stored as %q", p.ClientID)
		}
	}
}

func TestProjectHeader(t *testing.T) {
	e := newFakeEnv(t)
	e.req("GET", "/v2/queues").del("X-Project-ID").do().expectErr(400, titleProjectMiss, "X-PROJECT-ID")
	e.req("GET", "/v2/queues").set("X-Project-ID", "").do().expectErr(400, titleProjectEmpty, "")
	e.req("GET", "/v2/queues").set("X-Project-ID", strings.Repeat("p", 257)).do().expectErr(400, titleInvalidAPI, "256")
	e.req("GET", "/v2/queues/q").set("X-Project-ID", strings.Repeat("p", 257)).do().expectErr(400, titleQueueID, "256")
	e.req("GET", "/v2/queues").set("X-Project-ID", strings.Repeat("p", 256)).do().expect(200)
	e.req("GET", "/v2/queues").del("X-Project-ID").set("X-Tenant-Id", "t1").do().expect(200)
	e.req("GET", "/v2/queues").del("X-Project-ID").set("X-Tenant", "t1").do().expect(200)
	// Project is checked before the queue name.
	e.req("GET", "/v2/queues/"+strings.Repeat("q", 65)).del("X-Project-ID").do().expectErr(400, titleProjectMiss, "")
	// ping and health need a project too.
	e.req("GET", "/v2/ping").del("X-Project-ID").do().expectErr(400, titleProjectMiss, "")
}

func TestQueueNameValidation(t *testing.T) {
	e := newFakeEnv(t)
	bad := []string{strings.Repeat("q", 65), "%E6%97%A5%E6%9C%AC", "a%20b", "a*b", "a%2Cb", "q%21", "%C3%A9"}
	for _, name := range bad {
		for _, p := range []string{"/v2/queues/" + name, "/v2/queues/" + name + "/messages", "/v2/queues/" + name + "/stats",
			"/v2/queues/" + name + "/claims"} {
			for _, m := range []string{"GET", "PUT", "POST", "DELETE"} {
				r := e.req(m, p).do()
				if r.status == 405 {
					continue
				}
				r.expectErr(400, titleQueueID, "Queue names")
			}
		}
	}
	for _, name := range []string{strings.Repeat("q", 64), "a.b", "A-Z_0.9", "..."} {
		e.get("/v2/queues/" + name).expect(200)
	}
	if e.fake.appliedCount() != 0 {
		t.Fatal("invalid names must not write")
	}
}

func TestHealthPolicy(t *testing.T) {
	e := newFakeEnv(t)
	e.get("/v2/health").expectErr(403, titleNotAuthorized, "You are not authorized to complete this action.")
	e.req("GET", "/v2/health").set("X-Roles", "member, reader").do().expectErr(403, titleNotAuthorized, "")
	r := e.req("GET", "/v2/health").set("X-Roles", "member,Admin").do().expect(200)
	if path(r.json(), "storage_reachable") != true || path(r.json(), "message_volume", "total") != float64(0) {
		t.Fatalf("health body %s", r.body)
	}
	// Policy runs after the hooks: a missing Client-ID still answers 400.
	e.req("GET", "/v2/health").del("Client-ID").do().expectErr(400, titleMissingHeader, "")
}

func TestOpsEndpoints(t *testing.T) {
	fb := &fakeBackend{}
	for _, ready := range []bool{true, false} {
		h, err := New(Config{Backend: fb, Ops: fakeOps{ready: ready}})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, h: h}
		bare := func(p string) *resp {
			return e.req("GET", p).del("Client-ID").del("X-Project-ID").set("Accept", "text/html").do()
		}
		r := bare("/healthz").expect(200)
		if r.obj()["status"] != "ok" {
			t.Fatalf("healthz %s", r.body)
		}
		r = bare("/readyz")
		if ready && (r.status != 200 || r.obj()["status"] != "ready") || !ready && r.status != 503 {
			t.Fatalf("readyz(%v) = %d %s", ready, r.status, r.body)
		}
		r = bare("/cluster/status").expect(200)
		if r.obj()["node_id"] != "n1" || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %s", r.body)
		}
	}
}

func TestNewValidatesConfig(t *testing.T) {
	if _, err := New(Config{Ops: fakeOps{}}); err != ErrNoBackend {
		t.Fatalf("no backend: %v", err)
	}
	if _, err := New(Config{Backend: &fakeBackend{}}); err != ErrNoOps {
		t.Fatalf("no ops: %v", err)
	}
	if _, err := New(Config{Backend: &fakeBackend{}, Ops: fakeOps{}, RequestTimeout: -1}); err != ErrBadTimeout {
		t.Fatalf("negative timeout: %v", err)
	}
}

func TestParseClientIDUnit(t *testing.T) {
	cases := map[string]string{
		"3381af92-2b9e-11e3-b191-71861300734c":          "3381af922b9e11e3b19171861300734c",
		"{{3381af92-2b9e-11e3-b191-71861300734c}}":      "3381af922b9e11e3b19171861300734c",
		"urn:uuid:3381AF92-2B9E-11E3-B191-71861300734C": "3381af922b9e11e3b19171861300734c",
		"3381af92-2b9e-11e3-b191-71861300734":           "",
		"":                                              "",
	}
	for in, want := range cases {
		got, ok := parseClientID(in)
		if got != want || ok != (want != "") {
			t.Errorf("parseClientID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestIdempotencyKeyAndStaleReads(t *testing.T) {
	e := newFakeEnv(t)
	r := e.req("DELETE", "/v2/queues/q").set("Idempotency-Key", "k-1").do().expect(204)
	if got := e.fake.applied[0].RequestID; got != "idem:"+testProject+":k-1" {
		t.Fatalf("RequestID %q", got)
	}
	r = e.req("DELETE", "/v2/queues/q").do().expect(204)
	if got := e.fake.applied[1].RequestID; got != r.header.Get("x-openstack-request-id") {
		t.Fatalf("RequestID %q, want the request id %q", got, r.header.Get("x-openstack-request-id"))
	}
	if idempotencyID("a:b", "c") == idempotencyID("a", "b:c") || idempotencyID("a%3Ab", "c") == idempotencyID("a:b", "c") {
		t.Fatal("idempotency ids of different projects collide")
	}
	e.req("DELETE", "/v2/queues/q").set("Idempotency-Key", strings.Repeat("k", 257)).do().expectErr(400, titleInvalidAPI, "Idempotency-Key")
	if e.fake.appliedCount() != 2 {
		t.Fatal("a bad key must not write")
	}
	e.fake.reads = nil
	e.get("/v2/queues/q").expect(200)
	e.req("GET", "/v2/queues/q").set("X-Herald-Read", "stale").do().expect(200)
	e.req("POST", "/v2/queues/q/messages").json(`{"messages":[{"body":1}]}`).do().expect(201)
	if want := []bool{false, true, true}; len(e.fake.reads) != 3 || e.fake.reads[0] != want[0] ||
		e.fake.reads[1] != want[1] || e.fake.reads[2] != want[2] {
		t.Fatalf("stale flags %v, want %v (message POST reads queue limits stale)", e.fake.reads, want)
	}
}
