package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// NewMessage is one message to post. Body may be any JSON-encodable value,
// including a json.RawMessage; nil posts a JSON null body.
type NewMessage struct {
	Body  any  `json:"body"`
	TTL   int  `json:"ttl,omitempty"`   // 0: the queue's default
	Delay *int `json:"delay,omitempty"` // nil: the queue's default
}

// Message is a message as list, get, claim and pop return it.
type Message struct {
	ID   string          `json:"id"`
	Href string          `json:"href,omitempty"` // absent in pop answers
	TTL  int             `json:"ttl"`
	Age  int             `json:"age"`
	Body json.RawMessage `json:"body"`
	// ClaimID is the claim holding the message: the href's ?claim_id=, or
	// the claim_id field of a pop answer. "" when unclaimed.
	ClaimID    string `json:"claim_id,omitempty"`
	ClaimCount int    `json:"claim_count,omitempty"` // pop answers only
	Checksum   string `json:"checksum,omitempty"`
}

// UnmarshalJSON fills ID and ClaimID from Href when the body lacks them.
func (m *Message) UnmarshalJSON(b []byte) error {
	type plain Message
	var raw struct {
		plain
		ClaimID *string `json:"claim_id"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = Message(raw.plain)
	if raw.ClaimID != nil {
		m.ClaimID = *raw.ClaimID
	}
	if m.Href != "" {
		if m.ID == "" {
			m.ID = lastSegment(m.Href)
		}
		if m.ClaimID == "" {
			m.ClaimID = claimIDFromHref(m.Href)
		}
	}
	return nil
}

// DecodeBody unmarshals the message body into v.
func (m *Message) DecodeBody(v any) error { return json.Unmarshal(m.Body, v) }

func claimIDFromHref(href string) string {
	i := strings.IndexByte(href, '?')
	if i < 0 {
		return ""
	}
	q, err := url.ParseQuery(href[i+1:])
	if err != nil {
		return ""
	}
	return q.Get("claim_id")
}

// ListMessagesOptions are the query parameters of a message listing. Zero
// values are not sent (the server defaults are limit 10 and false flags).
type ListMessagesOptions struct {
	Marker         string
	Limit          int
	Echo           bool // include this client's own messages
	IncludeClaimed bool
	IncludeDelayed bool
}

// MessagePage is one page of messages.
type MessagePage struct {
	Messages []Message
	// Next is the marker of the "next" link, "" if none. The server emits
	// one on every non-empty page; a listing ends at the first empty page.
	Next string
}

// PostMessages posts messages to a queue (creating it lazily) and returns
// their ids in order.
func (c *Client) PostMessages(ctx context.Context, queue string, msgs []NewMessage) ([]string, error) {
	return c.postMessagesAt(ctx, messagesPath(queue), nil, msgs)
}

// ListMessages lists one page of a queue's messages, oldest first.
func (c *Client) ListMessages(ctx context.Context, queue string, opts ListMessagesOptions) (*MessagePage, error) {
	var q query
	if opts.Marker != "" {
		q.set("marker", opts.Marker)
	}
	if opts.Limit != 0 {
		q.setInt("limit", opts.Limit)
	}
	if opts.Echo {
		q.setBool("echo", true)
	}
	if opts.IncludeClaimed {
		q.setBool("include_claimed", true)
	}
	if opts.IncludeDelayed {
		q.setBool("include_delayed", true)
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: messagesPath(queue), query: q})
	if err != nil {
		return nil, err
	}
	page := &MessagePage{Messages: []Message{}}
	if len(resp.body) == 0 { // api-ref's 204 for an empty list
		return page, nil
	}
	var doc struct {
		Messages []Message `json:"messages"`
		Links    []link    `json:"links"`
	}
	if err := resp.decode(&doc); err != nil {
		return nil, err
	}
	if doc.Messages != nil {
		page.Messages = doc.Messages
	}
	page.Next = nextMarker(doc.Links)
	return page, nil
}

// GetMessage returns one message (claimed, delayed and own messages too).
func (c *Client) GetMessage(ctx context.Context, queue, id string) (*Message, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet,
		path: messagesPath(queue) + "/" + url.PathEscape(id)})
	if err != nil {
		return nil, err
	}
	var m Message
	if err := resp.decode(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

var errNoIDs = errors.New("client: no message ids given")

// GetMessages returns the messages with the given ids that exist (GET
// ?ids=a,b); the server answers 404 when none does.
func (c *Client) GetMessages(ctx context.Context, queue string, ids []string) ([]Message, error) {
	return c.getMessagesAt(ctx, messagesPath(queue), ids)
}

// DeleteMessage deletes one message. claimID must be the message's active
// claim if it is claimed, "" otherwise.
func (c *Client) DeleteMessage(ctx context.Context, queue, id, claimID string) error {
	var q query
	if claimID != "" {
		q.set("claim_id", claimID)
	}
	_, err := c.do(ctx, &request{method: http.MethodDelete,
		path: messagesPath(queue) + "/" + url.PathEscape(id), query: q})
	return err
}

// DeleteMessages deletes messages by id (DELETE ?ids=a,b), claimed or not.
func (c *Client) DeleteMessages(ctx context.Context, queue string, ids []string) error {
	return c.deleteMessagesAt(ctx, messagesPath(queue), ids)
}

// PopMessages removes and returns up to n unclaimed messages (DELETE ?pop=n).
// Popped messages carry no Href.
func (c *Client) PopMessages(ctx context.Context, queue string, n int) ([]Message, error) {
	var q query
	q.setInt("pop", n)
	resp, err := c.do(ctx, &request{method: http.MethodDelete, path: messagesPath(queue), query: q})
	if err != nil {
		return nil, err
	}
	msgs := []Message{}
	if len(resp.body) == 0 {
		return msgs, nil
	}
	var doc struct {
		Messages []Message `json:"messages"`
	}
	if err := resp.decode(&doc); err != nil {
		return nil, fmt.Errorf("pop: %w", err)
	}
	if doc.Messages != nil {
		msgs = doc.Messages
	}
	return msgs, nil
}
