package fsm

import (
	"encoding/json"
	"strconv"
	"strings"
)

// TopicInfo describes one topic. Metadata holds stored keys only (no
// reserved defaults; httpapi merges those in).
type TopicInfo struct {
	Name     string
	Metadata map[string]json.RawMessage
}

// Topic returns a topic's info.
func (s *State) Topic(project, name string) (TopicInfo, bool) {
	t := s.st.topic(project, name)
	if t == nil {
		return TopicInfo{}, false
	}
	return TopicInfo{Name: t.name, Metadata: copyMeta(t.meta)}, true
}

// ListTopics returns a page of the project's topics sorted by name,
// selected like ListQueues (Marker, Limit, Name substring, metadata
// Filters). Cost: O(log T + scanned).
func (s *State) ListTopics(project string, o QueueListOptions) []TopicInfo {
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	var page []TopicInfo
	s.st.topics.AscendGreaterOrEqual(&topic{project: project, name: o.Marker}, func(t *topic) bool {
		if t.project != project {
			return false
		}
		if t.name == o.Marker {
			return true
		}
		if o.Name != "" && !strings.Contains(t.name, o.Name) {
			return true
		}
		for k, want := range o.Filters {
			raw, ok := t.meta[k]
			if !ok || !metaMatches(raw, want) {
				return true
			}
		}
		page = append(page, TopicInfo{Name: t.name, Metadata: copyMeta(t.meta)})
		return len(page) < limit
	})
	return page
}

// entryMessage is the message view of a topic's outbox entry.
func entryMessage(e *OutboxEntry) Message {
	m := Message{ID: e.MessageID, Body: e.Body, TTL: e.TTL, Created: e.Created, Expires: e.Expires}
	if e.Delay != nil {
		m.AvailableAt = addSeconds(e.Created, *e.Delay)
	}
	return m
}

// topicSource returns the outbox of an existing topic, or nil.
func (s *State) topicSource(project, name string) *source {
	if s.st.topic(project, name) == nil {
		return nil
	}
	return s.st.sources[sourceKey{project, SourceTopic, name}]
}

// ListTopicMessages returns a page of a topic's unexpired messages in post
// order and the marker of the last one ("" when the page is empty).
// Markers are opaque (an outbox sequence number); a garbage marker gives
// an empty page. Cost: O(log n + page + expired skipped).
func (s *State) ListTopicMessages(project, name, marker string, limit int, now int64) (page []Message, next string) {
	src := s.topicSource(project, name)
	if src == nil {
		return nil, ""
	}
	var after uint64
	if marker != "" {
		v, err := strconv.ParseUint(marker, 10, 64)
		if err != nil {
			return nil, ""
		}
		after = v
	}
	if limit <= 0 {
		limit = DefaultPageSize
	}
	var last uint64
	src.outbox.AscendGreaterOrEqual(&OutboxEntry{Seq: after + 1}, func(e *OutboxEntry) bool {
		if e.Expires > now {
			page = append(page, entryMessage(e))
			last = e.Seq
		}
		return len(page) < limit
	})
	if len(page) == 0 {
		return nil, ""
	}
	return page, strconv.FormatUint(last, 10)
}

// GetTopicMessages returns the existing, unexpired messages of a topic
// among ids, in the order of ids; unknown and repeated ids are skipped.
func (s *State) GetTopicMessages(project, name string, ids []string, now int64) []Message {
	src := s.topicSource(project, name)
	if src == nil {
		return nil
	}
	var out []Message
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if e, ok := src.entryByID(id); ok && e.Expires > now {
			out = append(out, entryMessage(e))
		}
	}
	return out
}

// TopicStats returns the counts of a topic's messages still pending
// (unexpired, not yet acknowledged by every subscription): Total with the
// oldest and newest (Claimed and Free stay 0), and whether the topic
// exists. Cost: O(log n + expired-but-unswept).
func (s *State) TopicStats(project, name string, now int64) (st Stats, exists bool) {
	if s.st.topic(project, name) == nil {
		return Stats{}, false
	}
	src := s.st.sources[sourceKey{project, SourceTopic, name}]
	if src == nil {
		return Stats{}, true
	}
	expired := 0
	src.oexp.Ascend(func(k seqExpKey) bool {
		if k.at > now {
			return false
		}
		expired++
		return true
	})
	st.Total = src.outbox.Len() - expired
	if st.Total == 0 {
		return st, true
	}
	src.outbox.Ascend(func(e *OutboxEntry) bool {
		if e.Expires > now {
			m := entryMessage(e)
			st.Oldest = &m
			return false
		}
		return true
	})
	src.outbox.Descend(func(e *OutboxEntry) bool {
		if e.Expires > now {
			m := entryMessage(e)
			st.Newest = &m
			return false
		}
		return true
	})
	return st, true
}

// ListSubscriptionsBy is ListSubscriptions restricted to the subscriptions
// a project made on another project's topic (SubscriptionInfo.
// SubscriberProject == subscriberProject); "" selects the owner's own.
// Cost: O(log S + scanned).
func (s *State) ListSubscriptionsBy(project, kind, source, subscriberProject, marker string, limit int, now int64) []SubscriptionInfo {
	return s.listSubs(project, kind, source, marker, limit, now, func(sub *subscription) bool {
		return sub.SubscriberProject == subscriberProject
	})
}
