package client

import (
	"context"
	"net/http"
	"net/url"
)

// Claim is a claim on some of a queue's messages.
type Claim struct {
	ID   string
	Href string // "/v2/queues/{q}/claims/{id}"
	// TTL and Age are filled by GetClaim; ClaimMessages leaves them 0
	// (the create answer carries only the messages).
	TTL      int
	Age      int
	Messages []Message
}

// Empty reports whether the claim got no messages (the server's 204).
func (c *Claim) Empty() bool { return c.ID == "" && len(c.Messages) == 0 }

func claimBody(ttl, grace int) ([]byte, error) {
	doc := map[string]int{}
	if ttl != 0 {
		doc["ttl"] = ttl
	}
	if grace != 0 {
		doc["grace"] = grace
	}
	return jsonBody(doc)
}

// ClaimMessages claims up to limit messages (POST /v2/queues/{q}/claims).
// Zero ttl, grace or limit leave the server defaults (300, 60, 10). When
// nothing is claimable the server answers 204 and the result is an empty
// Claim (Empty() is true) with a nil error.
func (c *Client) ClaimMessages(ctx context.Context, queue string, ttl, grace, limit int) (*Claim, error) {
	body, err := claimBody(ttl, grace)
	if err != nil {
		return nil, err
	}
	var q query
	if limit != 0 {
		q.setInt("limit", limit)
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: claimsPath(queue), query: q, body: body})
	if err != nil {
		return nil, err
	}
	cl := &Claim{Messages: []Message{}}
	if resp.status == http.StatusNoContent || len(resp.body) == 0 {
		return cl, nil
	}
	var doc struct {
		Messages []Message `json:"messages"`
	}
	if err := resp.decode(&doc); err != nil {
		return nil, err
	}
	if doc.Messages != nil {
		cl.Messages = doc.Messages
	}
	if loc := resp.header.Get("Location"); loc != "" {
		cl.ID = lastSegment(loc)
		if u, err := url.Parse(loc); err == nil {
			cl.Href = u.Path
		}
	}
	if cl.ID == "" && len(cl.Messages) > 0 {
		cl.ID = cl.Messages[0].ClaimID
	}
	if cl.Href == "" && cl.ID != "" {
		cl.Href = claimsPath(queue) + "/" + url.PathEscape(cl.ID)
	}
	return cl, nil
}

// GetClaim returns a claim with its ttl, age and messages (404 once it has
// expired or been released).
func (c *Client) GetClaim(ctx context.Context, queue, claimID string) (*Claim, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet,
		path: claimsPath(queue) + "/" + url.PathEscape(claimID)})
	if err != nil {
		return nil, err
	}
	var doc struct {
		TTL      int       `json:"ttl"`
		Age      int       `json:"age"`
		Href     string    `json:"href"`
		Messages []Message `json:"messages"`
	}
	if err := resp.decode(&doc); err != nil {
		return nil, err
	}
	cl := &Claim{ID: claimID, Href: doc.Href, TTL: doc.TTL, Age: doc.Age, Messages: doc.Messages}
	if cl.Messages == nil {
		cl.Messages = []Message{}
	}
	return cl, nil
}

// UpdateClaim renews a claim (PATCH): its expiry becomes now + ttl. Zero
// ttl or grace leave the server defaults.
func (c *Client) UpdateClaim(ctx context.Context, queue, claimID string, ttl, grace int) error {
	body, err := claimBody(ttl, grace)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &request{method: http.MethodPatch,
		path: claimsPath(queue) + "/" + url.PathEscape(claimID), body: body})
	return err
}

// ReleaseClaim releases a claim (DELETE); its messages become available at
// once. 204 also for unknown claims.
func (c *Client) ReleaseClaim(ctx context.Context, queue, claimID string) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete,
		path: claimsPath(queue) + "/" + url.PathEscape(claimID)})
	return err
}
