package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// pythonSignature is what Zaqar's urls.create_signed_url computes (checked
// with Python's hmac) for key testKey, project proj-a, paths messages and
// claims of queue "shared", methods GET and POST, expiring 2026-03-02T12:00:00.
const pythonSignature = "b65fd716636f3c73fc00e9c3461124d9c328982aa99d667867b114899bcc894b"

func TestShareCreate(t *testing.T) {
	e := newFakeEnv(t)
	r := e.post("/v2/queues/shared/share", `{}`).expect(200)
	got := r.obj()
	if got["project"] != testProject || path(got, "paths", 0) != "/v2/queues/shared/messages" ||
		path(got, "methods", 0) != "GET" || got["expires"] != "2026-03-02T12:00:00" || len(got["signature"].(string)) != 64 {
		t.Fatalf("share %s", r.body)
	}
	r = e.post("/v2/queues/shared/share", `{"paths": ["messages", "claims"], "methods": ["POST", "GET"],
		"expires": "2026-03-02T14:00:00+02:00"}`).expect(200)
	want := `{"project":"proj-a","paths":["/v2/queues/shared/claims","/v2/queues/shared/messages"],` +
		`"methods":["GET","POST"],"expires":"2026-03-02T12:00:00","signature":"` + pythonSignature + `"}`
	if string(r.body) != want {
		t.Fatalf("share\n got %s\nwant %s", r.body, want)
	}
	// The same with a naive UTC time, a fraction and a Z.
	for _, exp := range []string{"2026-03-02T12:00:00", "2026-03-02T12:00:00.999Z", "2026-03-02 12:00:00Z", "2026-03-02T10:00:00-0200"} {
		r = e.post("/v2/queues/shared/share", `{"paths": ["claims", "messages"], "methods": ["GET", "POST"], "expires": "`+exp+`"}`).expect(200)
		if r.obj()["signature"] != pythonSignature {
			t.Fatalf("expires %q: %s", exp, r.body)
		}
	}
	bad := []struct{ body, desc string }{
		{``, "Request body can not be empty"},
		{`[]`, "Document type not supported."},
		{`{"project_id": "x", "methods": ["GET"]}`, "Unknown keys: {'project_id'}"},
		{`{"paths": ["messages", "queues"]}`, "Invalid paths: {'queues'}"},
		{`{"paths": "messages"}`, "Invalid paths"},
		{`{"methods": "GET"}`, "`methods` should be a list"},
		{`{"methods": [1]}`, "`methods` should be a list"},
		{`{"expires": "1234"}`, "not integer value: 1234"},
		{`{"expires": 1234}`, "not integer value: 1234"},
		{`{"expires": "2020-01-01T00:00:00"}`, "`expires` is lower than the current time"},
		{`{"expires": "2026-03-01T12:00:00"}`, "`expires` is lower than the current time"},
		{`{"expires": "tomorrow"}`, "Unable to parse date string"},
		{`{"expires": "2026-13-01T00:00:00"}`, "Unable to parse date string"},
		{`{"expires": {}}`, "Unable to parse date string"},
	}
	for _, c := range bad {
		e.post("/v2/queues/shared/share", c.body).expectErr(400, "", c.desc)
	}
	// No key configured: 400, as Zaqar does.
	h, err := New(Config{Backend: &fakeBackend{}, Ops: fakeOps{}})
	if err != nil {
		t.Fatal(err)
	}
	(&env{t: t, h: h}).post("/v2/queues/shared/share", `{}`).expectErr(400, titleInvalidAPI, "The `key` can't be None")
	if e.fake.appliedCount() != 0 {
		t.Fatal("share must not write")
	}
}

// signedReq builds a request carrying only the signature headers of share
// (and the usual Client-ID).
func (e *env) signedReq(method, p string, share map[string]any) *req {
	join := func(k string) string {
		var s []string
		for _, v := range share[k].([]any) {
			s = append(s, v.(string))
		}
		return strings.Join(s, ",")
	}
	r := e.req(method, p)
	r.set("URL-Signature", share["signature"].(string)).set("URL-Expires", share["expires"].(string)).
		set("URL-Methods", join("methods")).set("URL-Paths", join("paths")).set("X-Project-ID", share["project"].(string))
	return r
}

func TestSignedURLVerification(t *testing.T) {
	e := newFSMEnv(t)
	ids := e.postIDs("shared", `{"messages": [{"body": "hello"}]}`)
	share := e.post("/v2/queues/shared/share", `{"methods": ["GET", "DELETE"]}`).expect(200).obj()
	// Good: the collection and anything below it.
	if b := e.signedReq("GET", "/v2/queues/shared/messages?echo=true", share).do().expect(200).obj(); len(b["messages"].([]any)) != 1 {
		t.Fatalf("signed list %v", b)
	}
	e.signedReq("GET", "/v2/queues/shared/messages/"+ids[0], share).do().expect(200)
	e.signedReq("GET", "/v2/queues/shared/messages?ids="+ids[0], share).do().expect(200)
	// Hooks still run after the signature: Client-ID is required.
	e.signedReq("GET", "/v2/queues/shared/messages", share).del("Client-ID").do().expectErr(400, titleMissingHeader, "")
	notFound := func(name string, r *req) {
		t.Helper()
		res := r.do()
		if res.status != 404 {
			t.Fatalf("%s: status %d body %s", name, res.status, res.body)
		}
		res.expectErr(404, title404, "")
	}
	notFound("wrong method", e.signedReq("POST", "/v2/queues/shared/messages", share).json(`{"messages": [{"body": 1}]}`))
	notFound("wrong path", e.signedReq("GET", "/v2/queues/other/messages", share))
	notFound("prefix of another queue", e.signedReq("GET", "/v2/queues/sharedX/messages", share))
	notFound("other resource", e.signedReq("GET", "/v2/queues/shared/stats", share))
	notFound("queue itself", e.signedReq("GET", "/v2/queues/shared", share))
	sig := share["signature"].(string)
	flipped := "0" + sig[1:]
	if flipped == sig {
		flipped = "1" + sig[1:]
	}
	notFound("tampered signature", e.signedReq("GET", "/v2/queues/shared/messages", share).set("URL-Signature", flipped))
	notFound("upper-case signature", e.signedReq("GET", "/v2/queues/shared/messages", share).set("URL-Signature", strings.ToUpper(sig)))
	notFound("tampered methods", e.signedReq("GET", "/v2/queues/shared/messages", share).set("URL-Methods", "GET,DELETE,POST"))
	notFound("tampered paths", e.signedReq("GET", "/v2/queues/shared/messages", share).
		set("URL-Paths", "/v2/queues/shared/messages,/v2/queues/shared/claims"))
	notFound("tampered expiry", e.signedReq("GET", "/v2/queues/shared/messages", share).set("URL-Expires", "2026-03-09T12:00:00"))
	notFound("no expiry", e.signedReq("GET", "/v2/queues/shared/messages", share).del("URL-Expires"))
	notFound("other project", e.signedReq("GET", "/v2/queues/shared/messages", share).set("X-Project-ID", "proj-b"))
	notFound("signature first", e.signedReq("GET", "/v2/queues/shared/messages", share).set("URL-Signature", flipped).
		del("Client-ID").set("Accept", "text/html"))
	// Signed DELETE works; then the signature expires.
	e.signedReq("DELETE", "/v2/queues/shared/messages/"+ids[0], share).do().expect(204)
	e.clock.Advance(24*time.Hour + time.Second)
	notFound("expired", e.signedReq("GET", "/v2/queues/shared/messages", share))
}

func TestSignedURLWithoutKey(t *testing.T) {
	// A node without a key verifies nothing.
	h, err := New(Config{Backend: &fakeBackend{}, Ops: fakeOps{}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	share := map[string]any{"signature": pythonSignature, "expires": "2026-03-02T12:00:00", "project": "proj-a",
		"methods": []any{"GET", "POST"}, "paths": []any{"/v2/queues/shared/claims", "/v2/queues/shared/messages"}}
	e.signedReq("GET", "/v2/queues/shared/messages", share).do().expectErr(404, title404, "")
	// The Python vector verifies on a node with the key (clock before expiry).
	fb := &fakeBackend{readFn: func(context.Context, bool, func(*fsm.State)) error { return nil }}
	h, _ = New(Config{Backend: fb, Ops: fakeOps{}, SignedURLKey: testKey, Now: newFakeClock().Now})
	e = &env{t: t, h: h}
	if r := e.signedReq("GET", "/v2/queues/shared/messages", share).do(); r.status != http.StatusOK {
		t.Fatalf("python vector: %d %s", r.status, r.body)
	}
}

func TestParseExpires(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	good := map[string]string{
		"2026-03-02T00:00:00":       "2026-03-02T00:00:00",
		"2026-03-02":                "2026-03-02T00:00:00",
		"2026-03-02T05:30":          "2026-03-02T05:30:00",
		"2026-03-02T05:30:00+05:30": "2026-03-02T00:00:00",
		"2026-03-02T05:30:00.5":     "2026-03-02T05:30:00",
		"2026-03-01T23:00:00-01":    "2026-03-02T00:00:00",
	}
	for in, want := range good {
		got, err := parseExpires(in, now)
		if err != nil || got.Format(signedDateFormat) != want {
			t.Errorf("parseExpires(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "20260302", "+12", "1_000", "2026-02-30T00:00:00", "2026-03-02T24:00:00",
		"2026-03-02T00:00:00+25:00", "2026-03-02T00:00:00 junk", "2025-01-01T00:00:00"} {
		if _, err := parseExpires(in, now); err == nil {
			t.Errorf("parseExpires(%q) accepted", in)
		}
	}
}
