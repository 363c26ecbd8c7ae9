package notify

import (
	"encoding/json"
	"testing"
)

func TestBuildPayloadExact(t *testing.T) {
	delay := int64(30)
	tests := []struct {
		name   string
		body   string
		ttl    int64
		delay  *int64
		source string
		want   string
	}{
		{"zaqar example", `{"event": "BackupStarted"}`, 3600, nil, "test",
			`{"body": {"event": "BackupStarted"}, "ttl": 3600, "queue_name": "test", "Message_Type": "Notification"}`},
		{"with delay", `"hello"`, 60, &delay, "q-1",
			`{"body": "hello", "ttl": 60, "delay": 30, "queue_name": "q-1", "Message_Type": "Notification"}`},
		{"body kept byte for byte", `{"b":[1,2 ,3],"<a>":"&"}`, 1, nil, "q",
			`{"body": {"b":[1,2 ,3],"<a>":"&"}, "ttl": 1, "queue_name": "q", "Message_Type": "Notification"}`},
		{"empty body is null", ``, 5, nil, "q",
			`{"body": null, "ttl": 5, "queue_name": "q", "Message_Type": "Notification"}`},
	}
	for _, tt := range tests {
		got := BuildPayload(json.RawMessage(tt.body), tt.ttl, tt.delay, tt.source)
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: invalid JSON %s", tt.name, got)
		}
	}
}

func TestBuildConfirmationExact(t *testing.T) {
	c := Confirmation{
		Source:    "orders",
		Signature: "0a1b2c",
		Paths:     "/v2/queues/orders/subscriptions/57692ab13990b48c644bb7e6/confirm",
		Project:   "p1",
		Expires:   "2026-03-05T05:06:07",
	}
	want := `{"Message_Type": "SubscriptionConfirmation", ` +
		`"Message": "You have chosen to subscribe to the queue: orders", ` +
		`"URL-Signature": "0a1b2c", "URL-Methods": "PUT", ` +
		`"URL-Paths": "/v2/queues/orders/subscriptions/57692ab13990b48c644bb7e6/confirm", ` +
		`"X-Project-ID": "p1", "URL-Expires": "2026-03-05T05:06:07", ` +
		`"SubscribeBody": {"confirmed": true}, "UnsubscribeBody": {"confirmed": false}, ` +
		`"queue_name": "orders"}`
	if got := string(BuildConfirmation(c)); got != want {
		t.Fatalf("subscribe:\n got %s\nwant %s", got, want)
	}

	c.Unsubscribe = true
	c.WSGISubscribeURL = "https://herald.example/v2/queues/orders/subscriptions/57692ab13990b48c644bb7e6/confirm"
	want = `{"Message_Type": "UnsubscribeConfirmation", ` +
		`"Message": "You have unsubscribed successfully to the queue: orders, you can resubscribe it by using confirmed=True.", ` +
		`"URL-Signature": "0a1b2c", "URL-Methods": "PUT", ` +
		`"URL-Paths": "/v2/queues/orders/subscriptions/57692ab13990b48c644bb7e6/confirm", ` +
		`"X-Project-ID": "p1", "URL-Expires": "2026-03-05T05:06:07", ` +
		`"SubscribeBody": {"confirmed": true}, "UnsubscribeBody": {"confirmed": false}, ` +
		`"WSGISubscribeURL": "https://herald.example/v2/queues/orders/subscriptions/57692ab13990b48c644bb7e6/confirm", ` +
		`"queue_name": "orders"}`
	if got := string(BuildConfirmation(c)); got != want {
		t.Fatalf("unsubscribe:\n got %s\nwant %s", got, want)
	}
	var m map[string]any
	if err := json.Unmarshal(BuildConfirmation(c), &m); err != nil {
		t.Fatal(err)
	}
	if m["SubscribeBody"].(map[string]any)["confirmed"] != true {
		t.Fatalf("SubscribeBody = %v", m["SubscribeBody"])
	}
}
