package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/herald-mq/herald/fsm"
)

// reservedDefault is a reserved metadata key shown in GET/PATCH answers
// with its default, substituted whenever the stored value is missing or
// falsy.
type reservedDefault struct {
	key string
	val json.RawMessage
}

// reservedDefaults are the queue's reserved keys and defaults (§1.2).
var reservedDefaults = []reservedDefault{
	{fsm.KeyMaxMessagesPostSize, json.RawMessage("262144")},
	{fsm.KeyDefaultMessageTTL, json.RawMessage("3600")},
	{fsm.KeyDefaultMessageDelay, json.RawMessage("0")},
	{fsm.KeyDeadLetterQueue, json.RawMessage("null")},
	{fsm.KeyDeadLetterQueueTTL, json.RawMessage("null")},
	{fsm.KeyMaxClaimCount, json.RawMessage("null")},
	{fsm.KeyEnableEncryptMessage, json.RawMessage("false")},
}

// withDefaults returns a copy of stored queue metadata with the reserved
// defaults merged in.
func withDefaults(md map[string]json.RawMessage) map[string]json.RawMessage {
	return queueKind.withDefaults(md)
}

func queueHref(name string) string { return queueKind.href(name) }

// queueItem is one entry of GET /v2/queues.
type queueItem struct {
	Name     string                     `json:"name"`
	Href     string                     `json:"href"`
	Metadata map[string]json.RawMessage `json:"metadata,omitempty"`
}

type link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// queueList is the body of GET /v2/queues.
type queueList struct {
	Queues []queueItem `json:"queues"`
	Links  []link      `json:"links"`
	Count  int         `json:"count,omitempty"`
}

// listQueues: GET /v2/queues (§1.2.1).
func (s *server) listQueues(c *call) {
	lp, aerr := parseListParams(c, true)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	var page []fsm.QueueInfo
	var total int
	if e := s.read(c, func(st *fsm.State) { page, total = st.ListQueues(c.project, lp.options()) }); e != nil {
		s.fail(c, e)
		return
	}
	body := queueList{Queues: make([]queueItem, 0, len(page)), Links: []link{}}
	for _, q := range page {
		body.Queues = append(body.Queues, queueKind.item(q.Name, q.Metadata, lp.detailed))
	}
	if len(page) > 0 {
		body.Links = queueKind.nextLinks(&lp, page[len(page)-1].Name)
	}
	if lp.withCount && total > 0 {
		body.Count = total
	}
	writeJSON(c.w, http.StatusOK, body)
}

// createQueue: PUT /v2/queues/{q} (§1.2.2).
func (s *server) createQueue(c *call) {
	s.createMeta(c, queueKind, c.queue(), fsm.CmdQueueCreate, func(md map[string]json.RawMessage) any {
		return &fsm.QueueCreate{Project: c.project, Queue: c.queue(), Metadata: md}
	})
}

// getQueue: GET /v2/queues/{q} (§1.2.3). A missing queue answers 200 with
// the defaults (lazy queues).
func (s *server) getQueue(c *call) {
	var md map[string]json.RawMessage
	err := s.read(c, func(st *fsm.State) {
		if q, ok := st.Queue(c.project, c.queue()); ok {
			md = q.Metadata
		}
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c.w, http.StatusOK, withDefaults(md))
}

// patchQueue: PATCH /v2/queues/{q} (§1.2.4).
func (s *server) patchQueue(c *call) {
	s.patchMeta(c, queueKind, fsm.CmdQueuePatch, func(ops []fsm.PatchOp) any {
		return &fsm.QueuePatch{Project: c.project, Queue: c.queue(), Ops: ops}
	})
}

// deleteQueue: DELETE /v2/queues/{q} (§1.2.5), 204 even when missing.
func (s *server) deleteQueue(c *call) {
	if _, err := s.apply(c, fsm.CmdQueueDelete, &fsm.QueueDelete{Project: c.project, Queue: c.queue()}); err != nil {
		s.fail(c, err)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}

// statsMessage is the oldest/newest entry of queue stats.
type statsMessage struct {
	Href    string `json:"href"`
	Age     int64  `json:"age"`
	Created string `json:"created"`
}

type statsCounts struct {
	Claimed int           `json:"claimed"`
	Free    int           `json:"free"`
	Total   int           `json:"total"`
	Oldest  *statsMessage `json:"oldest,omitempty"`
	Newest  *statsMessage `json:"newest,omitempty"`
}

// queueStats: GET /v2/queues/{q}/stats (§1.2.6).
func (s *server) queueStats(c *call) {
	now := s.nowNano()
	var st fsm.Stats
	if err := s.read(c, func(v *fsm.State) { st = v.Stats(c.project, c.queue(), now) }); err != nil {
		s.fail(c, err)
		return
	}
	out := statsCounts{Claimed: st.Claimed, Free: st.Free, Total: st.Total}
	if st.Total > 0 {
		out.Oldest = s.statsMessage(c.queue(), st.Oldest, now)
		out.Newest = s.statsMessage(c.queue(), st.Newest, now)
	}
	writeJSON(c.w, http.StatusOK, map[string]statsCounts{"messages": out})
}

func (s *server) statsMessage(queue string, m *fsm.Message, now int64) *statsMessage {
	if m == nil {
		return nil
	}
	return newStatsMessage(messageHref(queue, m.ID, ""), m, now)
}

// purgeQueue: POST /v2/queues/{q}/purge (§1.2.7).
func (s *server) purgeQueue(c *call) {
	s.applyPurge(c, fsm.CmdQueuePurge, func(msgs, subs bool) any {
		return &fsm.QueuePurge{Project: c.project, Queue: c.queue(), Messages: msgs, Subscriptions: subs}
	})
}
