package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// Topic messages (§1.6): /v2/topics/{t}/messages[/{id}]. The shapes are
// the queue message shapes with hrefs under /v2/topics/{t}/messages/. A
// topic message is pending fan-out: it is listed until every subscription
// of the topic has acknowledged it or it expires. There are no claims: the
// echo, include_claimed and include_delayed list flags are validated and
// ignored, claim_id is ignored on delete, and pop is refused (400).

func topicMessagesHref(topic string) string { return topicHref(topic) + "/messages" }

func topicMessageHref(topic, id string) string { return topicMessagesHref(topic) + "/" + id }

func reprTopicMessages(topic string, msgs []fsm.Message, now int64) []messageRepr {
	out := make([]messageRepr, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, messageRepr{ID: m.ID, Href: topicMessageHref(topic, m.ID), TTL: m.TTL,
			Age: ageSeconds(m.Created, now), Body: bodyOrNull(m.Body)})
	}
	return out
}

func topicStatsMessage(topic string, m *fsm.Message, now int64) *statsMessage {
	if m == nil {
		return nil
	}
	return &statsMessage{Href: topicMessageHref(topic, m.ID), Age: ageSeconds(m.Created, now),
		Created: time.Unix(0, m.Created).UTC().Format("2006-01-02T15:04:05Z")}
}

// postTopicMessages: POST /v2/topics/{t}/messages[?topic_project=<owner>]
// (§1.3.1 shapes and limits). The owner project creates the topic lazily;
// another project (topic_project) needs an existing topic (404) whose
// sending ACL admits its project or user (403 "Not authorized" naming the
// lists). 201 with the resources and Location.
func (s *server) postTopicMessages(c *call) {
	owner, aerr := topicOwner(c)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	var md map[string]json.RawMessage
	err := s.backend.Read(c.ctx, true, func(st *fsm.State) {
		if t, ok := st.Topic(owner, c.topic()); ok {
			md = t.Metadata
		}
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	limit := int64(fsm.MaxMessagesPostSize)
	tooLarge := badAPI("Message collection size is too large. Max size %d", fsm.MaxMessagesPostSize)
	if q, ok := intValue(md[fsm.KeyMaxMessagesPostSize]); ok && q > 0 && truthy(md[fsm.KeyMaxMessagesPostSize]) {
		limit = min(q, limit)
		tooLarge = badAPI("Message collection size is too large. The max size for current topic is %d.", limit)
	}
	b, aerr := readBody(c, limit, tooLarge)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	msgs, aerr := decodeMessagesPost(b, truthy(md[fsm.KeyDefaultMessageDelay]))
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	cmd := &fsm.TopicMessagesPost{Project: owner, Topic: c.topic(), SenderProject: c.project,
		SenderUser: c.user(), Messages: msgs}
	res, err := s.apply(c, fsm.CmdTopicMessagesPost, cmd)
	if err != nil {
		s.fail(c, err)
		return
	}
	hrefs := make([]string, len(res.IDs))
	for i, id := range res.IDs {
		hrefs[i] = topicMessageHref(c.topic(), id)
	}
	c.w.Header().Set("Location", topicMessagesHref(c.topic())+"?ids="+strings.Join(res.IDs, ","))
	writeJSON(c.w, http.StatusCreated, map[string][]string{"resources": hrefs})
}

// getTopicMessages: GET /v2/topics/{t}/messages, a page or, with ids, a
// set (404 when none is found).
func (s *server) getTopicMessages(c *call) {
	p := params(c.r.URL.Query())
	now := s.nowNano()
	if ids := p.list("ids"); ids != nil {
		if len(ids) > fsm.MaxMessagesPerPage {
			s.fail(c, limitError(fsm.MaxMessagesPerPage))
			return
		}
		var msgs []fsm.Message
		if err := s.read(c, func(st *fsm.State) { msgs = st.GetTopicMessages(c.project, c.topic(), ids, now) }); err != nil {
			s.fail(c, err)
			return
		}
		if len(msgs) == 0 {
			s.fail(c, notFound("No messages with IDs %s found in topic %s.", strings.Join(ids, ","), c.topic()))
			return
		}
		writeJSON(c.w, http.StatusOK, map[string][]messageRepr{"messages": reprTopicMessages(c.topic(), msgs, now)})
		return
	}
	marker, _ := p.str("marker")
	limit, hasLimit, aerr := p.int("limit")
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	var flags [3]bool
	var given [3]bool
	names := [3]string{"echo", "include_claimed", "include_delayed"}
	for i, n := range names {
		if flags[i], given[i], aerr = p.bool(n); aerr != nil {
			s.fail(c, aerr)
			return
		}
	}
	if !hasLimit {
		limit = fsm.DefaultPageSize
	} else if limit < 1 || limit > fsm.MaxMessagesPerPage {
		s.fail(c, limitError(fsm.MaxMessagesPerPage))
		return
	}
	var page []fsm.Message
	var next string
	if err := s.read(c, func(st *fsm.State) { page, next = st.ListTopicMessages(c.project, c.topic(), marker, limit, now) }); err != nil {
		s.fail(c, err)
		return
	}
	body := struct {
		Messages []messageRepr `json:"messages"`
		Links    []link        `json:"links"`
	}{Messages: reprTopicMessages(c.topic(), page, now), Links: []link{}}
	if len(page) > 0 {
		var kv [][2]string
		if hasLimit {
			kv = append(kv, [2]string{"limit", itoa(limit)})
		}
		for i, n := range names {
			if given[i] {
				kv = append(kv, [2]string{n, boolString(flags[i])})
			}
		}
		kv = append(kv, [2]string{"marker", next})
		body.Links = []link{{Rel: "next", Href: topicMessagesHref(c.topic()) + queryString(kv)}}
	}
	writeJSON(c.w, http.StatusOK, body)
}

// deleteTopicMessages: DELETE /v2/topics/{t}/messages?ids=a,b (1..20
// ids), 204. Deleted messages are not delivered to subscriptions that have
// not received them yet. pop is refused: topic messages are not consumed.
func (s *server) deleteTopicMessages(c *call) {
	p := params(c.r.URL.Query())
	ids := p.list("ids")
	if _, hasPop := p.str("pop"); hasPop {
		s.fail(c, badAPI("Topic messages cannot be popped; delete them by ids."))
		return
	}
	switch {
	case ids == nil:
		s.fail(c, badAPI("The request should have the \"ids\" parameter, to be able to delete."))
		return
	case len(ids) > fsm.MaxMessagesPerPage:
		s.fail(c, badAPI("ids parameter should have at least 1 and not greater than %d values.", fsm.MaxMessagesPerPage))
		return
	}
	if _, err := s.apply(c, fsm.CmdTopicMessagesDelete, &fsm.TopicMessagesDelete{Project: c.project, Topic: c.topic(), IDs: ids}); err != nil {
		s.fail(c, err)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}

// getTopicMessage: GET /v2/topics/{t}/messages/{id}, 404 when missing.
func (s *server) getTopicMessage(c *call) {
	id, now := c.vars["message_id"], s.nowNano()
	var msgs []fsm.Message
	if err := s.read(c, func(st *fsm.State) { msgs = st.GetTopicMessages(c.project, c.topic(), []string{id}, now) }); err != nil {
		s.fail(c, err)
		return
	}
	if len(msgs) == 0 {
		s.fail(c, notFound("Message %s does not exist.", id))
		return
	}
	writeJSON(c.w, http.StatusOK, reprTopicMessages(c.topic(), msgs[:1], now)[0])
}

// deleteTopicMessage: DELETE /v2/topics/{t}/messages/{id}, 204 always.
func (s *server) deleteTopicMessage(c *call) {
	id := c.vars["message_id"]
	if fsm.ValidID(id) {
		cmd := &fsm.TopicMessagesDelete{Project: c.project, Topic: c.topic(), IDs: []string{id}}
		if _, err := s.apply(c, fsm.CmdTopicMessagesDelete, cmd); err != nil {
			s.fail(c, err)
			return
		}
	}
	writeEmpty(c.w, http.StatusNoContent)
}
