package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Queue is one entry of a queue listing.
type Queue struct {
	Name     string         `json:"name"`
	Href     string         `json:"href"`
	Metadata map[string]any `json:"metadata,omitempty"` // only with Detailed
}

// ListQueuesOptions are the query parameters of GET /v2/queues. Zero values
// are not sent.
type ListQueuesOptions struct {
	Marker    string
	Limit     int
	Detailed  bool
	Name      string // substring filter
	WithCount bool
	// Filters become extra query parameters, which Zaqar treats as
	// metadata equality filters. Sent in key order.
	Filters map[string]string
}

// QueuePage is one page of queues.
type QueuePage struct {
	Queues []Queue
	// Next is the marker of the "next" link ("" if there is none). Zaqar
	// emits a next link on every non-empty page, so a listing ends at the
	// first empty page.
	Next string
	// Count is the total number of queues in the project; only filled when
	// WithCount was set (and Zaqar omits it when it is zero).
	Count int
}

// CreateQueue creates a queue (PUT /v2/queues/{q}); metadata nil sends no
// body. created is true for 201 (new queue) and false for 204 (it existed;
// the metadata sent was then ignored by the server).
func (c *Client) CreateQueue(ctx context.Context, name string, metadata map[string]any) (created bool, err error) {
	return c.createAt(ctx, queuePath(name), metadata)
}

// DeleteQueue deletes a queue and its messages (204 also when it does not exist).
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete, path: queuePath(name)})
	return err
}

// GetQueue returns a queue's metadata, reserved defaults included. A queue
// that does not exist still answers with the defaults (lazy queues).
func (c *Client) GetQueue(ctx context.Context, name string) (map[string]any, error) {
	return c.metadataAt(ctx, http.MethodGet, queuePath(name), nil)
}

// PatchOp is one JSON-patch operation on queue metadata. Value is sent for
// every op except "remove" (even when nil, as JSON null).
type PatchOp struct {
	Op    string // "add", "replace" or "remove"
	Path  string // "/metadata/<key>"
	Value any
}

// MarshalJSON renders the op as Zaqar expects it.
func (p PatchOp) MarshalJSON() ([]byte, error) {
	if p.Op == "remove" {
		return json.Marshal(struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}{p.Op, p.Path})
	}
	return json.Marshal(struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}{p.Op, p.Path, p.Value})
}

// MetadataPath returns the JSON pointer "/metadata/<key>" with key escaped
// (~ as ~0, / as ~1).
func MetadataPath(key string) string {
	key = strings.ReplaceAll(key, "~", "~0")
	key = strings.ReplaceAll(key, "/", "~1")
	return "/metadata/" + key
}

// PatchAdd sets key to value.
func PatchAdd(key string, value any) PatchOp {
	return PatchOp{Op: "add", Path: MetadataPath(key), Value: value}
}

// PatchReplace replaces the value of an existing (or reserved) key.
func PatchReplace(key string, value any) PatchOp {
	return PatchOp{Op: "replace", Path: MetadataPath(key), Value: value}
}

// PatchRemove removes key.
func PatchRemove(key string) PatchOp { return PatchOp{Op: "remove", Path: MetadataPath(key)} }

// PatchQueue applies JSON-patch ops to a queue's metadata (PATCH with
// Content-Type application/openstack-messaging-v2.0-json-patch) and returns
// the resulting metadata. The queue must exist (404 otherwise).
func (c *Client) PatchQueue(ctx context.Context, name string, ops []PatchOp) (map[string]any, error) {
	if ops == nil {
		ops = []PatchOp{}
	}
	return c.metadataAt(ctx, http.MethodPatch, queuePath(name), ops)
}

// ListQueues lists one page of queues (GET /v2/queues).
func (c *Client) ListQueues(ctx context.Context, opts ListQueuesOptions) (*QueuePage, error) {
	q := listQuery(opts.Marker, opts.Limit, opts.Detailed, opts.Name, opts.WithCount, opts.Filters)
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: "/v2/queues", query: q})
	if err != nil {
		return nil, err
	}
	page := &QueuePage{Queues: []Queue{}}
	if len(resp.body) == 0 { // api-ref's 204 for an empty list
		return page, nil
	}
	var doc struct {
		Queues []Queue `json:"queues"`
		Links  []link  `json:"links"`
		Count  int     `json:"count"`
	}
	if err := resp.decode(&doc); err != nil {
		return nil, err
	}
	if doc.Queues != nil {
		page.Queues = doc.Queues
	}
	page.Next = nextMarker(doc.Links)
	page.Count = doc.Count
	return page, nil
}

// QueueStats is the body of GET /v2/queues/{q}/stats.
type QueueStats struct {
	Claimed int          `json:"claimed"`
	Free    int          `json:"free"`
	Total   int          `json:"total"`
	Oldest  *MessageStat `json:"oldest,omitempty"` // only when Total > 0
	Newest  *MessageStat `json:"newest,omitempty"`
}

// MessageStat describes the oldest or newest message in QueueStats.
type MessageStat struct {
	Href    string `json:"href"`
	Age     int    `json:"age"`
	Created string `json:"created"` // "YYYY-MM-DDTHH:MM:SSZ"
}

// QueueStats returns a queue's message counts.
func (c *Client) QueueStats(ctx context.Context, name string) (*QueueStats, error) {
	return c.statsAt(ctx, queuePath(name)+"/stats")
}

// PurgeQueue deletes a queue's resources (POST /v2/queues/{q}/purge).
// With no resource types no body is sent and the server purges both
// "messages" and "subscriptions".
func (c *Client) PurgeQueue(ctx context.Context, name string, resourceTypes ...string) error {
	return c.purgeAt(ctx, queuePath(name)+"/purge", resourceTypes)
}

// SignedURL is the answer of POST /v2/queues/{q}/share: a pre-signed grant
// for some paths and methods of one queue.
type SignedURL struct {
	Project   string   `json:"project"`
	Paths     []string `json:"paths"`
	Methods   []string `json:"methods"`
	Expires   string   `json:"expires"` // as returned; sent back verbatim
	Signature string   `json:"signature"`
}

// Headers returns the headers that present the grant on a request.
func (s *SignedURL) Headers() map[string]string {
	return map[string]string{
		"URL-Signature": s.Signature,
		"URL-Expires":   s.Expires,
		"URL-Methods":   strings.Join(s.Methods, ","),
		"URL-Paths":     strings.Join(s.Paths, ","),
	}
}

// Options returns the options for a second client that uses only this
// grant: its project and the four URL-* headers.
//
//	guest := client.New(base, su.Options()...)
func (s *SignedURL) Options() []Option {
	return []Option{WithProjectID(s.Project), WithHeaders(s.Headers())}
}

// ShareQueue creates a pre-signed URL for a queue. paths are "messages",
// "subscriptions" or "claims"; nil paths or methods and a zero expires
// leave the server defaults (["messages"], ["GET"], now + 1 day).
func (c *Client) ShareQueue(ctx context.Context, name string, paths, methods []string, expires time.Time) (*SignedURL, error) {
	doc := map[string]any{}
	if paths != nil {
		doc["paths"] = paths
	}
	if methods != nil {
		doc["methods"] = methods
	}
	if !expires.IsZero() {
		doc["expires"] = expires.UTC().Format(time.RFC3339)
	}
	body, err := jsonBody(doc)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: queuePath(name) + "/share", body: body})
	if err != nil {
		return nil, err
	}
	var su SignedURL
	if err := resp.decode(&su); err != nil {
		return nil, err
	}
	return &su, nil
}
