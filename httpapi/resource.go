package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// Queues and topics share their collection and metadata handlers; a
// resourceKind holds what differs between the two.
type resourceKind struct {
	noun     string            // "Queue" or "Topic", in error texts
	prefix   string            // collection path, "/v2/queues" or "/v2/topics"
	defaults []reservedDefault // reserved keys shown with their defaults
	aliases  map[string]string // PATCH key -> stored key (nil: none)
	validate func(map[string]json.RawMessage) error
}

var (
	queueKind = &resourceKind{noun: "Queue", prefix: "/v2/queues",
		defaults: reservedDefaults, validate: fsm.ValidateQueueMetadata}
	topicKind = &resourceKind{noun: "Topic", prefix: "/v2/topics",
		defaults: topicReservedDefaults, aliases: topicAliases, validate: fsm.ValidateTopicMetadata}
)

// href is the path of the named queue or topic.
func (k *resourceKind) href(name string) string { return k.prefix + "/" + name }

// withDefaults returns a copy of stored metadata with k's reserved defaults
// merged in.
func (k *resourceKind) withDefaults(md map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(md)+len(k.defaults))
	for k, v := range md {
		out[k] = v
	}
	for _, d := range k.defaults {
		if !truthy(out[d.key]) {
			out[d.key] = d.val
		}
	}
	return out
}

func (k *resourceKind) metadataTooLarge(title string) *apiError {
	return newError(http.StatusBadRequest, title, k.noun+" metadata is too large. Max size: 65536")
}

// item is one entry of a list answer.
func (k *resourceKind) item(name string, md map[string]json.RawMessage, detailed bool) queueItem {
	item := queueItem{Name: name, Href: k.href(name)}
	if detailed {
		item.Metadata = k.withDefaults(md)
	}
	return item
}

// listParams are the query parameters of a list request.
type listParams struct {
	marker                  string
	hasMarker               bool
	limit                   int
	hasLimit                bool
	detailed, hasDetailed   bool
	name                    string
	hasName                 bool
	withCount, hasWithCount bool
	filters                 map[string]string
}

// parseListParams reads the list query parameters; with_count is read only
// when withCount is set.
func parseListParams(c *call, withCount bool) (listParams, *apiError) {
	var lp listParams
	var err *apiError
	p := params(c.r.URL.Query())
	lp.marker, lp.hasMarker = p.str("marker")
	if lp.limit, lp.hasLimit, err = p.int("limit"); err != nil {
		return lp, err
	}
	if lp.detailed, lp.hasDetailed, err = p.bool("detailed"); err != nil {
		return lp, err
	}
	lp.name, lp.hasName = p.str("name")
	if withCount {
		if lp.withCount, lp.hasWithCount, err = p.bool("with_count"); err != nil {
			return lp, err
		}
	}
	if !lp.hasLimit {
		lp.limit = fsm.DefaultPageSize
	} else if lp.limit < 1 || lp.limit > fsm.MaxQueuesPerPage {
		return lp, limitError(fsm.MaxQueuesPerPage)
	}
	lp.filters = map[string]string{}
	for k := range p {
		switch k {
		case "marker", "limit", "detailed", "name", "with_count":
			continue
		}
		if v, ok := p.str(k); ok {
			lp.filters[k] = v
		}
	}
	return lp, nil
}

func (lp *listParams) options() fsm.QueueListOptions {
	return fsm.QueueListOptions{Marker: lp.marker, Limit: lp.limit, Name: lp.name, Filters: lp.filters}
}

// nextLinks is the links member of a non-empty page ending at last: the
// request's parameters with the marker replaced (in place when it was sent)
// or appended.
func (k *resourceKind) nextLinks(lp *listParams, last string) []link {
	var kv [][2]string
	if lp.hasMarker {
		kv = append(kv, [2]string{"marker", ""})
	}
	if lp.hasLimit {
		kv = append(kv, [2]string{"limit", itoa(lp.limit)})
	}
	if lp.hasDetailed {
		kv = append(kv, [2]string{"detailed", boolString(lp.detailed)})
	}
	if lp.hasName {
		kv = append(kv, [2]string{"name", lp.name})
	}
	if lp.hasWithCount {
		kv = append(kv, [2]string{"with_count", boolString(lp.withCount)})
	}
	if lp.hasMarker {
		kv[0][1] = last
	} else {
		kv = append(kv, [2]string{"marker", last})
	}
	return []link{{Rel: "next", Href: k.prefix + queryString(kv)}}
}

// createMeta: PUT of a queue or topic: 201 new, 204 existing. cmd builds
// the command from the validated metadata.
func (s *server) createMeta(c *call, k *resourceKind, name string, t fsm.CmdType, cmd func(map[string]json.RawMessage) any) {
	b, aerr := readBody(c, fsm.MaxQueueMetadata, k.metadataTooLarge(titleInvalidAPI))
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
		if err := k.validate(md); err != nil {
			s.fail(c, err)
			return
		}
	}
	res, err := s.apply(c, t, cmd(md))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.w.Header().Set("Location", k.href(name))
	if res.Created {
		writeEmpty(c.w, http.StatusCreated)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}

// patchMeta: JSON-patch PATCH of a queue's or topic's metadata (§1.2.4).
// cmd builds the command from the parsed operations.
func (s *server) patchMeta(c *call, k *resourceKind, t fsm.CmdType, cmd func([]fsm.PatchOp) any) {
	if c.r.ContentLength > fsm.MaxQueueMetadata {
		s.fail(c, k.metadataTooLarge(titleInvalidBody))
		return
	}
	if c.r.Header.Get("Content-Type") != patchMediaType {
		s.fail(c, newError(http.StatusUnsupportedMediaType, titleMediaType,
			"Accepted media type for PATCH: {'Accept-Patch': '"+patchMediaType+"'}."))
		return
	}
	b, aerr := readBody(c, fsm.MaxQueueMetadata, k.metadataTooLarge(titleInvalidBody))
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	ops, aerr := parseJSONPatch(b)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	for i := range ops {
		if key, ok := k.aliases[ops[i].Key]; ok {
			ops[i].Key = key
		}
	}
	res, err := s.apply(c, t, cmd(ops))
	if err != nil {
		e := toAPIError(err)
		if e.status == http.StatusBadRequest {
			e = newError(http.StatusBadRequest, titleInvalidBody, e.desc)
		}
		s.fail(c, e)
		return
	}
	writeJSON(c.w, http.StatusOK, k.withDefaults(res.Metadata))
}

// applyPurge: POST .../purge of a queue or topic; cmd builds the command
// from the decoded body.
func (s *server) applyPurge(c *call, t fsm.CmdType, cmd func(msgs, subs bool) any) {
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
	if _, err := s.apply(c, t, cmd(msgs, subs)); err != nil {
		s.fail(c, err)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}

// messagePage are the query parameters of a message list request.
type messagePage struct {
	marker   string
	limit    int
	hasLimit bool
	flags    [3]bool // echo, include_claimed, include_delayed
	given    [3]bool
}

var messagePageFlags = [3]string{"echo", "include_claimed", "include_delayed"}

// parseMessagePage reads the message list query parameters (§1.3.2).
func parseMessagePage(p params) (messagePage, *apiError) {
	var mp messagePage
	var err *apiError
	mp.marker, _ = p.str("marker")
	if mp.limit, mp.hasLimit, err = p.int("limit"); err != nil {
		return mp, err
	}
	for i, n := range messagePageFlags {
		if mp.flags[i], mp.given[i], err = p.bool(n); err != nil {
			return mp, err
		}
	}
	if !mp.hasLimit {
		mp.limit = fsm.DefaultPageSize
	} else if mp.limit < 1 || mp.limit > fsm.MaxMessagesPerPage {
		return mp, limitError(fsm.MaxMessagesPerPage)
	}
	return mp, nil
}

// messageList is the body of a message list answer.
type messageList struct {
	Messages []messageRepr `json:"messages"`
	Links    []link        `json:"links"`
}

// writeMessagePage answers a message list request with page and, when it
// is not empty, a next link to href carrying the request's parameters and
// the new marker.
func writeMessagePage(c *call, mp *messagePage, href string, page []messageRepr, next string) {
	body := messageList{Messages: page, Links: []link{}}
	if len(page) > 0 {
		kv := make([][2]string, 0, len(messagePageFlags)+2)
		if mp.hasLimit {
			kv = append(kv, [2]string{"limit", itoa(mp.limit)})
		}
		for i, n := range messagePageFlags {
			if mp.given[i] {
				kv = append(kv, [2]string{n, boolString(mp.flags[i])})
			}
		}
		kv = append(kv, [2]string{"marker", next}) // the new marker replaces the old one
		body.Links = []link{{Rel: "next", Href: href + queryString(kv)}}
	}
	writeMessageList(c.w, &body)
}

// messagesTooLarge answers a message post over the configured limit.
var messagesTooLarge = badAPI("Message collection size is too large. Max size %d", fsm.MaxMessagesPostSize)

// readMessagesPost reads and decodes a message post body (§1.3.1) within
// the limit of the target's metadata, which lookup returns from a stale
// read (a concurrent metadata change may race with the post either way).
// tooLarge words the error when the metadata sets the limit.
func (s *server) readMessagesPost(c *call, lookup func(*fsm.State) map[string]json.RawMessage,
	tooLarge func(limit, q int64) *apiError) ([]fsm.NewMessage, bool) {
	var md map[string]json.RawMessage
	if err := s.backend.Read(c.ctx, true, func(st *fsm.State) { md = lookup(st) }); err != nil {
		s.fail(c, err)
		return nil, false
	}
	limit := int64(fsm.MaxMessagesPostSize)
	tooLargeErr := messagesTooLarge
	if q, ok := intValue(md[fsm.KeyMaxMessagesPostSize]); ok && q > 0 && truthy(md[fsm.KeyMaxMessagesPostSize]) {
		limit = min(q, limit)
		tooLargeErr = tooLarge(limit, q)
	}
	b, aerr := readBody(c, limit, tooLargeErr)
	if aerr != nil {
		s.fail(c, aerr)
		return nil, false
	}
	msgs, aerr := decodeMessagesPost(b, truthy(md[fsm.KeyDefaultMessageDelay]))
	if aerr != nil {
		s.fail(c, aerr)
		return nil, false
	}
	return msgs, true
}

// writePosted answers a message post: 201 with the new messages' hrefs
// and a Location of the collection href with their ids.
func writePosted(c *call, ids []string, href string) {
	n := len(href) + len("?ids=") + len(ids)
	for _, id := range ids {
		n += len(id)
	}
	var loc strings.Builder
	loc.Grow(n)
	loc.WriteString(href)
	loc.WriteString("?ids=")
	for i, id := range ids {
		if i > 0 {
			loc.WriteByte(',')
		}
		loc.WriteString(id)
	}
	c.w.Header()["Location"] = []string{loc.String()}
	writeResources(c.w, href, ids)
}

// newStatsMessage is the oldest/newest entry of stats for m at href.
func newStatsMessage(href string, m *fsm.Message, now int64) *statsMessage {
	if m == nil {
		return nil
	}
	return &statsMessage{Href: href, Age: ageSeconds(m.Created, now),
		Created: time.Unix(0, m.Created).UTC().Format("2006-01-02T15:04:05Z")}
}

// writeMessagesByID answers GET .../messages?ids= of the queue or topic
// named name: the messages get finds, 404 when it finds none.
func (s *server) writeMessagesByID(c *call, ids []string, noun, name string,
	get func(st *fsm.State, now int64) []fsm.Message, repr func([]fsm.Message, int64) []messageRepr) {
	if len(ids) > fsm.MaxMessagesPerPage {
		s.fail(c, limitError(fsm.MaxMessagesPerPage))
		return
	}
	now := s.nowNano()
	var msgs []fsm.Message
	if err := s.read(c, func(st *fsm.State) { msgs = get(st, now) }); err != nil {
		s.fail(c, err)
		return
	}
	if len(msgs) == 0 {
		s.fail(c, notFound("No messages with IDs %s found in %s %s.", strings.Join(ids, ","), noun, name))
		return
	}
	writeMessages(c.w, http.StatusOK, repr(msgs, now))
}

// writeMessage answers GET .../messages/{id}: the message get finds, 404
// when missing.
func (s *server) writeMessage(c *call, get func(st *fsm.State, id string, now int64) []fsm.Message,
	repr func([]fsm.Message, int64) []messageRepr) {
	id := c.vars["message_id"]
	now := s.nowNano()
	var msgs []fsm.Message
	if err := s.read(c, func(st *fsm.State) { msgs = get(st, id, now) }); err != nil {
		s.fail(c, err)
		return
	}
	if len(msgs) == 0 {
		s.fail(c, notFound("Message %s does not exist.", id))
		return
	}
	writeMessageRepr(c.w, &repr(msgs[:1], now)[0])
}
