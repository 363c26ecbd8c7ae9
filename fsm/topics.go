package fsm

import (
	"encoding/json"

	"github.com/google/btree"
)

// Topics (ZAQAR-API.md §1.6, §6). A topic is a named fan-out point in a
// project's own namespace (a queue and a topic of the same name are
// unrelated). Its messages are not a message set but the outbox of the
// source (project, SourceTopic, name): every message posted becomes one
// OutboxEntry, stored whether or not anyone subscribes, so listing shows it
// until it expires (Sweep) or every subscription of the topic has
// acknowledged past it (gcOutbox). Topic messages cannot be claimed or
// popped. The topic's source lives exactly as long as the topic, or longer
// while subscriptions remain (they outlive a deleted topic like a queue's
// do, §4.8). Access control: topic_acl.go.

// topic is one stored topic. meta is replaced, never mutated in place.
type topic struct {
	project string
	name    string
	meta    map[string]json.RawMessage
	cfg     queueCfg // derived from meta (default ttl and delay)
}

func topicLess(a, b *topic) bool {
	if a.project != b.project {
		return a.project < b.project
	}
	return a.name < b.name
}

// topic returns a stored topic or nil. O(log T).
func (s *state) topic(projectID, name string) *topic {
	t, _ := s.topics.Get(&topic{project: projectID, name: name})
	return t
}

// keepsSource reports whether src must survive without subscriptions: it
// is the source of an existing topic.
func (s *state) keepsSource(src *source) bool {
	return src.key.kind == SourceTopic && s.topic(src.key.project, src.key.name) != nil
}

// createTopic stores a new topic (the caller checked it does not exist)
// and makes sure its source exists.
func (s *state) createTopic(projectID, name string, meta map[string]json.RawMessage) *topic {
	t := &topic{project: projectID, name: name, meta: meta, cfg: cfgFromMeta(meta)}
	s.topics.ReplaceOrInsert(t)
	s.ensureSource(sourceKey{projectID, SourceTopic, name})
	return t
}

// clearOutbox drops every entry of src in O(1), keeping its tail and the
// cursors of its subscriptions.
func (s *state) clearOutbox(src *source) {
	s.outboxBytes -= src.bytes
	src.bytes = 0
	src.outbox = btree.NewG(btreeDegree, entryLess)
	src.oexp = btree.NewG(btreeDegree, seqExpLess)
	s.syncSrcDue(src)
}

// topicCreate: new -> Created; existing -> ok with metadata ignored.
func (s *state) topicCreate(_ *applyCtx, p *TopicCreate) Result {
	return s.createMeta(p.Project, p.Topic, p.Metadata, ValidateTopicMetadata, s.topic(p.Project, p.Topic) != nil,
		func(meta map[string]json.RawMessage) { s.createTopic(p.Project, p.Topic, meta) })
}

// topicDelete removes a topic and its messages; subscriptions stay (and
// with them the source, emptied), like a queue's.
func (s *state) topicDelete(_ *applyCtx, p *TopicDelete) Result {
	t := s.topic(p.Project, p.Topic)
	if t == nil {
		return Result{}
	}
	s.topics.Delete(t)
	if src := s.sources[sourceKey{p.Project, SourceTopic, p.Topic}]; src != nil {
		s.clearOutbox(src)
		if src.subs.Len() == 0 {
			s.removeSource(src)
		}
	}
	return Result{}
}

// topicLenient are the keys a topic PATCH may replace or remove although
// they are not stored: the three reserved defaults of topics (§1.6), the
// ACL keys and _retry_policy.
var topicLenient = map[string]bool{
	KeyMaxMessagesPostSize: true, KeyDefaultMessageTTL: true, KeyDefaultMessageDelay: true,
	KeyRetryPolicy:         true,
	KeyAllowedSendingUsers: true, KeyAllowedSendingProjects: true, KeyAllowedSubscribeUsers: true,
	KeyAllowedSubscribeProjects: true, KeyAllowedSubscribeProtocols: true,
}

// IsTopicLenientKey reports whether a topic PATCH may replace or remove key
// although it is not stored (see TopicPatch).
func IsTopicLenientKey(key string) bool { return topicLenient[key] }

// topicPatch applies JSON-patch operations all or nothing (§1.2.4 rules,
// topic reserved keys).
func (s *state) topicPatch(_ *applyCtx, p *TopicPatch) Result {
	t := s.topic(p.Project, p.Topic)
	if t == nil {
		return errResult(Errorf(CodeNotFound, "Topic %s does not exist.", p.Topic))
	}
	md, err := patchMeta(t.meta, p.Ops, IsTopicLenientKey, ValidateTopicMetadata)
	if err != nil {
		return errResult(err)
	}
	// Topics are keyed by name only: replacing the value in the tree in
	// place is safe, and a snapshot capture keeps the old map.
	nt := &topic{project: t.project, name: t.name, meta: md, cfg: cfgFromMeta(md)}
	s.topics.ReplaceOrInsert(nt)
	return metaResult(md)
}

// topicPurge deletes a topic's messages and/or subscriptions.
func (s *state) topicPurge(_ *applyCtx, p *TopicPurge) Result {
	if p.Messages {
		if src := s.sources[sourceKey{p.Project, SourceTopic, p.Topic}]; src != nil {
			s.clearOutbox(src)
		}
	}
	if p.Subscriptions {
		s.purgeSubscriptions(p.Project, SourceTopic, p.Topic)
	}
	return Result{}
}

// topicMessagesPost publishes messages (see TopicMessagesPost).
func (s *state) topicMessagesPost(c *applyCtx, p *TopicMessagesPost) Result {
	if err := checkNames(p.Project, p.Topic); err != nil {
		return errResult(err)
	}
	foreign := p.SenderProject != "" && p.SenderProject != p.Project
	t := s.topic(p.Project, p.Topic)
	var cfg queueCfg
	switch {
	case t != nil:
		if err := CheckTopicSend(t.meta, p.Project, p.Topic, p.SenderProject, p.SenderUser); err != nil {
			return errResult(err)
		}
		cfg = t.cfg
	case foreign:
		return errResult(errNoTopic(p.Project, p.Topic))
	}
	if len(p.Messages) == 0 {
		return errResult(Errorf(CodeBadRequest, "No messages to enqueue."))
	}
	res, size, err := resolveMessages(cfg, p.Messages, nil)
	if err != nil {
		return errResult(err)
	}
	if err := s.checkBudget(size); err != nil {
		return errResult(err)
	}
	if t == nil {
		t = s.createTopic(p.Project, p.Topic, nil)
	}
	src := s.ensureSource(sourceKey{p.Project, SourceTopic, p.Topic})
	ids := make([]string, len(p.Messages))
	for i, nm := range p.Messages {
		e := &OutboxEntry{
			MessageID: c.mint(),
			Body:      nm.Body,
			TTL:       res[i].ttl,
			Created:   c.now,
			Expires:   addSeconds(c.now, res[i].ttl),
		}
		if cfg.delay > 0 {
			d := res[i].delay
			e.Delay = &d
		}
		src.tail++
		e.Seq = src.tail
		s.addEntry(src, e)
		ids[i] = e.MessageID
	}
	return Result{IDs: ids}
}

// topicMessagesDelete deletes listed topic messages; unknown ids are fine.
func (s *state) topicMessagesDelete(_ *applyCtx, p *TopicMessagesDelete) Result {
	src := s.sources[sourceKey{p.Project, SourceTopic, p.Topic}]
	if src == nil {
		return Result{}
	}
	for _, id := range p.IDs {
		if e, ok := src.entryByID(id); ok {
			s.dropEntry(src, e)
		}
	}
	s.syncSrcDue(src)
	return Result{}
}

// topicSubscribeGate runs before a topic subscription is created: the
// owner project creates a missing topic lazily (§1.6, Zaqar's order: even
// if the create then fails); another project needs an existing topic; then
// the topic's subscribe ACL is checked (when a subscriber is given).
func (s *state) topicSubscribeGate(p *SubscriptionCreate) error {
	t := s.topic(p.Project, p.Source)
	if t == nil {
		if p.SubscriberProject != "" && p.SubscriberProject != p.Project {
			return errNoTopic(p.Project, p.Source)
		}
		t = s.createTopic(p.Project, p.Source, nil)
	}
	if p.Subscriber == "" {
		return nil
	}
	if err := CheckTopicSubscribe(t.meta, p.Project, p.Source, p.SubscriberProject, p.SubscriberUser, p.Subscriber); err != nil {
		return err
	}
	return nil
}

// topicProtocolGate checks a topic subscription's new subscriber against
// the topic's _allowed_subscribe_protocols (a deleted topic restricts
// nothing).
func (s *state) topicProtocolGate(sub *subscription, subscriber string) error {
	t := s.topic(sub.Project, sub.Source)
	if t == nil {
		return nil
	}
	if err := checkTopicProtocol(t.meta, sub.Source, subscriber); err != nil {
		return err
	}
	return nil
}
