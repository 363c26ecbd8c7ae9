package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-mq/herald/internal/clock"
)

// marker appears in every test payload; no error text may contain it.
const marker = "PAYLOAD-MARKER-7f3a"

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// request is what a sink received.
type request struct {
	method string
	header http.Header
	body   []byte
}

// sink is a test subscriber on 127.0.0.1:0 that records requests and
// answers with respond (200 when nil).
type sink struct {
	srv  *httptest.Server
	hits atomic.Int32
	reqs chan request
}

func newSink(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *sink {
	t.Helper()
	s := &sink{reqs: make(chan request, 16)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		s.reqs <- request{r.Method, r.Header.Clone(), body}
		if respond != nil {
			respond(w, r)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// next returns the next recorded request.
func (s *sink) next(t *testing.T) request {
	t.Helper()
	select {
	case r := <-s.reqs:
		return r
	case <-testCtx(t).Done():
		t.Fatal("no request reached the sink")
		return request{}
	}
}

func testPayload() []byte {
	return BuildPayload(json.RawMessage(`{"event": "`+marker+`"}`), 3600, nil, "orders")
}

func newNotification(subscriber string, options string) *Notification {
	n := &Notification{
		Kind:           KindNotification,
		SubscriptionID: "sub-1",
		Project:        "p1",
		SourceKind:     "queue",
		Source:         "orders",
		Subscriber:     subscriber,
		MessageID:      "msg-42",
		Seq:            42,
		Payload:        testPayload(),
		Secret:         []byte("s3cret"),
	}
	if options != "" {
		if err := json.Unmarshal([]byte(options), &n.Options); err != nil {
			panic(err)
		}
	}
	return n
}

func newTestWebhook(fake *clock.Fake) *Webhook {
	w := NewWebhook(WebhookConfig{AllowCIDRs: loopback, Clock: fake, Timeout: 5 * time.Second})
	return w
}

func TestWebhookDeliversSignedPayload(t *testing.T) {
	fake := clock.NewFake(t0)
	s := newSink(t, nil)
	w := newTestWebhook(fake)
	defer w.Close()
	n := newNotification(s.srv.URL+"/hook?x=1", "")
	if err := w.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	r := s.next(t)
	if r.method != http.MethodPost || string(r.body) != string(n.Payload) {
		t.Fatalf("%s body %s, want POST %s", r.method, r.body, n.Payload)
	}
	for k, want := range map[string]string{
		"Content-Type":       "application/json",
		"User-Agent":         DefaultUserAgent,
		HeaderMessageID:      "msg-42",
		HeaderSubscriptionID: "sub-1",
		HeaderTimestamp:      strconv.FormatInt(t0.Unix(), 10),
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if err := verifyHeraldSignature(n.Secret, r.header, r.body, t0.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("receiver rejects a genuine request: %v", err)
	}
	if err := verifyHeraldSignature([]byte("other"), r.header, r.body, t0, 5*time.Minute); err == nil {
		t.Fatal("receiver accepts a wrong secret")
	}
	if err := verifyHeraldSignature(n.Secret, r.header, append(r.body, ' '), t0, 5*time.Minute); err == nil {
		t.Fatal("receiver accepts a modified body")
	}
	if err := verifyHeraldSignature(n.Secret, r.header, r.body, t0.Add(time.Hour), 5*time.Minute); err == nil {
		t.Fatal("receiver accepts an old timestamp")
	}

	// No secret, no message ID: neither header is sent.
	n.Secret, n.MessageID = nil, ""
	if err := w.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	r = s.next(t)
	if _, ok := r.header[HeaderSignature]; ok {
		t.Error("signature sent without a secret")
	}
	if _, ok := r.header[HeaderMessageID]; ok {
		t.Error("empty message id sent")
	}
}

func TestWebhookPostDataTemplate(t *testing.T) {
	s := newSink(t, nil)
	w := newTestWebhook(clock.NewFake(t0))
	p := string(testPayload())
	tests := []struct {
		name, postData, want string
	}{
		{"several tokens",
			`{"a": "$zaqar_message$", "b": ["$zaqar_message$", 1, "$zaqar_message$"]}`,
			`{"a": ` + p + `, "b": [` + p + `, 1, ` + p + `]}`},
		{"zaqar's trust example",
			`{"messages": [{"body": "$zaqar_message$", "ttl": 60}]}`,
			`{"messages": [{"body": ` + p + `, "ttl": 60}]}`},
		{"no token", `{"static": true}`, `{"static": true}`},
		{"token without its quotes is kept", `{"a": "x$zaqar_message$"}`, `{"a": "x$zaqar_message$"}`},
		{"not JSON at all", `plain $zaqar_message$ text`, `plain $zaqar_message$ text`},
	}
	for _, tt := range tests {
		raw, _ := json.Marshal(tt.postData)
		n := newNotification(s.srv.URL, `{"post_data": `+string(raw)+`}`)
		if err := w.Notify(context.Background(), n); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		r := s.next(t)
		if string(r.body) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, r.body, tt.want)
		}
		if err := verifyHeraldSignature(n.Secret, r.header, r.body, t0, time.Minute); err != nil {
			t.Errorf("%s: signature does not cover the templated body: %v", tt.name, err)
		}
	}
	// A post_data that is not a JSON string leaves the payload.
	n := newNotification(s.srv.URL, `{"post_data": {"a": "$zaqar_message$"}}`)
	if err := w.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if r := s.next(t); string(r.body) != p {
		t.Errorf("non-string post_data: body %s", r.body)
	}
}

func TestWebhookPostHeadersOverlay(t *testing.T) {
	s := newSink(t, nil)
	w := newTestWebhook(clock.NewFake(t0))
	n := newNotification(s.srv.URL, `{"post_headers": {
		"Content-Type": "application/vnd.test+json",
		"X-Custom": "first", "x-custom": "second",
		"User-Agent": "custom-agent",
		"X-Project-ID": "p9",
		"X-Herald-Message-Id": "forged", "X-Herald-Signature": "v1=forged",
		"X-Number": 5}}`)
	if err := w.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	r := s.next(t)
	for k, want := range map[string]string{
		"Content-Type":  "application/vnd.test+json",
		"X-Custom":      "second",
		"User-Agent":    "custom-agent",
		"X-Project-Id":  "p9",
		HeaderMessageID: "msg-42",
		"X-Number":      "",
	} {
		if got := r.header.Values(k); strings.Join(got, ",") != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if err := verifyHeraldSignature(n.Secret, r.header, r.body, t0, time.Minute); err != nil {
		t.Errorf("post_headers forged the signature: %v", err)
	}
}

func TestWebhookRefusesRedirects(t *testing.T) {
	target := newSink(t, nil)
	for _, code := range []int{301, 302, 307, 308} {
		s := newSink(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.srv.URL, code)
		})
		err := newTestWebhook(clock.NewFake(t0)).Notify(context.Background(), newNotification(s.srv.URL, ""))
		if !IsPermanent(err) || !errors.Is(err, ErrRedirect) || !strings.Contains(err.Error(), "redirects are not followed") {
			t.Errorf("%d: err = %v, want a permanent redirect refusal", code, err)
		}
		if !strings.Contains(err.Error(), strconv.Itoa(code)) {
			t.Errorf("%d: error %q does not name the status", code, err)
		}
	}
	if n := target.hits.Load(); n != 0 {
		t.Fatalf("redirect target was requested %d times", n)
	}
}

func TestWebhookStatusClassification(t *testing.T) {
	s := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "echo "+marker)
	})
	w := newTestWebhook(clock.NewFake(t0))
	const ok, retry, perm = "ok", "retryable", "permanent"
	for code, want := range map[int]string{
		200: ok, 201: ok, 204: ok,
		301: perm, 400: perm, 404: perm,
		408: retry, 429: retry, 500: retry, 503: retry,
	} {
		err := w.Notify(context.Background(), newNotification(s.srv.URL+"/"+strconv.Itoa(code), ""))
		got := ok
		switch {
		case IsPermanent(err):
			got = perm
		case IsRetryable(err):
			got = retry
		case err != nil:
			got = "unclassified: " + err.Error()
		}
		if got != want {
			t.Errorf("%d: %s (%v), want %s", code, got, err, want)
		}
		if err == nil {
			continue
		}
		var se *StatusError
		if !errors.As(err, &se) || se.Code != code {
			t.Errorf("%d: no StatusError with the code in %v", code, err)
		}
		if !strings.Contains(err.Error(), strconv.Itoa(code)) || strings.Contains(err.Error(), marker) {
			t.Errorf("%d: error text %q must name the status and not the payload", code, err)
		}
	}
}

func TestWebhookNetworkFailuresAreRetryable(t *testing.T) {
	w := NewWebhook(WebhookConfig{AllowCIDRs: loopback, Timeout: 200 * time.Millisecond})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		err = w.Notify(context.Background(), newNotification("http://"+addr+"/", ""))
		if !IsRetryable(err) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("err = %v, want retryable connection refused", err)
		}
		if strings.Contains(err.Error(), marker) {
			t.Fatalf("error text has the payload: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		s := newSink(t, func(http.ResponseWriter, *http.Request) { <-release })
		t.Cleanup(func() { close(release) }) // runs before the server's Close
		err := w.Notify(context.Background(), newNotification(s.srv.URL, ""))
		if !IsRetryable(err) || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("err = %v, want a retryable timeout", err)
		}
	})
	t.Run("caller cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s := newSink(t, nil)
		if err := w.Notify(ctx, newNotification(s.srv.URL, "")); err == nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestWebhookAddressGuard(t *testing.T) {
	s := newSink(t, nil)
	_, port, _ := net.SplitHostPort(s.srv.Listener.Addr().String())

	deny := NewWebhook(WebhookConfig{})
	err := deny.Notify(context.Background(), newNotification(s.srv.URL, ""))
	const want = "subscriber address 127.0.0.1 is not allowed (see -subscriber-allow-cidrs)"
	if !IsPermanent(err) || !errors.Is(err, ErrAddressNotAllowed) || err.Error() != want {
		t.Fatalf("literal loopback: err = %v, want permanent %q", err, want)
	}

	// A hostname is checked after DNS: "localhost" resolves to loopback.
	err = deny.Notify(context.Background(), newNotification("http://localhost:"+port+"/", ""))
	var denied *AddressNotAllowedError
	if !IsPermanent(err) || !errors.As(err, &denied) || !denied.Addr.IsLoopback() {
		t.Fatalf("localhost: err = %v, want a permanent refusal of a loopback address", err)
	}
	if n := s.hits.Load(); n != 0 {
		t.Fatalf("refused subscriber was reached %d times", n)
	}

	allow := NewWebhook(WebhookConfig{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err := allow.Notify(context.Background(), newNotification(s.srv.URL, "")); err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	s.next(t)
}

func TestWebhookRejectsBadSubscribers(t *testing.T) {
	w := newTestWebhook(clock.NewFake(t0))
	for _, uri := range []string{"ftp://example.com/x", "http:///nohost", "mailto:a@b.c", "::bad"} {
		err := w.Notify(context.Background(), newNotification(uri, ""))
		if !IsPermanent(err) {
			t.Errorf("%q: err = %v, want permanent", uri, err)
		}
	}
}

func TestAddrAllowed(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "fd00::1": false, "169.254.169.254": false, "fe80::1": false,
		"0.0.0.0": false, "::": false, "224.0.0.1": false, "ff02::1": false,
		"100.64.0.1": false, "100.127.255.254": false, "0.1.2.3": false, "255.255.255.255": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"8.8.8.8": true, "100.128.0.1": true, "2001:4860:4860::8888": true, "::ffff:8.8.8.8": true,
	} {
		if got := AddrAllowed(netip.MustParseAddr(addr), nil); got != want {
			t.Errorf("AddrAllowed(%s) = %v, want %v", addr, got, want)
		}
	}
	allow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if !AddrAllowed(netip.MustParseAddr("10.9.9.9"), allow) || !AddrAllowed(netip.MustParseAddr("::ffff:10.9.9.9"), allow) {
		t.Error("allow prefix ignored")
	}
	if AddrAllowed(netip.MustParseAddr("192.168.0.1"), allow) {
		t.Error("allow prefix too broad")
	}
}

func TestCheckSubscriberURL(t *testing.T) {
	tests := []struct {
		uri   string
		allow []netip.Prefix
		want  error // nil, or a sentinel errors.Is must match
	}{
		{"http://example.com/hook", nil, nil},
		{"HTTPS://8.8.8.8:8443/hook", nil, nil},
		{"http://localhost:8080/", nil, nil}, // hostnames: checked at dial time
		{"http://127.0.0.1:8080/", nil, ErrAddressNotAllowed},
		{"http://[::1]/", nil, ErrAddressNotAllowed},
		{"http://[fe80::1%25eth0]/", nil, ErrAddressNotAllowed},
		{"http://10.0.0.5/", nil, ErrAddressNotAllowed},
		{"http://10.0.0.5/", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}, nil},
		{"mailto:ops@example.com?subject=hi", nil, nil},
		{"mailto:", nil, ErrBadSubscriber},
		{"http:///path", nil, ErrBadSubscriber},
		{"example.com/hook", nil, ErrBadSubscriber},
		{"ftp://example.com/", nil, ErrUnsupportedScheme},
		{"trust+http://example.com/", nil, ErrUnsupportedScheme},
	}
	for _, tt := range tests {
		err := CheckSubscriberURL(tt.uri, tt.allow)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: err = %v, want %v", tt.uri, err, tt.want)
		}
	}
}

func TestWebhookConcurrentUse(t *testing.T) {
	s := newSink(t, nil)
	w := newTestWebhook(clock.NewFake(t0))
	defer w.Close()
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			no := newNotification(s.srv.URL, `{"post_headers": {"X-I": "`+strconv.Itoa(i)+`"}}`)
			errs <- w.Notify(context.Background(), no)
		}()
	}
	seen := map[string]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		seen[s.next(t).header.Get("X-I")] = true
	}
	if len(seen) != n {
		t.Fatalf("headers seen: %v", seen)
	}
}
