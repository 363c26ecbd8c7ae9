package client

import (
	"context"
	"net/http"
	"net/url"
)

// Topics (docs/TOPICS.md): /v2/topics/{t} and its stats, purge, messages and
// subscriptions. The shapes are the queue shapes, so the topic methods reuse
// Message, MessagePage, NewMessage, Subscription, SubscriptionPage, PatchOp
// and QueueStats. topicProject, where a method takes it, is the owner project
// of another project's topic (sent as ?topic_project=); "" addresses the
// caller's own topic. The helpers at the end of this file take the resource
// path, so they serve queues and topics alike.

// Topic is one entry of a topic listing.
type Topic struct {
	Name     string         `json:"name"`
	Href     string         `json:"href"`
	Metadata map[string]any `json:"metadata,omitempty"` // only with Detailed
}

// ListTopicsOptions are the query parameters of GET /v2/topics. Zero values
// are not sent. (Topics have no with_count.)
type ListTopicsOptions struct {
	Marker   string
	Limit    int
	Detailed bool
	Name     string // substring filter
	// Filters become extra query parameters, metadata equality filters.
	// Sent in key order.
	Filters map[string]string
}

// TopicPage is one page of topics.
type TopicPage struct {
	Topics []Topic
	// Next is the marker of the "next" link, "" if none. The server emits
	// one on every non-empty page; a listing ends at the first empty page.
	Next string
}

func topicPath(topic string) string { return "/v2/topics/" + url.PathEscape(topic) }

func topicMessagesPath(topic string) string { return topicPath(topic) + "/messages" }

func topicSubscriptionsPath(topic string) string { return topicPath(topic) + "/subscriptions" }

// topicProjectQuery starts a query with topic_project when it is set.
func topicProjectQuery(topicProject string) query {
	var q query
	if topicProject != "" {
		q.set("topic_project", topicProject)
	}
	return q
}

// CreateTopic creates a topic (PUT /v2/topics/{t}); metadata nil sends no
// body. created is true for 201 and false for 204 (it existed; the metadata
// sent was then ignored).
func (c *Client) CreateTopic(ctx context.Context, name string, metadata map[string]any) (created bool, err error) {
	return c.createAt(ctx, topicPath(name), metadata)
}

// GetTopic returns a topic's metadata with the reserved defaults (404 when
// the topic does not exist).
func (c *Client) GetTopic(ctx context.Context, name string) (map[string]any, error) {
	return c.metadataAt(ctx, http.MethodGet, topicPath(name), nil)
}

// PatchTopic applies JSON-patch ops to a topic's metadata and returns the
// result. The ACL keys may also be addressed unprefixed
// (/metadata/allowed_sending_projects).
func (c *Client) PatchTopic(ctx context.Context, name string, ops []PatchOp) (map[string]any, error) {
	if ops == nil {
		ops = []PatchOp{}
	}
	return c.metadataAt(ctx, http.MethodPatch, topicPath(name), ops)
}

// DeleteTopic deletes a topic and its messages; its subscriptions are kept
// (204 also when it does not exist).
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete, path: topicPath(name)})
	return err
}

// ListTopics lists one page of topics (GET /v2/topics).
func (c *Client) ListTopics(ctx context.Context, opts ListTopicsOptions) (*TopicPage, error) {
	q := listQuery(opts.Marker, opts.Limit, opts.Detailed, opts.Name, false, opts.Filters)
	topics, next, err := listAt[Topic](ctx, c, "/v2/topics", q, "topics")
	if err != nil {
		return nil, err
	}
	return &TopicPage{Topics: topics, Next: next}, nil
}

// TopicStats returns the counts of a topic's pending messages (not yet
// acknowledged by every subscription). Only Total (and Oldest, Newest) are
// filled; Claimed and Free stay 0.
func (c *Client) TopicStats(ctx context.Context, name string) (*QueueStats, error) {
	return c.statsAt(ctx, topicPath(name)+"/stats")
}

// PurgeTopic deletes a topic's "messages" and/or "subscriptions"; with no
// resource types no body is sent and the server purges both.
func (c *Client) PurgeTopic(ctx context.Context, name string, resourceTypes ...string) error {
	return c.purgeAt(ctx, topicPath(name)+"/purge", resourceTypes)
}

// PostTopicMessages publishes messages to a topic and returns their ids in
// order. The owner project creates the topic lazily; another project
// (topicProject) needs an existing topic whose sending ACL admits it.
func (c *Client) PostTopicMessages(ctx context.Context, topic string, msgs []NewMessage, topicProject string) ([]string, error) {
	return c.postMessagesAt(ctx, topicMessagesPath(topic), topicProjectQuery(topicProject), msgs)
}

// ListTopicMessages lists one page of a topic's pending messages, oldest
// first. Zero marker or limit are not sent. (The queue list flags echo,
// include_claimed and include_delayed have no effect on topics.)
func (c *Client) ListTopicMessages(ctx context.Context, topic, marker string, limit int) (*MessagePage, error) {
	var q query
	if marker != "" {
		q.set("marker", marker)
	}
	if limit != 0 {
		q.setInt("limit", limit)
	}
	msgs, next, err := listAt[Message](ctx, c, topicMessagesPath(topic), q, "messages")
	if err != nil {
		return nil, err
	}
	return &MessagePage{Messages: msgs, Next: next}, nil
}

// GetTopicMessages returns the topic messages with the given ids that exist
// (GET ?ids=a,b); the server answers 404 when none does.
func (c *Client) GetTopicMessages(ctx context.Context, topic string, ids []string) ([]Message, error) {
	return c.getMessagesAt(ctx, topicMessagesPath(topic), ids)
}

// DeleteTopicMessages deletes topic messages by id (DELETE ?ids=a,b): they
// are not delivered to the subscriptions that have not received them yet.
func (c *Client) DeleteTopicMessages(ctx context.Context, topic string, ids []string) error {
	return c.deleteMessagesAt(ctx, topicMessagesPath(topic), ids)
}

// CreateTopicSubscription subscribes subscriber to a topic and returns the
// subscription id; ttl and options as for CreateSubscription. With
// topicProject the caller's project subscribes to that project's topic
// (which must exist and whose subscribe ACL must admit it).
func (c *Client) CreateTopicSubscription(ctx context.Context, topic, subscriber string, ttl int, options map[string]any, topicProject string) (string, error) {
	return c.createSubscriptionAt(ctx, topicSubscriptionsPath(topic), topicProjectQuery(topicProject), subscriber, ttl, options)
}

// ListTopicSubscriptions lists one page of a topic's subscriptions in
// creation order; zero marker or limit are not sent. The owner project sees
// every subscription; with topicProject the caller sees only its own
// subscriptions of that project's topic.
func (c *Client) ListTopicSubscriptions(ctx context.Context, topic, marker string, limit int, topicProject string) (*SubscriptionPage, error) {
	q := topicProjectQuery(topicProject)
	if marker != "" {
		q.set("marker", marker)
	}
	if limit != 0 {
		q.setInt("limit", limit)
	}
	subs, next, err := listAt[Subscription](ctx, c, topicSubscriptionsPath(topic), q, "subscriptions")
	if err != nil {
		return nil, err
	}
	return &SubscriptionPage{Subscriptions: subs, Next: next}, nil
}

// DeleteTopicSubscription deletes a topic subscription (204 also for
// unknown ids and, with topicProject, for other projects' subscriptions,
// which are left untouched).
func (c *Client) DeleteTopicSubscription(ctx context.Context, topic, id, topicProject string) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete,
		path: topicSubscriptionsPath(topic) + "/" + url.PathEscape(id), query: topicProjectQuery(topicProject)})
	return err
}
