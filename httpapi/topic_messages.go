package httpapi

import (
	"encoding/json"
	"net/http"

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
	return newStatsMessage(topicMessageHref(topic, m.ID), m, now)
}

// topicRepr is reprTopicMessages for the addressed topic.
func topicRepr(c *call) func([]fsm.Message, int64) []messageRepr {
	return func(msgs []fsm.Message, now int64) []messageRepr { return reprTopicMessages(c.topic(), msgs, now) }
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
	msgs, ok := s.readMessagesPost(c, func(st *fsm.State) map[string]json.RawMessage {
		if t, ok := st.Topic(owner, c.topic()); ok {
			return t.Metadata
		}
		return nil
	}, func(limit, _ int64) *apiError {
		return badAPI("Message collection size is too large. The max size for current topic is %d.", limit)
	})
	if !ok {
		return
	}
	cmd := &fsm.TopicMessagesPost{Project: owner, Topic: c.topic(), SenderProject: c.project,
		SenderUser: c.user(), Messages: msgs}
	res, err := s.apply(c, fsm.CmdTopicMessagesPost, cmd)
	if err != nil {
		s.fail(c, err)
		return
	}
	writePosted(c, res.IDs, topicMessagesHref(c.topic()))
}

// getTopicMessages: GET /v2/topics/{t}/messages, a page or, with ids, a
// set (404 when none is found).
func (s *server) getTopicMessages(c *call) {
	p := params(c.r.URL.Query())
	if ids := p.list("ids"); ids != nil {
		s.writeMessagesByID(c, ids, "topic", c.topic(),
			func(st *fsm.State, now int64) []fsm.Message {
				return st.GetTopicMessages(c.project, c.topic(), ids, now)
			},
			topicRepr(c))
		return
	}
	mp, aerr := parseMessagePage(p)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	now := s.nowNano()
	var page []fsm.Message
	var next string
	if err := s.read(c, func(st *fsm.State) { page, next = st.ListTopicMessages(c.project, c.topic(), mp.marker, mp.limit, now) }); err != nil {
		s.fail(c, err)
		return
	}
	writeMessagePage(c, &mp, topicMessagesHref(c.topic()), reprTopicMessages(c.topic(), page, now), next)
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
	s.writeMessage(c, func(st *fsm.State, id string, now int64) []fsm.Message {
		return st.GetTopicMessages(c.project, c.topic(), []string{id}, now)
	}, topicRepr(c))
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
