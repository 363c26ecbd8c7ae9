package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
)

// Path-generic helpers shared by the queue and topic methods: the same
// request and answer shapes at a different resource path.

// createAt PUTs metadata (nil: no body) to path; true for 201.
func (c *Client) createAt(ctx context.Context, path string, metadata map[string]any) (bool, error) {
	req := &request{method: http.MethodPut, path: path}
	if metadata != nil {
		var err error
		if req.body, err = jsonBody(metadata); err != nil {
			return false, err
		}
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return false, err
	}
	return resp.status == http.StatusCreated, nil
}

// metadataAt sends a GET (ops nil) or a JSON-patch PATCH of ops to path and
// decodes the metadata answered.
func (c *Client) metadataAt(ctx context.Context, method, path string, ops []PatchOp) (map[string]any, error) {
	req := &request{method: method, path: path}
	if ops != nil {
		var err error
		if req.body, err = jsonBody(ops); err != nil {
			return nil, err
		}
		req.contentType = ContentTypeJSONPatch
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	md := map[string]any{}
	if err := resp.decode(&md); err != nil {
		return nil, err
	}
	return md, nil
}

// purgeAt POSTs {"resource_types": [...]} to a purge path (no body when
// resourceTypes is empty).
func (c *Client) purgeAt(ctx context.Context, path string, resourceTypes []string) error {
	req := &request{method: http.MethodPost, path: path}
	if len(resourceTypes) > 0 {
		var err error
		if req.body, err = jsonBody(map[string][]string{"resource_types": resourceTypes}); err != nil {
			return err
		}
	}
	_, err := c.do(ctx, req)
	return err
}

// listAt GETs one page of a listing, {"<key>": [...], "links": [...]}, and
// returns its items (never nil) and next marker. An empty body (api-ref's
// 204 for an empty list) is an empty page.
func listAt[T any](ctx context.Context, c *Client, path string, q query, key string) ([]T, string, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: path, query: q})
	if err != nil {
		return nil, "", err
	}
	items := []T{}
	if len(resp.body) == 0 {
		return items, "", nil
	}
	var doc map[string]json.RawMessage
	if err := resp.decode(&doc); err != nil {
		return nil, "", err
	}
	var links []link
	for _, f := range []struct {
		name string
		dst  any
	}{{key, &items}, {"links", &links}} {
		if raw, ok := doc[f.name]; ok {
			if err := (&response{status: resp.status, body: raw}).decode(f.dst); err != nil {
				return nil, "", err
			}
		}
	}
	if items == nil { // "<key>": null
		items = []T{}
	}
	return items, nextMarker(links), nil
}

// postMessagesAt posts msgs to a messages path and returns their ids.
func (c *Client) postMessagesAt(ctx context.Context, path string, q query, msgs []NewMessage) ([]string, error) {
	if msgs == nil {
		msgs = []NewMessage{}
	}
	body, err := jsonBody(map[string][]NewMessage{"messages": msgs})
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: path, query: q, body: body})
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources []string `json:"resources"`
	}
	if err := resp.decode(&doc); err != nil {
		return nil, err
	}
	ids := make([]string, len(doc.Resources))
	for i, r := range doc.Resources {
		ids[i] = lastSegment(r)
	}
	return ids, nil
}

// getMessagesAt GETs a messages path with ?ids=.
func (c *Client) getMessagesAt(ctx context.Context, path string, ids []string) ([]Message, error) {
	if len(ids) == 0 {
		return nil, errNoIDs
	}
	var q query
	q.list("ids", ids)
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: path, query: q})
	if err != nil {
		return nil, err
	}
	var doc struct {
		Messages []Message `json:"messages"`
	}
	if err := resp.decode(&doc); err != nil {
		return nil, err
	}
	if doc.Messages == nil {
		doc.Messages = []Message{}
	}
	return doc.Messages, nil
}

// deleteMessagesAt DELETEs a messages path with ?ids=.
func (c *Client) deleteMessagesAt(ctx context.Context, path string, ids []string) error {
	if len(ids) == 0 {
		return errNoIDs
	}
	var q query
	q.list("ids", ids)
	_, err := c.do(ctx, &request{method: http.MethodDelete, path: path, query: q})
	return err
}

// createSubscriptionAt POSTs a subscription to a subscriptions path and
// returns its id.
func (c *Client) createSubscriptionAt(ctx context.Context, path string, q query, subscriber string, ttl int, options map[string]any) (string, error) {
	doc := map[string]any{"subscriber": subscriber}
	if ttl != 0 {
		doc["ttl"] = ttl
	}
	if options != nil {
		doc["options"] = options
	}
	body, err := jsonBody(doc)
	if err != nil {
		return "", err
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: path, query: q, body: body})
	if err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"subscription_id"`
	}
	if err := resp.decode(&out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", fmt.Errorf("client: create subscription: no subscription_id in the answer (status %d)", resp.status)
	}
	return out.ID, nil
}

// statsAt GETs a stats path and returns its "messages" counts.
func (c *Client) statsAt(ctx context.Context, path string) (*QueueStats, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	var doc struct {
		Messages QueueStats `json:"messages"`
	}
	if err := resp.decode(&doc); err != nil {
		return nil, err
	}
	return &doc.Messages, nil
}

// listQuery builds the query of a queue or topic listing: the given
// parameters, then the metadata filters sorted by key.
func listQuery(marker string, limit int, detailed bool, name string, withCount bool, filters map[string]string) query {
	var q query
	if marker != "" {
		q.set("marker", marker)
	}
	if limit != 0 {
		q.setInt("limit", limit)
	}
	if detailed {
		q.setBool("detailed", true)
	}
	if name != "" {
		q.set("name", name)
	}
	if withCount {
		q.setBool("with_count", true)
	}
	keys := make([]string, 0, len(filters))
	for k := range filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.set(k, filters[k])
	}
	return q
}
