package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/herald-mq/herald/fsm"
)

// Topics (ZAQAR-API.md §1.6, §6; docs/TOPICS.md). A topic lives in its
// owner project's namespace, apart from queues. Its metadata takes the
// queue reserved keys plus the access-control lists of the Rocky topic spec,
// which Herald enforces (fsm/topic_acl.go):
//
//	_allowed_sending_users, _allowed_sending_projects,
//	_allowed_subscribe_users, _allowed_subscribe_projects,
//	_allowed_subscribe_protocols ("webhook", "email")
//
// Identity (noauth): X-Project-ID is the caller's project, X-User-ID (any
// case, e.g. X-User-Id) its user, X-Roles its roles. Another project
// addresses an owner's topic with the query parameter
// topic_project=<owner project id> on POST .../messages and on the
// subscription endpoints (POST/GET collection, GET/PATCH/DELETE item,
// confirm, delivery); every other topic endpoint works on the caller's own
// project. Subscriptions made that way belong to the owner's topic: the
// owner project sees them all, the subscribing project only its own.
//
// Topic messages are the topic's pending notifications: listed until every
// subscription has acknowledged them or they expire; there are no claims
// and no pop.

// topicReservedDefaults are the reserved keys shown with their defaults in
// topic GET/PATCH answers (§1.6: three of the queue's seven).
var topicReservedDefaults = reservedDefaults[:3]

// topicAliases maps the spec's unprefixed PATCH keys
// (/metadata/allowed_sending_projects) to the stored keys.
var topicAliases = func() map[string]string {
	m := map[string]string{}
	for _, k := range fsm.TopicACLKeys {
		m[strings.TrimPrefix(k, "_")] = k
	}
	return m
}()

// withTopicDefaults returns a copy of stored topic metadata with the three
// reserved defaults merged in.
func withTopicDefaults(md map[string]json.RawMessage) map[string]json.RawMessage {
	return topicKind.withDefaults(md)
}

func topicHref(name string) string { return topicKind.href(name) }

// topic is the {topic_name} route variable.
func (c *call) topic() string { return c.vars["topic_name"] }

// user is the caller's user id from X-User-ID ("" when absent).
func (c *call) user() string { return strings.TrimSpace(c.r.Header.Get("X-User-ID")) }

// topicOwner resolves the project that owns the addressed topic: the
// topic_project query parameter when given, else the caller's project.
func topicOwner(c *call) (string, *apiError) {
	owner, ok := params(c.r.URL.Query()).str("topic_project")
	if !ok {
		return c.project, nil
	}
	if len(owner) > fsm.MaxProjectLength {
		return "", badAPI("The topic_project parameter may not be more than %d characters long.", fsm.MaxProjectLength)
	}
	return owner, nil
}

// topicRoutes returns the topic routes (§1 rows 28-36): CRUD, list, stats,
// purge, messages and subscriptions (the shared subscription handlers,
// with topic_project handled by crossProjectSubs). There are no claim and
// share routes: those paths answer 404.
func (s *server) topicRoutes() []route {
	const t = "/v2/topics/{topic_name}"
	type m = map[string]handlerFunc
	rts := []route{
		{path: "/v2/topics", kind: kindV2, methods: m{"GET": s.listTopics}},
		{path: t, kind: kindV2, methods: m{"PUT": s.createTopic, "GET": s.getTopic,
			"PATCH": s.patchTopic, "DELETE": s.deleteTopic}},
		{path: t + "/stats", kind: kindV2, methods: m{"GET": s.topicStats}},
		{path: t + "/purge", kind: kindV2, methods: m{"POST": s.purgeTopic}},
		{path: t + "/messages", kind: kindV2, methods: m{"POST": s.postTopicMessages,
			"GET": s.getTopicMessages, "DELETE": s.deleteTopicMessages}},
		{path: t + "/messages/{message_id}", kind: kindV2, methods: m{"GET": s.getTopicMessage,
			"DELETE": s.deleteTopicMessage}},
	}
	return append(rts, s.crossProjectSubs(s.subscriptionRoutes(topicSubs))...)
}

// topicList is the body of GET /v2/topics.
type topicList struct {
	Topics []queueItem `json:"topics"`
	Links  []link      `json:"links"`
}

// listTopics: GET /v2/topics (§1.6): like the queue list without
// with_count (ignored when sent).
func (s *server) listTopics(c *call) {
	lp, aerr := parseListParams(c, false)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	var page []fsm.TopicInfo
	if e := s.read(c, func(st *fsm.State) { page = st.ListTopics(c.project, lp.options()) }); e != nil {
		s.fail(c, e)
		return
	}
	body := topicList{Topics: make([]queueItem, 0, len(page)), Links: []link{}}
	for _, t := range page {
		body.Topics = append(body.Topics, topicKind.item(t.Name, t.Metadata, lp.detailed))
	}
	if len(page) > 0 {
		lp.hasMarker = false // the topic next link always puts the marker last
		body.Links = topicKind.nextLinks(&lp, page[len(page)-1].Name)
	}
	writeJSON(c.w, http.StatusOK, body)
}

// createTopic: PUT /v2/topics/{t}: 201 new, 204 existing (metadata
// ignored); reserved and ACL values are validated (400).
func (s *server) createTopic(c *call) {
	s.createMeta(c, topicKind, c.topic(), fsm.CmdTopicCreate, func(md map[string]json.RawMessage) any {
		return &fsm.TopicCreate{Project: c.project, Topic: c.topic(), Metadata: md}
	})
}

// getTopic: GET /v2/topics/{t}: the metadata with the three reserved
// defaults; 404 for a missing topic (Zaqar's topic store raises
// TopicDoesNotExist, unlike lazy queues).
func (s *server) getTopic(c *call) {
	var md map[string]json.RawMessage
	found := false
	if err := s.read(c, func(st *fsm.State) {
		var t fsm.TopicInfo
		if t, found = st.Topic(c.project, c.topic()); found {
			md = t.Metadata
		}
	}); err != nil {
		s.fail(c, err)
		return
	}
	if !found {
		s.fail(c, notFound("Topic %s does not exist.", c.topic()))
		return
	}
	writeJSON(c.w, http.StatusOK, withTopicDefaults(md))
}

// patchTopic: PATCH /v2/topics/{t}, the JSON-patch form of queues
// (§1.2.4). A path /metadata/allowed_sending_projects (the spec's form)
// means the stored key _allowed_sending_projects, likewise for the other
// ACL keys.
func (s *server) patchTopic(c *call) {
	s.patchMeta(c, topicKind, fsm.CmdTopicPatch, func(ops []fsm.PatchOp) any {
		return &fsm.TopicPatch{Project: c.project, Topic: c.topic(), Ops: ops}
	})
}

// deleteTopic: DELETE /v2/topics/{t}, 204 even when missing. Messages go;
// subscriptions stay (as a queue's, §4.8) and are fed again when the topic
// is re-created.
func (s *server) deleteTopic(c *call) {
	if _, err := s.apply(c, fsm.CmdTopicDelete, &fsm.TopicDelete{Project: c.project, Topic: c.topic()}); err != nil {
		s.fail(c, err)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}

// topicStatsCounts is the messages member of topic stats: only total (and
// oldest/newest) for an existing topic.
type topicStatsCounts struct {
	Total  int           `json:"total"`
	Oldest *statsMessage `json:"oldest,omitempty"`
	Newest *statsMessage `json:"newest,omitempty"`
}

// topicStats: GET /v2/topics/{t}/stats (§1.6): the messages still pending
// (not yet acknowledged by every subscription, unexpired). A missing topic
// answers Zaqar's {"claimed": 0, "free": 0, "total": 0}.
func (s *server) topicStats(c *call) {
	now := s.nowNano()
	var st fsm.Stats
	exists := false
	if err := s.read(c, func(v *fsm.State) { st, exists = v.TopicStats(c.project, c.topic(), now) }); err != nil {
		s.fail(c, err)
		return
	}
	if !exists {
		writeJSON(c.w, http.StatusOK, map[string]statsCounts{"messages": {}})
		return
	}
	out := topicStatsCounts{Total: st.Total}
	if st.Total > 0 {
		out.Oldest = topicStatsMessage(c.topic(), st.Oldest, now)
		out.Newest = topicStatsMessage(c.topic(), st.Newest, now)
	}
	writeJSON(c.w, http.StatusOK, map[string]topicStatsCounts{"messages": out})
}

// purgeTopic: POST /v2/topics/{t}/purge, body as for queues (§1.2.7).
func (s *server) purgeTopic(c *call) {
	s.applyPurge(c, fsm.CmdTopicPurge, func(msgs, subs bool) any {
		return &fsm.TopicPurge{Project: c.project, Topic: c.topic(), Messages: msgs, Subscriptions: subs}
	})
}
