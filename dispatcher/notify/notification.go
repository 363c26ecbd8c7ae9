package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
)

// Kinds of Notification (the "Message_Type" of the payload).
const (
	KindNotification             = "Notification"
	KindSubscriptionConfirmation = "SubscriptionConfirmation"
	KindUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// Notifier delivers one notification to its subscriber, once. It does not
// retry (see Retrier); its error is nil, or classified with a
// *RetryableError or a *PermanentError. Implementations are safe for
// concurrent use.
type Notifier interface {
	Notify(ctx context.Context, n *Notification) error
}

// Notification is one delivery to one subscriber.
type Notification struct {
	// Kind is KindNotification, KindSubscriptionConfirmation or
	// KindUnsubscribeConfirmation.
	Kind string
	// SubscriptionID identifies the subscription (X-Herald-Subscription-Id).
	SubscriptionID string
	// Project is the subscription's project.
	Project string
	// SourceKind is "queue" or "topic".
	SourceKind string
	// Source is the queue or topic name.
	Source string
	// Subscriber is the subscriber URI (http, https or mailto).
	Subscriber string
	// Options are the subscription's options (post_data, post_headers,
	// from, subject, _retry_policy, ...), values as raw JSON.
	Options map[string]json.RawMessage
	// MessageID is the message's ID: the idempotency key sent as
	// X-Herald-Message-Id. Empty for confirmations.
	MessageID string
	// Seq is the message's position in its source (for the caller's
	// bookkeeping; not sent).
	Seq uint64
	// Payload is the exact JSON payload to deliver, made by BuildPayload
	// or BuildConfirmation.
	Payload []byte
	// Secret is the per-subscription HMAC key for X-Herald-Signature. No
	// signature is sent when it is empty.
	Secret []byte
}

// BuildPayload returns the notification payload of one message (§5.1):
//
//	{"body": <body>, "ttl": <ttl>, ["delay": <delay>, ]"queue_name": "<source>", "Message_Type": "Notification"}
//
// with Python's json.dumps separators, as Zaqar sends it. body is embedded
// as is and must be valid JSON (empty means null); delay is present only
// when the source has a default message delay.
func BuildPayload(body json.RawMessage, ttl int64, delay *int64, source string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"body": `)
	if len(bytes.TrimSpace(body)) == 0 {
		b.WriteString("null")
	} else {
		b.Write(body)
	}
	b.WriteString(`, "ttl": `)
	b.WriteString(strconv.FormatInt(ttl, 10))
	if delay != nil {
		b.WriteString(`, "delay": `)
		b.WriteString(strconv.FormatInt(*delay, 10))
	}
	b.WriteString(`, "queue_name": `)
	b.Write(jsonString(source))
	b.WriteString(`, "Message_Type": "Notification"}`)
	return b.Bytes()
}

// Confirmation holds the inputs of a confirmation payload (§5.3). The
// pre-signed URL parts are computed by the caller (§8.2).
type Confirmation struct {
	// Unsubscribe selects an UnsubscribeConfirmation payload instead of a
	// SubscriptionConfirmation.
	Unsubscribe bool
	// Source is the queue (or topic) name.
	Source string
	// Signature is the URL-Signature (lowercase hex).
	Signature string
	// Paths is the URL-Paths: "/v2/queues/<q>/subscriptions/<sid>/confirm".
	Paths string
	// Project is the signed project (X-Project-ID).
	Project string
	// Expires is the URL-Expires, formatted YYYY-MM-DDTHH:MM:SS (UTC).
	Expires string
	// WSGISubscribeURL is the public confirm URL; omitted when empty (set
	// it when an external base URL is configured).
	WSGISubscribeURL string
	// WebSocketSubscribeURL is the public websocket confirm URL; omitted
	// when empty.
	WebSocketSubscribeURL string
}

// Kind returns KindSubscriptionConfirmation or KindUnsubscribeConfirmation.
func (c Confirmation) Kind() string {
	if c.Unsubscribe {
		return KindUnsubscribeConfirmation
	}
	return KindSubscriptionConfirmation
}

// Message returns the human "Message" of the payload, as Zaqar words it.
func (c Confirmation) Message() string {
	if c.Unsubscribe {
		return "You have unsubscribed successfully to the queue: " + c.Source +
			", you can resubscribe it by using confirmed=True."
	}
	return "You have chosen to subscribe to the queue: " + c.Source
}

// BuildConfirmation returns the SubscriptionConfirmation or
// UnsubscribeConfirmation payload of §5.3, keys in the documented order:
//
//	{"Message_Type": ..., "Message": ..., "URL-Signature": ..., "URL-Methods": "PUT",
//	 "URL-Paths": ..., "X-Project-ID": ..., "URL-Expires": ...,
//	 "SubscribeBody": {"confirmed": true}, "UnsubscribeBody": {"confirmed": false},
//	 ["WSGISubscribeURL": ..., ]["WebSocketSubscribeURL": ..., ]"queue_name": ...}
func BuildConfirmation(c Confirmation) []byte {
	var b bytes.Buffer
	field := func(key, value string) {
		b.Write(jsonString(key))
		b.WriteString(": ")
		b.Write(jsonString(value))
		b.WriteString(", ")
	}
	b.WriteString("{")
	field("Message_Type", c.Kind())
	field("Message", c.Message())
	field("URL-Signature", c.Signature)
	field("URL-Methods", "PUT")
	field("URL-Paths", c.Paths)
	field("X-Project-ID", c.Project)
	field("URL-Expires", c.Expires)
	b.WriteString(`"SubscribeBody": {"confirmed": true}, "UnsubscribeBody": {"confirmed": false}, `)
	if c.WSGISubscribeURL != "" {
		field("WSGISubscribeURL", c.WSGISubscribeURL)
	}
	if c.WebSocketSubscribeURL != "" {
		field("WebSocketSubscribeURL", c.WebSocketSubscribeURL)
	}
	b.WriteString(`"queue_name": `)
	b.Write(jsonString(c.Source))
	b.WriteString("}")
	return b.Bytes()
}

// jsonString encodes s as a JSON string without HTML escaping.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
