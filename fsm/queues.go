package fsm

import (
	"encoding/json"
	"strings"
)

// State is the read-only view passed to FSM.Read. All methods take the
// reader's time now (unix ns) to filter expired messages and claims.
// Returned values are copies the caller may keep (message bodies are shared
// and must not be modified).
type State struct {
	st *state
}

// checkNames guards the names of a command that may create a queue.
func checkNames(projectID, name string) *Error {
	if len(projectID) > MaxProjectLength {
		return Errorf(CodeBadRequest, "Project ids may not be more than %d characters long.", MaxProjectLength)
	}
	if !ValidQueueName(name) {
		return Errorf(CodeBadRequest, "Queue names may not be more than %d characters long and may only contain ASCII letters, digits, underscores and dashes.", MaxNameLength)
	}
	return nil
}

// queueCreate: new -> Created; existing -> ok with metadata ignored.
// Metadata is validated first either way, as Zaqar's handler does.
func (s *state) queueCreate(_ *applyCtx, p *QueueCreate) Result {
	return s.createMeta(p.Project, p.Queue, p.Metadata, ValidateQueueMetadata, s.queue(p.Project, p.Queue) != nil,
		func(meta map[string]json.RawMessage) { s.createQueue(p.Project, p.Queue, meta) })
}

// queueDelete removes a queue, its messages and claims; missing is fine.
// Its subscriptions and their outbox stay (§4.8).
func (s *state) queueDelete(_ *applyCtx, p *QueueDelete) Result {
	if q := s.queue(p.Project, p.Queue); q != nil {
		s.deleteQueue(q)
	}
	return Result{}
}

// queuePatch applies JSON-patch operations all or nothing (§1.2.4).
func (s *state) queuePatch(_ *applyCtx, p *QueuePatch) Result {
	q := s.queue(p.Project, p.Queue)
	if q == nil {
		return errResult(Errorf(CodeNotFound, "Queue %s does not exist.", p.Queue))
	}
	md, err := patchMeta(q.meta, p.Ops, IsReservedDefaultKey, ValidateQueueMetadata)
	if err != nil {
		return errResult(err)
	}
	q.meta = md
	q.cfg = cfgFromMeta(md)
	return metaResult(md)
}

// queuePurge deletes all messages (claimed ones too) and claims and/or the
// subscriptions of a queue (with their outbox); a missing queue is fine.
// Purging messages leaves the outbox alone: notifications already owed are
// still delivered.
func (s *state) queuePurge(_ *applyCtx, p *QueuePurge) Result {
	if q := s.queue(p.Project, p.Queue); q != nil && p.Messages {
		s.clearMessages(q)
	}
	if p.Subscriptions { // they outlive their queue (§4.8), so also when it is missing
		s.purgeSubscriptions(p.Project, SourceQueue, p.Queue)
	}
	return Result{}
}

// Queue returns a queue's info.
func (s *State) Queue(project, name string) (QueueInfo, bool) {
	q := s.st.queue(project, name)
	if q == nil {
		return QueueInfo{}, false
	}
	return QueueInfo{Name: q.name, Metadata: copyMeta(q.meta)}, true
}

// ListQueues returns a page of the project's queues sorted by name, and the
// total number of queues in the project (ignoring filters). Limit 0 means
// DefaultPageSize. Cost: O(log Q + scanned).
func (s *State) ListQueues(project string, o QueueListOptions) (page []QueueInfo, total int) {
	p := s.st.projects[project]
	if p == nil {
		return nil, 0
	}
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	p.order.AscendGreaterOrEqual(&queue{name: o.Marker}, func(q *queue) bool {
		if q.name == o.Marker {
			return true
		}
		if o.Name != "" && !strings.Contains(q.name, o.Name) {
			return true
		}
		for k, want := range o.Filters {
			raw, ok := q.meta[k]
			if !ok || !metaMatches(raw, want) {
				return true
			}
		}
		page = append(page, QueueInfo{Name: q.name, Metadata: copyMeta(q.meta)})
		return len(page) < limit
	})
	return page, len(p.queues)
}
