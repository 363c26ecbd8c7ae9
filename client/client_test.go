package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDefaultHeaders(t *testing.T) {
	f := newFake(t)
	c := f.client()
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := f.only()
	r.want(t, "GET", "/v2/ping", "", "")
	h := r.Header
	if got := h.Get(HeaderProjectID); got != "default" {
		t.Errorf("X-Project-ID = %q, want default", got)
	}
	if got := h.Get(HeaderClientID); !uuidV4.MatchString(got) || got != c.ClientID() {
		t.Errorf("Client-ID = %q (client says %q), want a UUID v4", got, c.ClientID())
	}
	if got := h.Get("Accept"); got != "application/json" {
		t.Errorf("Accept = %q", got)
	}
	for _, k := range []string{HeaderRoles, HeaderRead, HeaderIdempotencyKey, "URL-Signature"} {
		if v, ok := h[http.CanonicalHeaderKey(k)]; ok {
			t.Errorf("unexpected header %s: %v", k, v)
		}
	}
	if New(f.srv.URL).ClientID() == c.ClientID() {
		t.Error("two clients got the same random Client-ID")
	}
}

func TestOptionHeaders(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{}`}, reply{status: 204})
	c := New(f.srv.URL+"/", WithProjectID("p1"), WithClientID("cid-1"), WithRoles("admin", "member"),
		WithStaleReads(), WithHeaders(map[string]string{"X-Extra": "1", "Accept": "*/*"}))
	ctx := context.Background()
	if _, err := c.GetQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "GET", "/v2/queues/q", "", "")
	rs[1].want(t, "DELETE", "/v2/queues/q", "", "")
	for i, r := range rs {
		for k, v := range map[string]string{HeaderProjectID: "p1", HeaderClientID: "cid-1",
			HeaderRoles: "admin,member", "X-Extra": "1", "Accept": "*/*"} {
			if got := r.Header.Get(k); got != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, got, v)
			}
		}
	}
	if got := rs[0].Header.Get(HeaderRead); got != "stale" {
		t.Errorf("GET X-Herald-Read = %q, want stale", got)
	}
	if got := rs[1].Header.Get(HeaderRead); got != "" {
		t.Errorf("DELETE X-Herald-Read = %q, want none", got)
	}
}

func TestNoProjectHeader(t *testing.T) {
	f := newFake(t)
	if err := f.client(WithProjectID("")).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.only().Header["X-Project-Id"]; ok {
		t.Error("X-Project-ID sent although WithProjectID(\"\")")
	}
}

func TestBaseURLPrefixAndEscaping(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"id":"a b","href":"/v2/queues/q/messages/a%20b","ttl":60,"age":1,"body":null}`})
	c := New(f.srv.URL + "/messaging/")
	if c.BaseURL() != f.srv.URL+"/messaging" {
		t.Errorf("BaseURL = %q", c.BaseURL())
	}
	m, err := c.GetMessage(context.Background(), "q.1", "a b/c")
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/messaging/v2/queues/q.1/messages/a%20b%2Fc", "", "")
	if m.ID != "a b" {
		t.Errorf("id = %q", m.ID)
	}
}

func TestHome(t *testing.T) {
	f := newFake(t, reply{status: 200, header: map[string]string{"Content-Type": "application/json-home"},
		body: `{"resources":{"rel/queues":{"href-template":"/v2/queues{?marker,limit,detailed}",` +
			`"href-vars":{"marker":"param/marker"},"hints":{"allow":["GET"]}},"rel/ping":{"href":"/v2/ping"}}}`})
	doc, err := f.client().Home(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/", "", "")
	if got := doc.Resources["rel/queues"].HrefTemplate; got != "/v2/queues{?marker,limit,detailed}" {
		t.Errorf("rel/queues template = %q", got)
	}
	if got := doc.Resources["rel/ping"].Href; got != "/v2/ping" {
		t.Errorf("rel/ping href = %q", got)
	}
}

func TestErrorParsing(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name  string
		reply reply
		want  Error
		minRA time.Duration
	}{
		{"zaqar body", reply{status: 404, header: map[string]string{HeaderRequestID: "req-1"},
			body: `{"title":"Not found","description":"Message not found."}`},
			Error{Status: 404, Title: "Not found", Description: "Message not found.", RequestID: "req-1"}, 0},
		{"retry-after seconds", reply{status: 503, header: map[string]string{"Retry-After": "2"},
			body: `{"title":"Service temporarily unavailable","description":"no leader"}`},
			Error{Status: 503, Title: "Service temporarily unavailable", Description: "no leader", RetryAfter: 2 * time.Second}, 0},
		{"retry-after date", reply{status: 503, header: map[string]string{"Retry-After": date}},
			Error{Status: 503, Title: "Service Unavailable"}, 80 * time.Second},
		{"text body", reply{status: 405, header: map[string]string{"Content-Type": "text/plain"}, body: "nope\n"},
			Error{Status: 405, Title: "Method Not Allowed", Description: "nope"}, 0},
		{"falcon 404", reply{status: 404, body: `{"title":"404 Not Found"}`},
			Error{Status: 404, Title: "404 Not Found"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.reply)
			_, err := f.client().GetMessage(context.Background(), "q", "m1")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			got := *e
			if tc.minRA > 0 {
				if got.RetryAfter < tc.minRA || got.RetryAfter > 90*time.Second {
					t.Errorf("RetryAfter = %v, want about 90s", got.RetryAfter)
				}
				got.RetryAfter = 0
			}
			tc.want.Method, tc.want.Path = "GET", "/v2/queues/q/messages/m1"
			if got != tc.want {
				t.Errorf("error = %+v\nwant    %+v", got, tc.want)
			}
			if !IsStatus(err, tc.want.Status) || IsStatus(err, 200) || StatusOf(err) != tc.want.Status {
				t.Errorf("IsStatus/StatusOf disagree with %d", tc.want.Status)
			}
			if !strings.Contains(err.Error(), tc.want.Title) {
				t.Errorf("Error() = %q lacks the title", err.Error())
			}
		})
	}
	if IsStatus(errors.New("x"), 404) || IsStatus(nil, 404) {
		t.Error("IsStatus true for a non-*Error")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "7": 7 * time.Second, " 1 ": time.Second, "soon": 0,
		now.Add(time.Minute).Format(http.TimeFormat):  time.Minute,
		now.Add(-time.Minute).Format(http.TimeFormat): 0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestNoRetryByDefault(t *testing.T) {
	f := newFake(t, reply{status: 503}, reply{status: 201, body: `{"resources":["/v2/queues/q/messages/m1"]}`})
	_, err := f.client().PostMessages(context.Background(), "q", []NewMessage{{Body: 1}})
	if !IsStatus(err, 503) {
		t.Fatalf("err = %v, want 503", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestRetryReusesIdempotencyKey(t *testing.T) {
	f := newFake(t,
		reply{status: 503, header: map[string]string{"Retry-After": "0"}},
		reply{hijack: true}, // network error
		reply{status: 201, body: `{"resources":["/v2/queues/q/messages/m1"]}`},
		reply{status: 201, body: `{"resources":["/v2/queues/q/messages/m2"]}`})
	c := f.client(WithRetry(3, time.Millisecond))
	ctx := context.Background()
	ids, err := c.PostMessages(ctx, "q", []NewMessage{{Body: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != "m1" {
		t.Errorf("ids = %v", ids)
	}
	if _, err := c.PostMessages(ctx, "q", []NewMessage{{Body: 1}}); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	if len(rs) != 4 {
		t.Fatalf("%d requests, want 4", len(rs))
	}
	key := rs[0].Header.Get(HeaderIdempotencyKey)
	for i, r := range rs[:3] {
		r.want(t, "POST", "/v2/queues/q/messages", "", `{"messages":[{"body":1}]}`)
		if got := r.Header.Get(HeaderIdempotencyKey); got != key {
			t.Errorf("attempt %d key %q, want %q", i, got, key)
		}
	}
	if rs[3].Header.Get(HeaderIdempotencyKey) == key {
		t.Error("a new logical call reused the previous Idempotency-Key")
	}
}

func TestRetryGivesUp(t *testing.T) {
	f := newFake(t, reply{status: 503, body: `{"title":"Service temporarily unavailable","description":"x"}`})
	err := f.client(WithRetry(2, time.Millisecond)).DeleteQueue(context.Background(), "q")
	if !IsStatus(err, 503) {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want 3 (1 + 2 retries)", n)
	}
}

func TestRetryOnlyOn503AndNetwork(t *testing.T) {
	for _, st := range []int{400, 404, 409, 500} {
		f := newFake(t, reply{status: st})
		err := f.client(WithRetry(3, time.Millisecond)).DeleteQueue(context.Background(), "q")
		if !IsStatus(err, st) {
			t.Fatalf("err = %v, want %d", err, st)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("status %d retried: %d requests", st, n)
		}
	}
}

func TestRetryStopsOnContext(t *testing.T) {
	f := newFake(t, reply{status: 503, header: map[string]string{"Retry-After": "60"}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := f.client(WithRetry(5, time.Millisecond)).DeleteQueue(ctx, "q")
	if !IsStatus(err, 503) {
		t.Fatalf("err = %v, want the last 503", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; the Retry-After wait ignored the context", d)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestNetworkErrorWithoutRetry(t *testing.T) {
	f := newFake(t, reply{hijack: true})
	err := f.client().Ping(context.Background())
	if err == nil || StatusOf(err) != 0 {
		t.Fatalf("err = %v, want a network error", err)
	}
}

func TestBackoff(t *testing.T) {
	c := New("http://x", WithRetry(3, 100*time.Millisecond))
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second} {
		if got := c.backoffFor(i); got != want {
			t.Errorf("backoffFor(%d) = %v, want %v", i, got, want)
		}
	}
	if got := c.backoffFor(200); got != 5*time.Second {
		t.Errorf("backoffFor(200) = %v", got)
	}
	big := New("http://x", WithRetry(3, time.Hour))
	if got := big.backoffFor(40); got != time.Hour {
		t.Errorf("large backoff = %v, want 1h", got)
	}
}

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		u := NewUUID()
		if !uuidV4.MatchString(u) || seen[u] {
			t.Fatalf("bad or repeated uuid %q", u)
		}
		seen[u] = true
	}
}
