package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// reservedDefaults are the reserved metadata keys shown in GET/PATCH
// answers with their defaults (§1.2), substituted whenever the stored value
// is missing or falsy.
var reservedDefaults = []struct {
	key string
	val json.RawMessage
}{
	{fsm.KeyMaxMessagesPostSize, json.RawMessage("262144")},
	{fsm.KeyDefaultMessageTTL, json.RawMessage("3600")},
	{fsm.KeyDefaultMessageDelay, json.RawMessage("0")},
	{fsm.KeyDeadLetterQueue, json.RawMessage("null")},
	{fsm.KeyDeadLetterQueueTTL, json.RawMessage("null")},
	{fsm.KeyMaxClaimCount, json.RawMessage("null")},
	{fsm.KeyEnableEncryptMessage, json.RawMessage("false")},
}

// withDefaults returns a copy of stored metadata with the reserved defaults
// merged in.
func withDefaults(md map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(md)+len(reservedDefaults))
	for k, v := range md {
		out[k] = v
	}
	for _, d := range reservedDefaults {
		if !truthy(out[d.key]) {
			out[d.key] = d.val
		}
	}
	return out
}

func queueHref(name string) string { return "/v2/queues/" + name }

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
	p := params(c.r.URL.Query())
	marker, hasMarker := p.str("marker")
	limit, hasLimit, err := p.int("limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	detailed, hasDetailed, err := p.bool("detailed")
	if err != nil {
		s.fail(c, err)
		return
	}
	name, hasName := p.str("name")
	withCount, hasWithCount, err := p.bool("with_count")
	if err != nil {
		s.fail(c, err)
		return
	}
	if !hasLimit {
		limit = fsm.DefaultPageSize
	} else if limit < 1 || limit > fsm.MaxQueuesPerPage {
		s.fail(c, limitError(fsm.MaxQueuesPerPage))
		return
	}
	filters := map[string]string{}
	for k := range p {
		switch k {
		case "marker", "limit", "detailed", "name", "with_count":
			continue
		}
		if v, ok := p.str(k); ok {
			filters[k] = v
		}
	}
	opts := fsm.QueueListOptions{Marker: marker, Limit: limit, Name: name, Filters: filters}
	var page []fsm.QueueInfo
	var total int
	if e := s.read(c, func(st *fsm.State) { page, total = st.ListQueues(c.project, opts) }); e != nil {
		s.fail(c, e)
		return
	}
	body := queueList{Queues: make([]queueItem, 0, len(page)), Links: []link{}}
	for _, q := range page {
		item := queueItem{Name: q.Name, Href: queueHref(q.Name)}
		if detailed {
			item.Metadata = withDefaults(q.Metadata)
		}
		body.Queues = append(body.Queues, item)
	}
	if len(page) > 0 {
		var kv [][2]string
		if hasMarker {
			kv = append(kv, [2]string{"marker", ""})
		}
		if hasLimit {
			kv = append(kv, [2]string{"limit", itoa(limit)})
		}
		if hasDetailed {
			kv = append(kv, [2]string{"detailed", boolString(detailed)})
		}
		if hasName {
			kv = append(kv, [2]string{"name", name})
		}
		if hasWithCount {
			kv = append(kv, [2]string{"with_count", boolString(withCount)})
		}
		last := page[len(page)-1].Name
		if hasMarker {
			kv[0][1] = last
		} else {
			kv = append(kv, [2]string{"marker", last})
		}
		body.Links = []link{{Rel: "next", Href: "/v2/queues" + queryString(kv)}}
	}
	if withCount && total > 0 {
		body.Count = total
	}
	writeJSON(c.w, http.StatusOK, body)
}

func queueMetadataTooLarge(title string) *apiError {
	return newError(http.StatusBadRequest, title, "Queue metadata is too large. Max size: 65536")
}

// createQueue: PUT /v2/queues/{q} (§1.2.2).
func (s *server) createQueue(c *call) {
	b, aerr := readBody(c, fsm.MaxQueueMetadata, queueMetadataTooLarge(titleInvalidAPI))
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	md, aerr := decodeQueueMetadata(b)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	if md != nil {
		if err := fsm.ValidateQueueMetadata(md); err != nil {
			s.fail(c, err)
			return
		}
	}
	res, err := s.apply(c, fsm.CmdQueueCreate, &fsm.QueueCreate{Project: c.project, Queue: c.queue(), Metadata: md})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.w.Header().Set("Location", queueHref(c.queue()))
	if res.Created {
		writeEmpty(c.w, http.StatusCreated)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
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
	if c.r.ContentLength > fsm.MaxQueueMetadata {
		s.fail(c, queueMetadataTooLarge(titleInvalidBody))
		return
	}
	if c.r.Header.Get("Content-Type") != patchMediaType {
		s.fail(c, newError(http.StatusUnsupportedMediaType, titleMediaType,
			"Accepted media type for PATCH: {'Accept-Patch': '"+patchMediaType+"'}."))
		return
	}
	b, aerr := readBody(c, fsm.MaxQueueMetadata, queueMetadataTooLarge(titleInvalidBody))
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	ops, aerr := parseJSONPatch(b)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	res, err := s.apply(c, fsm.CmdQueuePatch, &fsm.QueuePatch{Project: c.project, Queue: c.queue(), Ops: ops})
	if err != nil {
		e := toAPIError(err)
		if e.status == http.StatusBadRequest {
			e = newError(http.StatusBadRequest, titleInvalidBody, e.desc)
		}
		s.fail(c, e)
		return
	}
	writeJSON(c.w, http.StatusOK, withDefaults(res.Metadata))
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
	return &statsMessage{
		Href:    messageHref(queue, m.ID, ""),
		Age:     ageSeconds(m.Created, now),
		Created: time.Unix(0, m.Created).UTC().Format("2006-01-02T15:04:05Z"),
	}
}

// purgeQueue: POST /v2/queues/{q}/purge (§1.2.7).
func (s *server) purgeQueue(c *call) {
	b, aerr := readBody(c, maxSmallBody, badAPI("Request body is too large. Max size: %d", maxSmallBody))
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	msgs, subs, aerr := decodePurgeBody(b)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	cmd := &fsm.QueuePurge{Project: c.project, Queue: c.queue(), Messages: msgs, Subscriptions: subs}
	if _, err := s.apply(c, fsm.CmdQueuePurge, cmd); err != nil {
		s.fail(c, err)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}
