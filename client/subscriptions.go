package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Subscription is a queue's subscription as GET and list return it.
type Subscription struct {
	ID         string `json:"id"`
	Source     string `json:"source"`     // the queue name
	Subscriber string `json:"subscriber"` // http(s):// or mailto: URI
	TTL        int    `json:"ttl"`
	Age        int    `json:"age"`
	// Options are stored and returned verbatim (numbers as float64):
	// post_data, post_headers, from, subject, _retry_policy, ...
	Options map[string]any `json:"options"`
	// Confirmed is the confirmation flag; without the server's
	// require_confirmation it stays false and does not gate delivery.
	Confirmed bool `json:"confirmed"`
}

// SubscriptionPage is one page of subscriptions.
type SubscriptionPage struct {
	Subscriptions []Subscription
	// Next is the marker of the "next" link, "" if none. The server emits
	// one on every non-empty page; a listing ends at the first empty page.
	Next string
}

// SubscriptionUpdate is the body of a subscription PATCH. Nil fields are
// not sent and stay as they are; a non-nil Options (even empty) replaces
// the options wholesale; a new TTL resets the expiry to now + TTL.
type SubscriptionUpdate struct {
	Subscriber *string
	TTL        *int
	Options    map[string]any
}

// Delivery is Herald's delivery state of a subscription (the extension
// GET /v2/queues/{q}/subscriptions/{id}/delivery).
type Delivery struct {
	SubscriptionID string
	Owner          string // the node delivering it; "" while unassigned
	OwnerEpoch     uint64 // the assignment epoch of that ownership
	Cursor         uint64 // the last outbox sequence number handled
	Pending        uint64 // outbox entries after Cursor (an upper bound)
	Delivered      uint64 // deliveries acknowledged by the subscriber
	Failed         uint64 // deliveries given up after all retries
	Skipped        uint64 // deliveries passed over on purpose (e.g. unconfirmed)
	LastError      string // the latest delivery error, "" if none
	LastErrorAt    time.Time
	RecentFailures []DeliveryFailure // oldest first
	// SigningSecret is the subscription's HMAC key (decoded from hex):
	// webhook receivers verify X-Herald-Signature with it.
	SigningSecret []byte
}

// DeliveryFailure is one failed delivery in Delivery.RecentFailures.
type DeliveryFailure struct {
	MessageID string    `json:"message_id"`
	Error     string    `json:"error"`
	Attempts  int       `json:"attempts"`
	At        time.Time `json:"at"` // when the failure was reported
}

func subscriptionsPath(queue string) string { return queuePath(queue) + "/subscriptions" }

func subscriptionPath(queue, id string) string {
	return subscriptionsPath(queue) + "/" + url.PathEscape(id)
}

// CreateSubscription subscribes subscriber (an http(s):// or mailto: URI)
// to a queue (POST /v2/queues/{q}/subscriptions) and returns the
// subscription id. A zero ttl leaves the server default (3600 s); nil
// options are not sent. Subscribing a subscriber that already has an
// unconfirmed subscription of the queue answers that subscription's id
// (its ttl and options unchanged); a confirmed one is a 409 *Error.
func (c *Client) CreateSubscription(ctx context.Context, queue, subscriber string, ttl int, options map[string]any) (string, error) {
	return c.createSubscriptionAt(ctx, subscriptionsPath(queue), nil, subscriber, ttl, options)
}

// ListSubscriptions lists one page of a queue's subscriptions in creation
// order. Zero marker or limit are not sent (the server's default limit is
// 10, its maximum 20). A queue that does not exist answers an empty page.
func (c *Client) ListSubscriptions(ctx context.Context, queue, marker string, limit int) (*SubscriptionPage, error) {
	var q query
	if marker != "" {
		q.set("marker", marker)
	}
	if limit != 0 {
		q.setInt("limit", limit)
	}
	subs, next, err := listAt[Subscription](ctx, c, subscriptionsPath(queue), q, "subscriptions")
	if err != nil {
		return nil, err
	}
	return &SubscriptionPage{Subscriptions: subs, Next: next}, nil
}

// GetSubscription returns one subscription (404 when it does not exist,
// has expired or belongs to another queue).
func (c *Client) GetSubscription(ctx context.Context, queue, id string) (*Subscription, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: subscriptionPath(queue, id)})
	if err != nil {
		return nil, err
	}
	var s Subscription
	if err := resp.decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// UpdateSubscription changes a subscription's subscriber, ttl and/or
// options (PATCH). An update with no field set is sent as {}, which the
// server refuses (400).
func (c *Client) UpdateSubscription(ctx context.Context, queue, id string, update SubscriptionUpdate) error {
	doc := map[string]any{}
	if update.Subscriber != nil {
		doc["subscriber"] = *update.Subscriber
	}
	if update.TTL != nil {
		doc["ttl"] = *update.TTL
	}
	if update.Options != nil {
		doc["options"] = update.Options
	}
	body, err := jsonBody(doc)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &request{method: http.MethodPatch, path: subscriptionPath(queue, id), body: body})
	return err
}

// DeleteSubscription deletes a subscription (204 also for unknown ids).
func (c *Client) DeleteSubscription(ctx context.Context, queue, id string) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete, path: subscriptionPath(queue, id)})
	return err
}

// ConfirmSubscription sets a subscription's confirmed flag (PUT
// .../confirm with {"confirmed": <bool>}). Normally called by a client
// built with the signed-URL headers of a confirmation notification (see
// WithHeaders); false also sends an unsubscribe confirmation when the
// server requires confirmation.
func (c *Client) ConfirmSubscription(ctx context.Context, queue, id string, confirmed bool) error {
	body, err := jsonBody(map[string]bool{"confirmed": confirmed})
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &request{method: http.MethodPut, path: subscriptionPath(queue, id) + "/confirm", body: body})
	return err
}

// SubscriptionDelivery returns a subscription's delivery state (Herald
// extension; 404 like GetSubscription).
func (c *Client) SubscriptionDelivery(ctx context.Context, queue, id string) (*Delivery, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: subscriptionPath(queue, id) + "/delivery"})
	if err != nil {
		return nil, err
	}
	var doc struct {
		SubscriptionID string            `json:"subscription_id"`
		Owner          string            `json:"owner"` // null: ""
		OwnerEpoch     uint64            `json:"owner_epoch"`
		Cursor         uint64            `json:"cursor"`
		Pending        uint64            `json:"pending"`
		Delivered      uint64            `json:"delivered"`
		Failed         uint64            `json:"failed"`
		Skipped        uint64            `json:"skipped"`
		LastError      string            `json:"last_error"`
		LastErrorAt    time.Time         `json:"last_error_at"` // null: zero
		RecentFailures []DeliveryFailure `json:"recent_failures"`
		SigningSecret  string            `json:"signing_secret"`
	}
	if err := resp.decode(&doc); err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(doc.SigningSecret)
	if err != nil {
		return nil, fmt.Errorf("client: decode response (status %d): signing_secret: %w", resp.status, err)
	}
	d := &Delivery{SubscriptionID: doc.SubscriptionID, Owner: doc.Owner, OwnerEpoch: doc.OwnerEpoch,
		Cursor: doc.Cursor, Pending: doc.Pending, Delivered: doc.Delivered, Failed: doc.Failed,
		Skipped: doc.Skipped, LastError: doc.LastError, LastErrorAt: doc.LastErrorAt,
		RecentFailures: doc.RecentFailures, SigningSecret: secret}
	if d.RecentFailures == nil {
		d.RecentFailures = []DeliveryFailure{}
	}
	return d, nil
}
