package client

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestCreateSubscription(t *testing.T) {
	f := newFake(t,
		reply{status: 201, header: map[string]string{"Location": "/v2/queues/q%201/subscriptions"},
			body: `{"subscription_id":"5f1a"}`},
		reply{status: 201, body: `{"subscription_id":"5f1b"}`})
	c := f.client()
	ctx := context.Background()
	id, err := c.CreateSubscription(ctx, "q 1", "https://h.example/hook?a=1&b=2", 600,
		map[string]any{"post_headers": map[string]string{"X-K": "v"}, "_retry_policy": map[string]int{"minimum_delay": 2}})
	if err != nil || id != "5f1a" {
		t.Fatalf("id %q err %v, want 5f1a", id, err)
	}
	id, err = c.CreateSubscription(ctx, "q", "mailto:ops@example.com?subject=Orders", 0, nil)
	if err != nil || id != "5f1b" {
		t.Fatalf("id %q err %v, want 5f1b", id, err)
	}
	rs := f.requests()
	rs[0].want(t, "POST", "/v2/queues/q%201/subscriptions", "",
		`{"options":{"_retry_policy":{"minimum_delay":2},"post_headers":{"X-K":"v"}},"subscriber":"https://h.example/hook?a=1\u0026b=2","ttl":600}`)
	if ct := rs[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	rs[1].want(t, "POST", "/v2/queues/q/subscriptions", "", `{"subscriber":"mailto:ops@example.com?subject=Orders"}`)
	if rs[0].Header.Get(HeaderIdempotencyKey) == rs[1].Header.Get(HeaderIdempotencyKey) {
		t.Error("two creates shared an Idempotency-Key")
	}
}

func TestCreateSubscriptionEmptyOptions(t *testing.T) {
	f := newFake(t, reply{status: 201, body: `{"subscription_id":"s1"}`})
	if _, err := f.client().CreateSubscription(context.Background(), "q", "http://h/", 60, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "POST", "/v2/queues/q/subscriptions", "", `{"options":{},"subscriber":"http://h/","ttl":60}`)
}

func TestCreateSubscriptionConflict(t *testing.T) {
	f := newFake(t, reply{status: 409, header: map[string]string{"Location": "/v2/queues/q/subscriptions",
		HeaderRequestID: "req-9"},
		body: `{"title":"Conflict","description":"Such subscription already exists. Subscriptions are unique by project + queue + subscriber URI."}`})
	id, err := f.client().CreateSubscription(context.Background(), "q", "http://h/", 0, nil)
	var e *Error
	if !errors.As(err, &e) || id != "" {
		t.Fatalf("id %q err %v, want a *Error", id, err)
	}
	want := &Error{Status: 409, Title: "Conflict",
		Description: "Such subscription already exists. Subscriptions are unique by project + queue + subscriber URI.",
		RequestID:   "req-9", Method: "POST", Path: "/v2/queues/q/subscriptions"}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("error = %+v\nwant    %+v", e, want)
	}
}

func TestCreateSubscriptionBadAnswer(t *testing.T) {
	for _, body := range []string{`{}`, ``, `not json`} {
		f := newFake(t, reply{status: 201, body: body})
		if id, err := f.client().CreateSubscription(context.Background(), "q", "http://h/", 0, nil); err == nil {
			t.Errorf("body %q: id %q, want an error", body, id)
		}
	}
}

func TestListSubscriptions(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"subscriptions":[` +
		`{"id":"s1","source":"q","subscriber":"http://h/a","ttl":3600,"age":7,"options":{},"confirmed":false},` +
		`{"id":"s2","source":"q","subscriber":"mailto:a@example.com","ttl":600,"age":1,` +
		`"options":{"from":"x@example.com","_retry_policy":{"minimum_delay":2}},"confirmed":true}],` +
		`"links":[{"rel":"next","href":"/v2/queues/q/subscriptions?marker=s2&limit=2"}]}`})
	page, err := f.client().ListSubscriptions(context.Background(), "q", "s 0", 2)
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues/q/subscriptions", "marker=s+0&limit=2", "")
	want := &SubscriptionPage{Subscriptions: []Subscription{
		{ID: "s1", Source: "q", Subscriber: "http://h/a", TTL: 3600, Age: 7, Options: map[string]any{}},
		{ID: "s2", Source: "q", Subscriber: "mailto:a@example.com", TTL: 600, Age: 1, Confirmed: true,
			Options: map[string]any{"from": "x@example.com", "_retry_policy": map[string]any{"minimum_delay": 2.0}}},
	}, Next: "s2"}
	if !reflect.DeepEqual(page, want) {
		t.Errorf("page = %+v\nwant   %+v", page, want)
	}
}

func TestListSubscriptionsEmpty(t *testing.T) {
	for _, rp := range []reply{{status: 200, body: `{"subscriptions":[],"links":[]}`}, {status: 204}} {
		f := newFake(t, rp)
		page, err := f.client().ListSubscriptions(context.Background(), "q", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		f.only().want(t, "GET", "/v2/queues/q/subscriptions", "", "")
		if page.Subscriptions == nil || len(page.Subscriptions) != 0 || page.Next != "" {
			t.Errorf("page = %+v", page)
		}
	}
}

func TestGetSubscription(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"id":"s1","source":"q","subscriber":"http://h/a","ttl":120,"age":3,` +
		`"options":{"post_data":"{\"m\": \"$zaqar_message$\"}","post_headers":{"X-K":"v"}},"confirmed":true}`})
	s, err := f.client().GetSubscription(context.Background(), "q", "s/1")
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues/q/subscriptions/s%2F1", "", "")
	want := &Subscription{ID: "s1", Source: "q", Subscriber: "http://h/a", TTL: 120, Age: 3, Confirmed: true,
		Options: map[string]any{"post_data": `{"m": "$zaqar_message$"}`, "post_headers": map[string]any{"X-K": "v"}}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("subscription = %+v\nwant           %+v", s, want)
	}
}

func TestGetSubscriptionNotFound(t *testing.T) {
	f := newFake(t, reply{status: 404, body: `{"title":"Not found","description":"Subscription gone does not exist"}`})
	_, err := f.client().GetSubscription(context.Background(), "q", "gone")
	if !IsStatus(err, 404) {
		t.Fatalf("err = %v, want 404", err)
	}
}

func TestUpdateSubscription(t *testing.T) {
	f := newFake(t)
	c := f.client()
	ctx := context.Background()
	sub, ttl := "mailto:b@example.com", 900
	for _, u := range []SubscriptionUpdate{
		{Subscriber: &sub, TTL: &ttl, Options: map[string]any{"subject": "S"}},
		{TTL: &ttl},
		{Options: map[string]any{}}, // clears the options
		{},                          // sent as {}; the server answers 400
	} {
		if err := c.UpdateSubscription(ctx, "q", "s1", u); err != nil {
			t.Fatal(err)
		}
	}
	rs := f.requests()
	rs[0].want(t, "PATCH", "/v2/queues/q/subscriptions/s1", "",
		`{"options":{"subject":"S"},"subscriber":"mailto:b@example.com","ttl":900}`)
	if ct := rs[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("PATCH Content-Type = %q", ct)
	}
	rs[1].want(t, "PATCH", "/v2/queues/q/subscriptions/s1", "", `{"ttl":900}`)
	rs[2].want(t, "PATCH", "/v2/queues/q/subscriptions/s1", "", `{"options":{}}`)
	rs[3].want(t, "PATCH", "/v2/queues/q/subscriptions/s1", "", `{}`)
}

func TestUpdateSubscriptionErrors(t *testing.T) {
	f := newFake(t, reply{status: 409, body: `{"title":"Conflict","description":"taken"}`},
		reply{status: 404, body: `{"title":"Not found","description":"no"}`})
	c := f.client()
	sub := "http://h/b"
	if err := c.UpdateSubscription(context.Background(), "q", "s1", SubscriptionUpdate{Subscriber: &sub}); !IsStatus(err, 409) {
		t.Errorf("err = %v, want 409", err)
	}
	if err := c.UpdateSubscription(context.Background(), "q", "s9", SubscriptionUpdate{Subscriber: &sub}); !IsStatus(err, 404) {
		t.Errorf("err = %v, want 404", err)
	}
}

func TestDeleteAndConfirmSubscription(t *testing.T) {
	f := newFake(t)
	c := f.client()
	ctx := context.Background()
	if err := c.DeleteSubscription(ctx, "q", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfirmSubscription(ctx, "q", "s1", true); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfirmSubscription(ctx, "q", "s1", false); err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	rs[0].want(t, "DELETE", "/v2/queues/q/subscriptions/s1", "", "")
	rs[1].want(t, "PUT", "/v2/queues/q/subscriptions/s1/confirm", "", `{"confirmed":true}`)
	rs[2].want(t, "PUT", "/v2/queues/q/subscriptions/s1/confirm", "", `{"confirmed":false}`)
}

// A confirmation link's signed-URL headers ride on a second client.
func TestConfirmSubscriptionSigned(t *testing.T) {
	f := newFake(t)
	su := &SignedURL{Project: "p1", Paths: []string{"/v2/queues/q/subscriptions/s1/confirm"},
		Methods: []string{"PUT"}, Expires: "2030-01-02T03:04:05", Signature: "abc"}
	if err := New(f.srv.URL, su.Options()...).ConfirmSubscription(context.Background(), "q", "s1", true); err != nil {
		t.Fatal(err)
	}
	r := f.only()
	r.want(t, "PUT", "/v2/queues/q/subscriptions/s1/confirm", "", `{"confirmed":true}`)
	for k, v := range map[string]string{"URL-Signature": "abc", "URL-Methods": "PUT",
		"URL-Paths": "/v2/queues/q/subscriptions/s1/confirm", HeaderProjectID: "p1"} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestSubscriptionDelivery(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"subscription_id":"s1","owner":"node2","owner_epoch":4,` +
		`"cursor":17,"pending":3,"delivered":15,"failed":1,"skipped":2,` +
		`"last_error":"webhook: HTTP 503","last_error_at":"2026-03-05T05:06:07Z",` +
		`"recent_failures":[{"message_id":"m9","error":"webhook: HTTP 503","attempts":15,"at":"2026-03-05T05:06:07Z"}],` +
		`"signing_secret":"00ff10ab"}`})
	d, err := f.client().SubscriptionDelivery(context.Background(), "q", "s1")
	if err != nil {
		t.Fatal(err)
	}
	f.only().want(t, "GET", "/v2/queues/q/subscriptions/s1/delivery", "", "")
	at := time.Date(2026, 3, 5, 5, 6, 7, 0, time.UTC)
	want := &Delivery{SubscriptionID: "s1", Owner: "node2", OwnerEpoch: 4, Cursor: 17, Pending: 3,
		Delivered: 15, Failed: 1, Skipped: 2, LastError: "webhook: HTTP 503", LastErrorAt: at,
		RecentFailures: []DeliveryFailure{{MessageID: "m9", Error: "webhook: HTTP 503", Attempts: 15, At: at}},
		SigningSecret:  []byte{0x00, 0xff, 0x10, 0xab}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("delivery = %+v\nwant       %+v", d, want)
	}
}

func TestSubscriptionDeliveryNulls(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"subscription_id":"s1","owner":null,"owner_epoch":0,"cursor":0,` +
		`"pending":0,"delivered":0,"failed":0,"skipped":0,"last_error":null,"last_error_at":null,` +
		`"recent_failures":[],"signing_secret":""}`})
	d, err := f.client().SubscriptionDelivery(context.Background(), "q", "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := &Delivery{SubscriptionID: "s1", RecentFailures: []DeliveryFailure{}, SigningSecret: []byte{}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("delivery = %+v\nwant       %+v", d, want)
	}
	if !d.LastErrorAt.IsZero() {
		t.Errorf("LastErrorAt = %v, want zero", d.LastErrorAt)
	}
}

func TestSubscriptionDeliveryBadSecret(t *testing.T) {
	f := newFake(t, reply{status: 200, body: `{"subscription_id":"s1","signing_secret":"xyz"}`})
	if _, err := f.client().SubscriptionDelivery(context.Background(), "q", "s1"); err == nil {
		t.Fatal("a non-hex signing_secret was accepted")
	}
	f = newFake(t, reply{status: 404, body: `{"title":"Not found","description":"no"}`})
	if _, err := f.client().SubscriptionDelivery(context.Background(), "q", "s1"); !IsStatus(err, 404) {
		t.Fatalf("err = %v, want 404", err)
	}
}
