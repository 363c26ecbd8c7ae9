package httpapi

import "net/http"

// versionsDoc is the body of GET / (§1.1).
var versionsDoc = map[string]any{
	"versions": []any{map[string]any{
		"id":      "2",
		"status":  "CURRENT",
		"updated": "2014-9-24T04:06:47Z",
		"media-types": []any{map[string]string{
			"base": "application/json",
			"type": "application/vnd.openstack.messaging-v2+json",
		}},
		"links": []any{map[string]string{"href": "/v2/", "rel": "self"}},
	}},
}

// versions: GET / answers 300 Multiple Choices.
func (s *server) versions(c *call) {
	writeJSON(c.w, http.StatusMultipleChoices, versionsDoc)
}

// homeResource builds one JSON-home resource: href-template (and
// href-vars, mapping template variables to their param names, when there
// are any) and hints; acceptPost adds hints.accept-post.
func homeResource(template string, vars map[string]string, allow []string, acceptPost bool) map[string]any {
	hints := map[string]any{
		"allow":   allow,
		"formats": map[string]any{"application/json": map[string]any{}},
	}
	if acceptPost {
		hints["accept-post"] = []string{"application/json"}
	}
	r := map[string]any{"href-template": template, "hints": hints}
	if len(vars) > 0 {
		r["href-vars"] = vars
	}
	return r
}

// mergeVars returns a new href-vars map holding the entries of all ms.
func mergeVars(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// homeDocument is the JSON-home document of GET /v2/ (§1.1): Zaqar's rels
// (rel/subscriptions_post keeps Zaqar's pointless limit variable), plus
// Herald's rel/subscription_confirm (the confirm PUT, which Zaqar does not
// list) and rel/subscription_delivery (the delivery-state extension), and
// the topic rels (rel/topics, rel/topic, rel/topic_stats, ...).
var homeDocument = func() map[string]any {
	q := map[string]string{"queue_name": "param/queue_name"}
	with := func(extra map[string]string) map[string]string { return mergeVars(q, extra) }
	get, post, del := []string{"GET"}, []string{"POST"}, []string{"DELETE"}
	res := map[string]any{
		"rel/queues": homeResource("/v2/queues{?marker,limit,detailed}", map[string]string{
			"marker": "param/marker", "limit": "param/queue_limit", "detailed": "param/detailed"}, get, false),
		"rel/queue":       homeResource("/v2/queues/{queue_name}", q, []string{"PUT", "DELETE"}, false),
		"rel/queue_stats": homeResource("/v2/queues/{queue_name}/stats", q, get, false),
		"rel/queue_share": homeResource("/v2/queues/{queue_name}/share", q, post, false),
		"rel/queue_purge": homeResource("/v2/queues/{queue_name}/purge", q, post, false),
		"rel/messages": homeResource("/v2/queues/{queue_name}/messages{?marker,limit,echo,include_claimed}",
			with(map[string]string{"marker": "param/marker", "limit": "param/messages_limit",
				"echo": "param/echo", "include_claimed": "param/include_claimed"}), get, false),
		"rel/post_messages": homeResource("/v2/queues/{queue_name}/messages", q, post, true),
		"rel/messages_delete": homeResource("/v2/queues/{queue_name}/messages{?ids,pop}",
			with(map[string]string{"ids": "param/ids", "pop": "param/pop"}), del, false),
		"rel/message_delete": homeResource("/v2/queues/{queue_name}/messages/{message_id}{?claim}",
			with(map[string]string{"message_id": "param/message_id", "claim": "param/claim_id"}), del, false),
		"rel/message_get": homeResource("/v2/queues/{queue_name}/messages/{message_id}",
			with(map[string]string{"message_id": "param/message_id"}), get, false),
		"rel/claim": homeResource("/v2/queues/{queue_name}/claims/{claim_id}",
			with(map[string]string{"claim_id": "param/claim_id"}), get, false),
		"rel/post_claim": homeResource("/v2/queues/{queue_name}/claims{?limit}",
			with(map[string]string{"limit": "param/claim_limit"}), post, true),
		"rel/patch_claim": homeResource("/v2/queues/{queue_name}/claims/{claim_id}",
			with(map[string]string{"claim_id": "param/claim_id"}), []string{"PATCH"}, true),
		"rel/delete_claim": homeResource("/v2/queues/{queue_name}/claims/{claim_id}",
			with(map[string]string{"claim_id": "param/claim_id"}), del, false),
		"rel/subscriptions_get": homeResource("/v2/queues/{queue_name}/subscriptions{?marker,limit}",
			with(map[string]string{"marker": "param/marker", "limit": "param/subscription_limit"}), get, false),
		"rel/subscriptions_post": homeResource("/v2/queues/{queue_name}/subscriptions",
			with(map[string]string{"limit": "param/subscription_limit"}), post, true),
		"rel/subscription": homeResource("/v2/queues/{queue_name}/subscriptions/{subscriptions_id}",
			with(map[string]string{"subscriptions_id": "param/subscriptions_id"}), []string{"GET", "DELETE"}, false),
		"rel/subscription_patch": homeResource("/v2/queues/{queue_name}/subscriptions/{subscriptions_id}",
			with(map[string]string{"subscriptions_id": "param/subscriptions_id"}), []string{"PATCH"}, true),
		"rel/subscription_confirm": homeResource("/v2/queues/{queue_name}/subscriptions/{subscriptions_id}/confirm",
			with(map[string]string{"subscriptions_id": "param/subscriptions_id"}), []string{"PUT"}, false),
		"rel/subscription_delivery": homeResource("/v2/queues/{queue_name}/subscriptions/{subscriptions_id}/delivery",
			with(map[string]string{"subscriptions_id": "param/subscriptions_id"}), get, false),
		"rel/ping": homeResource("/v2/ping", nil, get, false),
	}
	// Topic rels (docs/TOPICS.md). The message list honours only marker and
	// limit (echo, include_claimed and include_delayed are validated and
	// ignored: topic messages have no claims), and topic_project addresses
	// another project's topic on the message post and the subscription
	// collection.
	t := map[string]string{"topic_name": "param/topic_name"}
	withTopic := func(extra map[string]string) map[string]string { return mergeVars(t, extra) }
	project := map[string]string{"topic_project": "param/topic_project"}
	for rel, r := range map[string]any{
		"rel/topics": homeResource("/v2/topics{?marker,limit,detailed}", map[string]string{
			"marker": "param/marker", "limit": "param/topic_limit", "detailed": "param/detailed"}, get, false),
		"rel/topic":       homeResource("/v2/topics/{topic_name}", t, []string{"PUT", "GET", "PATCH", "DELETE"}, false),
		"rel/topic_stats": homeResource("/v2/topics/{topic_name}/stats", t, get, false),
		"rel/topic_purge": homeResource("/v2/topics/{topic_name}/purge", t, post, false),
		"rel/topic_messages": homeResource("/v2/topics/{topic_name}/messages{?marker,limit}",
			withTopic(map[string]string{"marker": "param/marker", "limit": "param/messages_limit"}), get, false),
		"rel/topic_post_messages": homeResource("/v2/topics/{topic_name}/messages{?topic_project}",
			withTopic(project), post, true),
		"rel/topic_subscriptions_get": homeResource("/v2/topics/{topic_name}/subscriptions{?marker,limit,topic_project}",
			withTopic(map[string]string{"marker": "param/marker", "limit": "param/subscription_limit",
				"topic_project": "param/topic_project"}), get, false),
		"rel/topic_subscriptions_post": homeResource("/v2/topics/{topic_name}/subscriptions{?topic_project}",
			withTopic(project), post, true),
	} {
		res[rel] = r
	}
	// Like Zaqar, health is a plain href.
	res["rel/health"] = map[string]any{"href": "/v2/health", "hints": map[string]any{
		"allow": get, "formats": map[string]any{"application/json": map[string]any{}}}}
	return map[string]any{"resources": res}
}()

// homeDoc: GET /v2/ answers the JSON-home document.
func (s *server) homeDoc(c *call) {
	c.w.Header().Set("Cache-Control", "max-age=86400")
	writeJSONType(c.w, http.StatusOK, "application/json-home", homeDocument)
}
