package httpapi

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/herald-mq/herald/fsm"
)

// newFSMEnvWith is newFSMEnv with a Config adjusted by mod.
func newFSMEnvWith(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	clock := newFakeClock()
	b := &fsmBackend{f: fsm.New(fsm.Config{}), clock: clock}
	cfg := Config{Backend: b, Ops: fakeOps{ready: true}, SignedURLKey: testKey, Now: clock.Now}
	mod(&cfg)
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: h, clock: clock, fsmB: b}
}

const subsPath = "/v2/queues/sq/subscriptions"

// subscribe creates a subscription and returns its id.
func (e *env) subscribe(col, body string) string {
	e.t.Helper()
	r := e.post(col, body).expect(201)
	if r.header.Get("Location") != col {
		e.t.Fatalf("Location %q, want %q", r.header.Get("Location"), col)
	}
	id, _ := r.obj()["subscription_id"].(string)
	if !fsm.ValidID(id) {
		e.t.Fatalf("subscription id %q", id)
	}
	return id
}

func (e *env) patchSub(p, body string) *resp {
	r := e.req("PATCH", p)
	if body != "" {
		r.json(body)
	}
	return r.do()
}

func (e *env) applyFSM(t fsm.CmdType, payload any) {
	e.t.Helper()
	cmd, err := fsm.NewCommand(t, "test-"+newRequestID(), payload)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.fsmB.Apply(context.Background(), cmd); err != nil {
		e.t.Fatal(err)
	}
}

func subscriptionIDs(t *testing.T, r *resp) []string {
	t.Helper()
	var ids []string
	for _, s := range r.obj()["subscriptions"].([]any) {
		ids = append(ids, s.(map[string]any)["id"].(string))
	}
	return ids
}

func TestSubscriptionCreateAndGet(t *testing.T) {
	e := newFSMEnv(t)
	id := e.subscribe(subsPath, `{"subscriber": "http://fake:8080", "ttl": 600, "options": {"post_data": "x", "n": [1, 2]}}`)
	if names := e.get("/v2/queues").obj()["queues"].([]any); len(names) != 1 || path(names, 0, "name") != "sq" {
		t.Fatalf("queue not created lazily: %v", names)
	}
	e.clock.Advance(30 * time.Second)
	r := e.get(subsPath + "/" + id).expect(200)
	want := `{"id":"` + id + `","source":"sq","subscriber":"http://fake:8080","ttl":600,"age":30,` +
		`"options":{"n":[1,2],"post_data":"x"},"confirmed":false}`
	if string(r.body) != want {
		t.Fatalf("GET subscription\n got %s\nwant %s", r.body, want)
	}
	// Defaults: ttl 3600, options {}; falsy options count as {}.
	id2 := e.subscribe(subsPath, `{"subscriber": "mailto:ops@example.com?subject=hi", "options": ""}`)
	if m := e.get(subsPath + "/" + id2).obj(); m["ttl"] != float64(3600) || len(m["options"].(map[string]any)) != 0 {
		t.Fatalf("defaults %v", m)
	}
	e.subscribe(subsPath, `{"subscriber": "HTTPS://Example.com/hook", "ttl": null, "extra": 1}`)
	// Unconfirmed duplicate: 201 with the same id, ttl and options untouched.
	if dup := e.subscribe(subsPath, `{"subscriber": "http://fake:8080", "ttl": 7200, "options": {}}`); dup != id {
		t.Fatalf("duplicate got %s, want %s", dup, id)
	}
	if m := e.get(subsPath + "/" + id).obj(); m["ttl"] != float64(600) || len(m["options"].(map[string]any)) != 2 {
		t.Fatalf("duplicate changed the subscription: %v", m)
	}
	// The secret is random, 32 bytes, and never rendered.
	var s1, s2 []byte
	e.fsmB.f.Read(func(st *fsm.State) {
		a, _ := st.Subscription(testProject, fsm.SourceQueue, "sq", id, 0)
		b, _ := st.Subscription(testProject, fsm.SourceQueue, "sq", id2, 0)
		s1, s2 = a.Secret, b.Secret
	})
	if len(s1) != SubscriptionSecretSize || len(s2) != SubscriptionSecretSize || string(s1) == string(s2) {
		t.Fatalf("secrets %x %x", s1, s2)
	}
	if strings.Contains(strings.ToLower(string(e.get(subsPath).body)), "secret") {
		t.Fatal("secret rendered")
	}
	// Only Herald's delivery extension hands the key to its owner.
	if got := e.get(subsPath + "/" + id + "/delivery").obj()["signing_secret"]; got != hex.EncodeToString(s1) {
		t.Fatalf("signing_secret %v, want %x", got, s1)
	}
	// Unknown, malformed, other queue: 404.
	e.get(subsPath+"/"+strings.Repeat("0", 24)).expectErr(404, titleNotFound, "does not exist")
	e.get(subsPath+"/123").expectErr(404, titleNotFound, "Subscription 123 does not exist")
	e.get("/v2/queues/other/subscriptions/"+id).expectErr(404, titleNotFound, "")
	// Expiry.
	e.clock.Advance(571 * time.Second)
	e.get(subsPath+"/"+id).expectErr(404, titleNotFound, "")
	if ids := subscriptionIDs(t, e.get(subsPath).expect(200)); len(ids) != 2 {
		t.Fatalf("list after expiry %v", ids)
	}
}

func TestSubscriptionList(t *testing.T) {
	e := newFSMEnv(t)
	var ids []string
	for i := 0; i < 12; i++ {
		ids = append(ids, e.subscribe(subsPath, `{"subscriber": "http://h/`+itoa(i)+`"}`))
	}
	r := e.get(subsPath).expect(200)
	if got := subscriptionIDs(t, r); len(got) != 10 || got[0] != ids[0] || got[9] != ids[9] {
		t.Fatalf("first page %v", got)
	}
	next := path(r.json(), "links", 0, "href").(string)
	if path(r.json(), "links", 0, "rel") != "next" || next != subsPath+"?marker="+ids[9]+"&limit=10" {
		t.Fatalf("next link %q", next)
	}
	r = e.get(next).expect(200)
	if got := subscriptionIDs(t, r); len(got) != 2 || got[1] != ids[11] {
		t.Fatalf("second page %v", got)
	}
	r = e.get(path(r.json(), "links", 0, "href").(string)).expect(200)
	if string(r.body) != `{"subscriptions":[],"links":[]}` {
		t.Fatalf("last page %s", r.body)
	}
	if got := subscriptionIDs(t, e.get(subsPath+"?limit=20").expect(200)); len(got) != 12 {
		t.Fatalf("limit 20: %d", len(got))
	}
	if got := subscriptionIDs(t, e.get(subsPath+"?limit=3&marker="+ids[4]).expect(200)); len(got) != 3 || got[0] != ids[5] {
		t.Fatalf("marker page %v", got)
	}
	for _, q := range []string{"limit=0", "limit=21", "limit=-1"} {
		e.get(subsPath+"?"+q).expectErr(400, titleInvalidAPI, "Limit must be at least 1 and may not be greater than 20.")
	}
	e.get(subsPath+"?limit=x").expectErr(400, titleInvalidParam, "")
	if r := e.get("/v2/queues/nothing/subscriptions").expect(200); string(r.body) != `{"subscriptions":[],"links":[]}` {
		t.Fatalf("missing queue %s", r.body)
	}
	// The home document lists the subscription rels.
	res := e.get("/v2/").obj()["resources"].(map[string]any)
	for rel, want := range map[string]string{
		"rel/subscriptions_get":     "/v2/queues/{queue_name}/subscriptions{?marker,limit}",
		"rel/subscriptions_post":    "/v2/queues/{queue_name}/subscriptions",
		"rel/subscription":          "/v2/queues/{queue_name}/subscriptions/{subscriptions_id}",
		"rel/subscription_patch":    "/v2/queues/{queue_name}/subscriptions/{subscriptions_id}",
		"rel/subscription_confirm":  "/v2/queues/{queue_name}/subscriptions/{subscriptions_id}/confirm",
		"rel/subscription_delivery": "/v2/queues/{queue_name}/subscriptions/{subscriptions_id}/delivery",
	} {
		if got := path(res, rel, "href-template"); got != want {
			t.Errorf("%s template %v, want %s", rel, got, want)
		}
	}
}

func TestSubscriptionValidation(t *testing.T) {
	e := newFSMEnv(t)
	bad := []struct{ body, title, desc string }{
		{``, titleInvalidAPI, "Missing parameter subscriber in body."},
		{`{}`, titleInvalidAPI, "Missing parameter subscriber in body."},
		{`{"ttl": 60}`, titleInvalidAPI, "Missing parameter subscriber in body."},
		{`{"subscriber": null}`, titleInvalidAPI, "Missing parameter subscriber in body."},
		{`[]`, titleInvalidAPI, "Subscriptions must be a dict."},
		{`"x"`, titleInvalidBody, "could not be parsed"},
		{`{"subscriber": `, titleInvalidBody, "could not be parsed"},
		{`{"subscriber": 5}`, titleInvalidAPI, "must be a string"},
		{`{"subscriber": ""}`, titleInvalidAPI, "may not be empty"},
		{`{"subscriber": "fake"}`, titleInvalidAPI, "must be supported in the list ['http', 'https', 'mailto']"},
		{`{"subscriber": "email://fake"}`, titleInvalidAPI, "must be supported in the list"},
		{`{"subscriber": "ftp://h/x"}`, titleInvalidAPI, "must be supported in the list"},
		{`{"subscriber": "trust+http://h/x"}`, titleInvalidAPI, "Keystone"},
		{`{"subscriber": "trust+https://h/x"}`, titleInvalidAPI, "not supported"},
		{`{"subscriber": "http:nohost"}`, titleInvalidAPI, "with a host"},
		{`{"subscriber": "http://"}`, titleInvalidAPI, "with a host"},
		{`{"subscriber": "http://:8080/x"}`, titleInvalidAPI, "with a host"},
		{`{"subscriber": "mailto:"}`, titleInvalidAPI, "must name an address"},
		{`{"subscriber": "mailto:?subject=x"}`, titleInvalidAPI, "must name an address"},
		{`{"subscriber": "http://h", "ttl": "123"}`, titleInvalidAPI, "TTL must be an integer."},
		{`{"subscriber": "http://h", "ttl": 120.5}`, titleInvalidAPI, "TTL must be an integer."},
		{`{"subscriber": "http://h", "ttl": true}`, titleInvalidAPI, "TTL must be an integer."},
		{`{"subscriber": "http://h", "ttl": 59}`, titleInvalidAPI, "must be at least 60 seconds long."},
		{`{"subscriber": "http://h", "ttl": -60}`, titleInvalidAPI, "must be at least 60 seconds long."},
		{`{"subscriber": "http://h", "ttl": 0}`, titleInvalidAPI, "already expired"},
		{`{"subscriber": "http://h", "ttl": 9223372036854775807}`, titleInvalidAPI, "plus current time must be less than 2262-"},
		{`{"subscriber": "http://h", "ttl": 9223372036854775808}`, titleInvalidBody, "too large"},
		{`{"subscriber": "http://h", "options": "x"}`, titleInvalidAPI, "Options must be a dict."},
		{`{"subscriber": "http://h", "options": [1]}`, titleInvalidAPI, "Options must be a dict."},
		{`{"subscriber": "http://h", "options": 5}`, titleInvalidAPI, "Options must be a dict."},
		{`{"subscriber": "http://h", "options": {"_retry_policy": [1]}}`, titleInvalidAPI, "must be an object"},
		{`{"subscriber": "http://h", "options": {"_retry_policy": {"minimum_delay": 40}}}`, titleInvalidAPI,
			"maximum_delay (30) must not be less than minimum_delay (40)"},
		{`{"subscriber": "http://h", "options": {"_retry_policy": {"minimum_delay": 25}}}`, titleInvalidAPI,
			"at least 10 seconds"},
		{`{"subscriber": "http://h", "options": {"_retry_policy": {"retry_backoff_function": "cubic"}}}`, titleInvalidAPI,
			"must be one of linear, arithmetic, geometric, exponential"},
		{`{"subscriber": "http://h", "options": {"_retry_policy": {"retries_with_no_delay": "3"}}}`, titleInvalidAPI,
			"must be an integer"},
		{`{"subscriber": "http://h", "options": {"_retry_policy": {"maximum_delay": 60.5}}}`, titleInvalidAPI,
			"must be an integer"},
		{`{"subscriber": "http://h", "options": {"_retry_policy": {"ignore_subscription_override": "yes"}}}`, titleInvalidAPI,
			"must be a boolean"},
	}
	for _, c := range bad {
		r := e.post(subsPath, c.body)
		if r.status != 400 {
			t.Fatalf("%s: status %d %s", c.body, r.status, r.body)
		}
		r.expectErr(400, c.title, c.desc)
	}
	if q := e.get("/v2/queues").obj()["queues"].([]any); len(q) != 0 {
		t.Fatalf("a refused subscription created the queue: %v", q)
	}
	// Edge values that pass.
	for _, body := range []string{
		`{"subscriber": "http://h/a", "ttl": 60}`,
		`{"subscriber": "http://h/b", "ttl": 1000000000}`,
		`{"subscriber": "http://h/c", "options": {"_retry_policy": {"minimum_delay": 10, "maximum_delay": 20,
			"retry_backoff_function": "geometric", "ignore_subscription_override": true}}}`,
		`{"subscriber": "http://h/d", "options": {"_retry_policy": {}}}`,
		`{"subscriber": "http://h/e", "options": []}`,
	} {
		e.subscribe(subsPath, body)
	}
	// Too large.
	big := `{"subscriber": "http://h/f", "options": {"post_data": "` + strings.Repeat("x", maxSubscriptionBody) + `"}}`
	e.post(subsPath, big).expectErr(400, titleInvalidAPI, "too large")
}

func TestSubscriptionValidateSubscriberHook(t *testing.T) {
	var seen []string
	e := newFSMEnvWith(t, func(c *Config) {
		c.ValidateSubscriber = func(uri string) error {
			seen = append(seen, uri)
			if strings.Contains(uri, "10.0.0.1") {
				return errors.New("subscriber address 10.0.0.1 is not allowed")
			}
			return nil
		}
	})
	e.post(subsPath, `{"subscriber": "http://10.0.0.1/hook"}`).expectErr(400, titleInvalidAPI, "subscriber address 10.0.0.1 is not allowed")
	e.post(subsPath, `{"subscriber": "fake"}`).expect(400)
	id := e.subscribe(subsPath, `{"subscriber": "http://example.com/hook"}`)
	e.patchSub(subsPath+"/"+id, `{"subscriber": "http://10.0.0.1/x"}`).expectErr(400, titleInvalidAPI, "not allowed")
	e.patchSub(subsPath+"/"+id, `{"ttl": 120}`).expect(204)
	if len(seen) != 3 || seen[0] != "http://10.0.0.1/hook" || seen[1] != "http://example.com/hook" {
		t.Fatalf("validator saw %q", seen)
	}
	if e.get(subsPath + "/" + id).obj()["subscriber"] != "http://example.com/hook" {
		t.Fatal("a refused PATCH changed the subscriber")
	}
}

func TestSubscriptionPatch(t *testing.T) {
	e := newFSMEnv(t)
	id := e.subscribe(subsPath, `{"subscriber": "http://h/1", "ttl": 60, "options": {"a": 1, "b": 2}}`)
	other := e.subscribe(subsPath, `{"subscriber": "http://h/2"}`)
	item := subsPath + "/" + id
	for _, c := range []struct{ body, title, desc string }{
		{``, titleInvalidAPI, "No subscription to create."},
		{`{}`, titleInvalidAPI, "No subscription to create."},
		{`[]`, titleInvalidAPI, "No subscription to create."},
		{`[1]`, titleInvalidAPI, "Subscriptions must be a dict."},
		{`{"foo": 1}`, titleUnableUpdSub, "Subscription " + id + " could not be updated."},
		{`{"ttl": null, "subscriber": null, "options": null}`, titleUnableUpdSub, "could not be updated"},
		{`{"ttl": "123"}`, titleInvalidAPI, "TTL must be an integer."},
		{`{"ttl": 0}`, titleInvalidAPI, "already expired"},
		{`{"subscriber": "fake"}`, titleInvalidAPI, "must be supported"},
		{`{"options": "x"}`, titleInvalidAPI, "Options must be a dict."},
		{`{"options": {"_retry_policy": {"maximum_delay": 1}}}`, titleInvalidAPI, "maximum_delay"},
	} {
		e.patchSub(item, c.body).expectErr(400, c.title, c.desc)
	}
	// Unknown, malformed, wrong queue, other project: 404 (body checked first).
	e.patchSub(subsPath+"/"+strings.Repeat("a", 24), `{"ttl": 120}`).expectErr(404, titleNotFound, "does not exist")
	e.patchSub(subsPath+"/123", `{"ttl": 120}`).expectErr(404, titleNotFound, "")
	e.patchSub("/v2/queues/other/subscriptions/"+id, `{"ttl": 120}`).expectErr(404, titleNotFound, "")
	e.req("PATCH", item).json(`{"ttl": 120}`).set("X-Project-ID", "proj-b").do().expectErr(404, titleNotFound, "")
	e.patchSub(subsPath+"/123", `{"foo": 1}`).expectErr(400, titleUnableUpdSub, "")
	// Conflict with another subscription's subscriber.
	e.patchSub(item, `{"subscriber": "http://h/2"}`).expectErr(409, titleConflict, "Such subscription already exists.")
	// Success: 204 + Location; a new ttl restarts the clock; options replaced.
	e.clock.Advance(50 * time.Second)
	r := e.patchSub(item, `{"subscriber": "http://h/1b", "ttl": 60, "options": {"c": 3}}`)
	if r.status != 204 || r.header.Get("Location") != item || len(r.body) != 0 {
		t.Fatalf("PATCH %d %v %s", r.status, r.header, r.body)
	}
	e.clock.Advance(50 * time.Second)
	m := e.get(item).expect(200).obj()
	if m["subscriber"] != "http://h/1b" || m["ttl"] != float64(60) || m["age"] != float64(100) ||
		compactJSON(t, string(e.get(item).body)) != compactJSON(t, `{"id":"`+id+`","source":"sq","subscriber":"http://h/1b",`+
			`"ttl":60,"age":100,"options":{"c":3},"confirmed":false}`) {
		t.Fatalf("after PATCH %v", m)
	}
	e.patchSub(item, `{"options": ""}`).expect(204)
	if len(e.get(item).obj()["options"].(map[string]any)) != 0 {
		t.Fatal("falsy options did not clear the options")
	}
	e.patchSub(item, `{"subscriber": "http://h/1b"}`).expect(204) // its own subscriber
	e.patchSub(subsPath+"/"+other, `{"subscriber": "http://h/1"}`).expect(204)
}

func TestSubscriptionDelete(t *testing.T) {
	e := newFSMEnv(t)
	id := e.subscribe(subsPath, `{"subscriber": "http://h/1"}`)
	for _, p := range []string{subsPath + "/" + strings.Repeat("0", 24), subsPath + "/123",
		"/v2/queues/other/subscriptions/" + id} {
		if r := e.delete(p); r.status != 204 || len(r.body) != 0 {
			t.Fatalf("DELETE %s: %d %s", p, r.status, r.body)
		}
	}
	e.req("DELETE", subsPath+"/"+id).set("X-Project-ID", "proj-b").do().expect(204)
	e.get(subsPath + "/" + id).expect(200)
	e.delete(subsPath + "/" + id).expect(204)
	e.get(subsPath+"/"+id).expectErr(404, titleNotFound, "")
	e.delete(subsPath + "/" + id).expect(204)
	// The subscriber is free again: a new subscription gets a new id.
	if again := e.subscribe(subsPath, `{"subscriber": "http://h/1"}`); again == id {
		t.Fatal("id reused")
	}
}

func TestSubscriptionConfirm(t *testing.T) {
	e := newFSMEnv(t)
	id := e.subscribe(subsPath, `{"subscriber": "http://h/1"}`)
	confirm := subsPath + "/" + id + "/confirm"
	if ConfirmPath(fsm.SourceQueue, "sq", id) != confirm {
		t.Fatalf("ConfirmPath %q", ConfirmPath(fsm.SourceQueue, "sq", id))
	}
	for _, c := range []struct{ body, title, desc string }{
		{``, titleInvalidAPI, "The 'confirmed' should be boolean."},
		{`{}`, titleInvalidAPI, "The 'confirmed' should be boolean."},
		{`{"confirmed": "true"}`, titleInvalidAPI, "should be boolean"},
		{`{"confirmed": 1}`, titleInvalidAPI, "should be boolean"},
		{`{"confirmed": null}`, titleInvalidAPI, "should be boolean"},
		{`[true]`, titleUnableConfirm, "could not be confirmed"},
		{`nope`, titleInvalidBody, "could not be parsed"},
	} {
		e.put(confirm, c.body).expectErr(400, c.title, c.desc)
	}
	e.put(subsPath+"/"+strings.Repeat("0", 24)+"/confirm", `{"confirmed": true}`).expectErr(404, titleNotFound, "does not exist")
	e.put(subsPath+"/123/confirm", `{"confirmed": true}`).expectErr(404, titleNotFound, "")
	e.put("/v2/queues/other/subscriptions/"+id+"/confirm", `{"confirmed": true}`).expectErr(404, titleNotFound, "")
	e.req("PUT", confirm).json(`{"confirmed": true}`).set("X-Project-ID", "proj-b").do().expectErr(404, titleNotFound, "")
	if e.get(subsPath + "/" + id).obj()["confirmed"] != false {
		t.Fatal("confirmed by a refused request")
	}
	r := e.put(confirm, `{"confirmed": true}`)
	if r.status != 204 || r.header.Get("Location") != confirm || len(r.body) != 0 {
		t.Fatalf("confirm %d %v %s", r.status, r.header, r.body)
	}
	if e.get(subsPath + "/" + id).obj()["confirmed"] != true {
		t.Fatal("not confirmed")
	}
	// A confirmed duplicate is a conflict, with Location.
	r = e.post(subsPath, `{"subscriber": "http://h/1", "ttl": 120}`).expectErr(409, titleConflict, "Such subscription already exists.")
	if r.header.Get("Location") != subsPath {
		t.Fatalf("409 Location %q", r.header.Get("Location"))
	}
	e.put(confirm, `{"confirmed": false}`).expect(204)
	if e.get(subsPath + "/" + id).obj()["confirmed"] != false {
		t.Fatal("not unconfirmed")
	}
	if dup := e.subscribe(subsPath, `{"subscriber": "http://h/1"}`); dup != id {
		t.Fatal("unconfirmed duplicate got a new id")
	}
}

func TestSubscriptionConfirmSignedURL(t *testing.T) {
	e := newFSMEnv(t)
	id := e.subscribe(subsPath, `{"subscriber": "http://h/1"}`)
	id2 := e.subscribe(subsPath, `{"subscriber": "http://h/2"}`)
	p := ConfirmPath(fsm.SourceQueue, "sq", id)
	expires := e.clock.Now().Add(time.Hour)
	sig := SignURL(testKey, []string{p}, []string{"PUT"}, testProject, expires)
	signed := func(method, target, signature string) *req {
		return e.req(method, target).set("URL-Signature", signature).set("URL-Methods", "PUT").set("URL-Paths", p).
			set("URL-Expires", expires.UTC().Format(SignedURLExpiresFormat))
	}
	notFound := func(name string, r *req) {
		t.Helper()
		if res := r.do(); res.status != 404 {
			t.Fatalf("%s: %d %s", name, res.status, res.body)
		} else {
			res.expectErr(404, title404, "")
		}
	}
	flipped := "0" + sig[1:]
	if flipped == sig {
		flipped = "1" + sig[1:]
	}
	notFound("tampered", signed("PUT", p, flipped).json(`{"confirmed": true}`))
	notFound("other subscription", signed("PUT", ConfirmPath(fsm.SourceQueue, "sq", id2), sig).json(`{"confirmed": true}`))
	notFound("other method", signed("GET", subsPath+"/"+id, sig))
	notFound("other project", signed("PUT", p, sig).set("X-Project-ID", "proj-b").json(`{"confirmed": true}`))
	if e.get(subsPath + "/" + id).obj()["confirmed"] != false {
		t.Fatal("confirmed by a refused signature")
	}
	signed("PUT", p, sig).json(`{"confirmed": true}`).do().expect(204)
	if e.get(subsPath + "/" + id).obj()["confirmed"] != true || e.get(subsPath + "/" + id2).obj()["confirmed"] != false {
		t.Fatal("signed confirm did not confirm exactly its subscription")
	}
	e.clock.Advance(time.Hour + time.Second)
	notFound("expired", signed("PUT", p, sig).json(`{"confirmed": false}`))
	// SignURL computes what /share returns (the Python vector).
	exp := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	if got := SignURL(testKey, []string{"/v2/queues/shared/messages", "/v2/queues/shared/claims"},
		[]string{"POST", "GET"}, testProject, exp); got != pythonSignature {
		t.Fatalf("SignURL %s", got)
	}
}

func TestSubscriptionProjectIsolation(t *testing.T) {
	e := newFSMEnv(t)
	id := e.subscribe(subsPath, `{"subscriber": "http://h/1"}`)
	b := func(method, p string) *req { return e.req(method, p).set("X-Project-ID", "proj-b") }
	b("GET", subsPath+"/"+id).do().expectErr(404, titleNotFound, "")
	b("GET", subsPath+"/"+id+"/delivery").do().expectErr(404, titleNotFound, "")
	if r := b("GET", subsPath).do().expect(200); string(r.body) != `{"subscriptions":[],"links":[]}` {
		t.Fatalf("other project's list %s", r.body)
	}
	other := b("POST", subsPath).json(`{"subscriber": "http://h/1"}`).do().expect(201).obj()["subscription_id"]
	if other == id {
		t.Fatal("projects share a subscription")
	}
	b("PUT", subsPath+"/"+other.(string)+"/confirm").json(`{"confirmed": true}`).do().expect(204)
	if e.get(subsPath + "/" + id).obj()["confirmed"] != false {
		t.Fatal("other project's confirm leaked")
	}
	e.subscribe(subsPath, `{"subscriber": "http://h/1"}`) // still unconfirmed here: 201
}

func TestSubscriptionsAndQueueLifecycle(t *testing.T) {
	e := newFSMEnv(t)
	id := e.subscribe(subsPath, `{"subscriber": "http://h/1"}`)
	e.delete("/v2/queues/sq").expect(204)
	e.get(subsPath + "/" + id).expect(200) // §4.8: subscriptions outlive their queue
	if ids := subscriptionIDs(t, e.get(subsPath)); len(ids) != 1 {
		t.Fatalf("list after queue delete %v", ids)
	}
	e.post("/v2/queues/sq/purge", `{"resource_types": ["messages"]}`).expect(204)
	e.get(subsPath + "/" + id).expect(200)
	e.post("/v2/queues/sq/purge", `{"resource_types": ["subscriptions"]}`).expect(204)
	e.get(subsPath+"/"+id).expectErr(404, titleNotFound, "")
	if ids := subscriptionIDs(t, e.get(subsPath)); len(ids) != 0 {
		t.Fatalf("list after purge %v", ids)
	}
}

func TestSubscriptionDelivery(t *testing.T) {
	e := newFSMEnv(t)
	id := e.subscribe(subsPath, `{"subscriber": "http://h/1"}`)
	dpath := subsPath + "/" + id + "/delivery"
	r := e.get(dpath).expect(200)
	r.body = withoutSecret(t, r.body)
	want := `{"subscription_id":"` + id + `","owner":null,"owner_epoch":0,"cursor":0,"pending":0,"delivered":0,` +
		`"failed":0,"skipped":0,"last_error":null,"last_error_at":null,"recent_failures":[]}`
	if string(r.body) != want {
		t.Fatalf("fresh delivery\n got %s\nwant %s", r.body, want)
	}
	ids := e.postIDs("sq", `{"messages": [{"body": 1}, {"body": 2}, {"body": 3}]}`)
	e.applyFSM(fsm.CmdAssign, &fsm.Assign{Epoch: 1, Changes: []fsm.Assignment{{SubscriptionID: id, Owner: "n1"}}})
	e.clock.Advance(5 * time.Second)
	e.applyFSM(fsm.CmdAck, &fsm.Ack{SubscriptionID: id, Owner: "n1", Epoch: 1, Cursor: 2, Delivered: 1,
		Failed:    []fsm.FailedDelivery{{Seq: 2, MessageID: ids[1], Error: "HTTP 503", Attempts: 4}},
		LastError: "HTTP 503"})
	r = e.get(dpath).expect(200)
	r.body = withoutSecret(t, r.body)
	want = `{"subscription_id":"` + id + `","owner":"n1","owner_epoch":1,"cursor":2,"pending":1,"delivered":1,` +
		`"failed":1,"skipped":0,"last_error":"HTTP 503","last_error_at":"2026-03-01T12:00:05Z",` +
		`"recent_failures":[{"message_id":"` + ids[1] + `","error":"HTTP 503","attempts":4,"at":"2026-03-01T12:00:05Z"}]}`
	if string(r.body) != want {
		t.Fatalf("delivery\n got %s\nwant %s", r.body, want)
	}
	// The Zaqar representation is unchanged by delivery state.
	if m := e.get(subsPath + "/" + id).obj(); len(m) != 7 {
		t.Fatalf("subscription repr grew: %v", m)
	}
	e.get(subsPath+"/"+strings.Repeat("0", 24)+"/delivery").expectErr(404, titleNotFound, "")
	e.get("/v2/queues/other/subscriptions/"+id+"/delivery").expectErr(404, titleNotFound, "")
}

// TestTopicSubscriptionRoutes registers the handlers for the topic source
// kind, as routes() will once topics exist.
func TestTopicSubscriptionRoutes(t *testing.T) {
	clock := newFakeClock()
	b := &fsmBackend{f: fsm.New(fsm.Config{}), clock: clock}
	s := &server{backend: b, ops: fakeOps{}, key: testKey, log: slog.New(slog.DiscardHandler), now: clock.Now,
		timeout: time.Second}
	r := mux.NewRouter()
	for _, rt := range append(s.subscriptionRoutes(topicSubs), s.subscriptionRoutes(queueSubs)...) {
		r.Handle(rt.path, s.dispatch(rt))
	}
	e := &env{t: t, h: s.outer(r), clock: clock, fsmB: b}
	col := "/v2/topics/tp/subscriptions"
	id := e.subscribe(col, `{"subscriber": "http://h/1"}`)
	if m := e.get(col + "/" + id).expect(200).obj(); m["source"] != "tp" {
		t.Fatalf("topic subscription %v", m)
	}
	// A queue of the same name is another source.
	e.get("/v2/queues/tp/subscriptions/"+id).expectErr(404, titleNotFound, "")
	if e.subscribe("/v2/queues/tp/subscriptions", `{"subscriber": "http://h/1"}`) == id {
		t.Fatal("queue and topic share a subscription")
	}
	p := ConfirmPath(fsm.SourceTopic, "tp", id)
	if p != col+"/"+id+"/confirm" {
		t.Fatalf("ConfirmPath %q", p)
	}
	e.put(p, `{"confirmed": true}`).expect(204)
	e.post(col, `{"subscriber": "http://h/1"}`).expectErr(409, titleConflict, "")
	e.patchSub(col+"/"+id, `{"ttl": 120}`).expect(204)
	if ids := subscriptionIDs(t, e.get(col).expect(200)); len(ids) != 1 {
		t.Fatalf("topic list %v", ids)
	}
	e.get(col + "/" + id + "/delivery").expect(200)
	e.delete(col + "/" + id).expect(204)
	e.get(col+"/"+id).expectErr(404, titleNotFound, "")
	e.get("/v2/topics/bad%20name/subscriptions").expectErr(400, "Invalid topic identification", "")
}

// withoutSecret checks that a delivery body ends in a 64-hex signing_secret
// and returns the body without it.
func withoutSecret(t *testing.T, body []byte) []byte {
	t.Helper()
	const key = `,"signing_secret":"`
	i := strings.LastIndex(string(body), key)
	if i < 0 || len(body) != i+len(key)+64+2 {
		t.Fatalf("no 64-hex signing_secret at the end of %s", body)
	}
	if _, err := hex.DecodeString(string(body[i+len(key) : i+len(key)+64])); err != nil {
		t.Fatalf("signing_secret is not hex: %s", body)
	}
	return append(append([]byte{}, body[:i]...), '}')
}
