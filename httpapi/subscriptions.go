package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herald-mq/herald/fsm"
	"github.com/herald-mq/herald/internal/filterpolicy"
)

// Subscriptions (ZAQAR-API.md §1.5). The handlers are written for a source
// kind (subSource) so that topic subscriptions are one more
// s.subscriptionRoutes(topicSubs) in routes(): the FSM already keys
// subscriptions by (project, kind, name).
//
// Herald extension: GET <collection>/{subscription_id}/delivery answers the
// subscription's delivery state (see deliveryRepr); Zaqar's bodies are
// unchanged.

// SubscriptionSecretSize is the length in bytes of the random
// per-subscription secret generated on create (fsm.SubscriptionCreate.Secret).
const SubscriptionSecretSize = 32

// maxSubscriptionBody bounds subscription POST/PATCH bodies (Zaqar sets no
// limit; options such as a post_data template are small).
const maxSubscriptionBody = maxSmallBody

// subSource is one kind of subscription source: its fsm kind, the path
// prefix of its resources and the route variable naming it.
type subSource struct {
	kind    string // fsm.SourceQueue or fsm.SourceTopic
	prefix  string // "/v2/queues" or "/v2/topics"
	varName string // "queue_name" or "topic_name" (validated by the hooks)
}

var (
	queueSubs = subSource{kind: fsm.SourceQueue, prefix: "/v2/queues", varName: "queue_name"}
	topicSubs = subSource{kind: fsm.SourceTopic, prefix: "/v2/topics", varName: "topic_name"}
)

// name is the source name of the request.
func (src subSource) name(c *call) string { return c.vars[src.varName] }

// collection is the subscriptions collection path of a source.
func (src subSource) collection(name string) string {
	return src.prefix + "/" + name + "/subscriptions"
}

// item is a subscription's path.
func (src subSource) item(name, id string) string { return src.collection(name) + "/" + id }

// ConfirmPath is the path of the confirm endpoint of a subscription
// (§1.5.6): "/v2/queues/<source>/subscriptions/<id>/confirm" for
// sourceKind fsm.SourceQueue and "/v2/topics/..." for fsm.SourceTopic (Zaqar
// always says "queues"; Herald confirms a subscription only under its own
// source). A confirmation URL signs exactly this path with method PUT (see
// SignURL). Any other kind is treated as a queue.
func ConfirmPath(sourceKind, source, subscriptionID string) string {
	src := queueSubs
	if sourceKind == fsm.SourceTopic {
		src = topicSubs
	}
	return src.item(source, subscriptionID) + "/confirm"
}

// subscriptionRoutes returns the routes of one source kind's subscriptions.
func (s *server) subscriptionRoutes(src subSource) []route {
	type m = map[string]handlerFunc
	base := src.prefix + "/{" + src.varName + "}/subscriptions"
	item := base + "/{subscription_id}"
	on := func(h func(*call, subSource)) handlerFunc { return func(c *call) { h(c, src) } }
	return []route{
		{path: base, kind: kindV2, methods: m{"POST": on(s.createSubscription), "GET": on(s.listSubscriptions)}},
		{path: item, kind: kindV2, methods: m{"GET": on(s.getSubscription),
			"PATCH": on(s.patchSubscription), "DELETE": on(s.deleteSubscription)}},
		{path: item + "/confirm", kind: kindV2, methods: m{"PUT": on(s.confirmSubscription)}},
		{path: item + "/delivery", kind: kindV2, methods: m{"GET": on(s.subscriptionDelivery)}},
	}
}

// subscriptionID is the {subscription_id} route variable.
func (c *call) subscriptionID() string { return c.vars["subscription_id"] }

// subscriptionRepr is Zaqar's subscription representation (§1.5).
type subscriptionRepr struct {
	ID         string                     `json:"id"`
	Source     string                     `json:"source"`
	Subscriber string                     `json:"subscriber"`
	TTL        int64                      `json:"ttl"`
	Age        int64                      `json:"age"`
	Options    map[string]json.RawMessage `json:"options"`
	Confirmed  bool                       `json:"confirmed"`
}

func reprSubscription(si fsm.SubscriptionInfo, now int64) subscriptionRepr {
	opts := si.Options
	if opts == nil {
		opts = map[string]json.RawMessage{}
	}
	return subscriptionRepr{ID: si.ID, Source: si.Source, Subscriber: si.Subscriber, TTL: si.TTL,
		Age: ageSeconds(si.Created, now), Options: opts, Confirmed: si.Confirmed}
}

// subscriptionBody is a validated subscription POST or PATCH body. A nil
// field was absent or null; a non-nil Options (possibly empty) replaces the
// options.
type subscriptionBody struct {
	Subscriber *string
	TTL        *int64
	Options    map[string]json.RawMessage
}

// empty reports whether the body changes nothing (PATCH).
func (b subscriptionBody) empty() bool {
	return b.Subscriber == nil && b.TTL == nil && b.Options == nil
}

// Subscriber schemes.
var (
	subscriberSchemes = map[string]bool{"http": true, "https": true, "mailto": true}
	trustSchemes      = map[string]bool{"trust+http": true, "trust+https": true}
)

const (
	descNoSubscriber   = "Missing parameter subscriber in body."
	descNoSubscription = "No subscription to create."
	descNotDict        = "Subscriptions must be a dict."
)

// decodeSubscriptionBody parses and validates a subscription body the way
// Zaqar's subscription_posting (create) and subscription_patching (PATCH)
// do (§1.5.1, §1.5.4), at reader time now (unix ns). Differences, all
// refusals of things Zaqar stores but cannot use:
//   - subscriber must be a string with a host (http, https) or an address
//     (mailto); trust+http(s) is refused because Keystone trusts need
//     Keystone authentication, which Herald does not have yet;
//   - ttl must be an integer (not a boolean) >= 60 whenever it is given
//     and not null. Zaqar only checks a truthy ttl, so an explicit 0 gives
//     it an already expired subscription; Herald refuses 0 with a message
//     saying so;
//   - a falsy non-null options ("", [], 0, false) counts as {};
//   - options.filter_policy (a Herald extension), when given and not
//     null, must be a valid filter policy (internal/filterpolicy).
//
// Unknown keys are ignored. The caller checks PATCH bodies with empty()
// and runs Config.ValidateSubscriber.
func decodeSubscriptionBody(b []byte, create bool, now int64) (subscriptionBody, *apiError) {
	var out subscriptionBody
	obj := map[string]json.RawMessage{}
	if len(b) > 0 { // Zaqar reads a missing body as {}
		kind, err := checkDocument(b)
		if err != nil {
			return out, err
		}
		if kind != docObject {
			if !create && !truthy(b) {
				return out, badAPI(descNoSubscription)
			}
			return out, badAPI(descNotDict)
		}
		if json.Unmarshal(b, &obj) != nil {
			return out, badBody(descBodyParse)
		}
	}
	if create && rawKind(obj["subscriber"]) == 'n' {
		return out, badAPI(descNoSubscriber)
	}
	if len(obj) == 0 {
		return out, badAPI(descNoSubscription)
	}
	if raw, ok := obj["subscriber"]; ok && rawKind(raw) != 'n' {
		var uri string
		if rawKind(raw) != '"' || json.Unmarshal(raw, &uri) != nil {
			return out, badAPI("The subscriber must be a string (a URI).")
		}
		if err := checkSubscriberURI(uri); err != nil {
			return out, err
		}
		out.Subscriber = &uri
	}
	if raw, ok := obj["options"]; ok && rawKind(raw) != 'n' {
		opts := map[string]json.RawMessage{}
		if truthy(raw) {
			if rawKind(raw) != '{' || json.Unmarshal(raw, &opts) != nil {
				return out, badAPI("Options must be a dict.")
			}
		}
		if err := fsm.ValidateRetryPolicy(opts[fsm.KeyRetryPolicy]); err != nil {
			return out, toAPIError(err)
		}
		if _, err := filterpolicy.FromOptions(opts); err != nil { // Herald extension
			return out, badAPI("Invalid filter policy: %s", err.Error())
		}
		out.Options = opts
	}
	if raw, ok := obj["ttl"]; ok && rawKind(raw) != 'n' {
		ttl, err := checkSubscriptionTTL(raw, now)
		if err != nil {
			return out, err
		}
		out.TTL = &ttl
	}
	return out, nil
}

// checkSubscriptionTTL validates a given, non-null ttl: an integer of at
// least fsm.MinSubscriptionTTL seconds such that now + ttl stays a
// representable time (unix ns in an int64, i.e. before the year 2262).
func checkSubscriptionTTL(raw json.RawMessage, now int64) (int64, *apiError) {
	k := rawKind(raw)
	ttl, isInt := intValue(raw)
	if !isInt || k == 't' || k == 'f' {
		return 0, badAPI("TTL must be an integer.")
	}
	switch {
	case ttl == 0:
		return 0, badAPI("The TTL for a subscription must be at least %d seconds long; 0 would create an already expired subscription.",
			fsm.MinSubscriptionTTL)
	case ttl < fsm.MinSubscriptionTTL:
		return 0, badAPI("The TTL for a subscription must be at least %d seconds long.", fsm.MinSubscriptionTTL)
	case ttl > maxSubscriptionTTL(now):
		return 0, badAPI("The TTL seconds for a subscription plus current time must be less than %s.",
			time.Unix(0, math.MaxInt64).UTC().Format(time.RFC3339))
	}
	return ttl, nil
}

// maxSubscriptionTTL is the largest ttl (seconds) for which now + ttl fits
// in unix nanoseconds.
func maxSubscriptionTTL(now int64) int64 {
	if now < 0 {
		now = 0
	}
	return (math.MaxInt64 - now) / int64(time.Second)
}

// uriScheme extracts a URI's scheme as Python's urlsplit does: the text
// before the first ':' when it starts with an ASCII letter and consists of
// letters, digits, '+', '-' and '.', lowercased; else "".
func uriScheme(uri string) string {
	i := strings.IndexByte(uri, ':')
	if i <= 0 || !isLetter(uri[0]) {
		return ""
	}
	for j := 0; j < i; j++ {
		b := uri[j]
		if !isLetter(b) && !('0' <= b && b <= '9') && b != '+' && b != '-' && b != '.' {
			return ""
		}
	}
	return strings.ToLower(uri[:i])
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// checkSubscriberURI validates a subscriber URI's scheme and shape. Errors
// never echo the URI (it may carry credentials).
func checkSubscriberURI(uri string) *apiError {
	if uri == "" {
		return badAPI("The subscriber may not be empty.")
	}
	scheme := uriScheme(uri)
	switch {
	case trustSchemes[scheme]:
		return badAPI("The subscriber type %q is not supported: Keystone trust subscriptions need Keystone authentication, "+
			"which Herald does not have yet. Use an http or https subscriber.", scheme)
	case !subscriberSchemes[scheme]:
		return badAPI("The subscriber type of subscription must be supported in the list ['http', 'https', 'mailto'].")
	case scheme == "mailto":
		addr, _, _ := strings.Cut(uri[len("mailto:"):], "?")
		if strings.TrimSpace(addr) == "" {
			return badAPI("The mailto subscriber must name an address (mailto:user@example.com).")
		}
	default:
		u, err := url.Parse(uri)
		if err != nil || u.Hostname() == "" {
			return badAPI("The %s subscriber must be an absolute URL with a host (%s://host[:port]/path).", scheme, scheme)
		}
	}
	return nil
}

// checkSubscriber runs Config.ValidateSubscriber on a given subscriber.
func (s *server) checkSubscriber(uri *string) *apiError {
	if uri == nil || s.validateSubscriber == nil {
		return nil
	}
	if err := s.validateSubscriber(*uri); err != nil {
		return badAPI("%s", err.Error())
	}
	return nil
}

// readSubscriptionBody reads a POST/PATCH body and validates it.
func (s *server) readSubscriptionBody(c *call, create bool) (subscriptionBody, *apiError) {
	b, aerr := readBody(c, maxSubscriptionBody, badAPI("Request body is too large. Max size: %d", maxSubscriptionBody))
	if aerr != nil {
		return subscriptionBody{}, aerr
	}
	body, aerr := decodeSubscriptionBody(b, create, s.nowNano())
	if aerr != nil {
		return body, aerr
	}
	return body, s.checkSubscriber(body.Subscriber)
}

// newSubscriptionSecret returns SubscriptionSecretSize random bytes.
func newSubscriptionSecret() []byte {
	b := make([]byte, SubscriptionSecretSize)
	if _, err := rand.Read(b); err != nil {
		panic("httpapi: crypto/rand failed: " + err.Error())
	}
	return b
}

// createSubscription: POST <source>/subscriptions (§1.5.1). New: 201 with
// the id; duplicate of an unconfirmed subscription: 201 with its id (ttl and
// options untouched); duplicate of a confirmed one: 409. Both answers carry
// Location: the collection path. Unlike Zaqar, a body that fails validation
// does not create the queue.
func (s *server) createSubscription(c *call, src subSource) {
	s.subscribe(c, src, c.project, crossProject{})
}

// crossProject describes a call on another project's topic subscriptions
// (topic_subscriptions.go); the zero value is a call on the caller's own
// project.
type crossProject struct {
	project, user string      // the subscribing project and user
	query         [][2]string // query parameters of the collection links
}

// subscribe creates a subscription of owner's source for the request's
// body (createSubscription).
func (s *server) subscribe(c *call, src subSource, owner string, x crossProject) {
	body, aerr := s.readSubscriptionBody(c, true)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	ttl := int64(fsm.DefaultSubscriptionTTL)
	if body.TTL != nil {
		ttl = *body.TTL
	}
	name := src.name(c)
	loc := src.collection(name) + queryString(x.query)
	cmd := &fsm.SubscriptionCreate{Project: owner, SourceKind: src.kind, Source: name,
		Subscriber: *body.Subscriber, TTL: ttl, Options: body.Options, Secret: newSubscriptionSecret(),
		SubscriberProject: x.project, SubscriberUser: x.user}
	res, err := s.apply(c, fsm.CmdSubscriptionCreate, cmd)
	if err != nil {
		e := toAPIError(err)
		if e.status == http.StatusConflict {
			c.w.Header().Set("Location", loc)
		}
		s.fail(c, e)
		return
	}
	c.w.Header().Set("Location", loc)
	writeJSON(c.w, http.StatusCreated, map[string]string{"subscription_id": res.SubscriptionID})
}

// subscriptionList is the body of GET <source>/subscriptions.
type subscriptionList struct {
	Subscriptions []subscriptionRepr `json:"subscriptions"`
	Links         []link             `json:"links"`
}

// listSubscriptions: GET <source>/subscriptions (§1.5.2). A missing source
// answers an empty page; a non-empty page links to the next one.
func (s *server) listSubscriptions(c *call, src subSource) {
	s.listSubscriptionPage(c, src, nil, func(st *fsm.State, name, marker string, limit int, now int64) []fsm.SubscriptionInfo {
		return st.ListSubscriptions(c.project, src.kind, name, marker, limit, now)
	})
}

// listSubscriptionPage answers a subscription list request with the page
// list reads; query leads the next link's parameters.
func (s *server) listSubscriptionPage(c *call, src subSource, query [][2]string,
	list func(st *fsm.State, name, marker string, limit int, now int64) []fsm.SubscriptionInfo) {
	p := params(c.r.URL.Query())
	marker, _ := p.str("marker")
	limit, hasLimit, aerr := p.int("limit")
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	if !hasLimit {
		limit = fsm.DefaultPageSize
	} else if limit < 1 || limit > fsm.MaxSubscriptionsPage {
		s.fail(c, limitError(fsm.MaxSubscriptionsPage))
		return
	}
	name, now := src.name(c), s.nowNano()
	var page []fsm.SubscriptionInfo
	if err := s.read(c, func(st *fsm.State) { page = list(st, name, marker, limit, now) }); err != nil {
		s.fail(c, err)
		return
	}
	body := subscriptionList{Subscriptions: make([]subscriptionRepr, 0, len(page)), Links: []link{}}
	for _, si := range page {
		body.Subscriptions = append(body.Subscriptions, reprSubscription(si, now))
	}
	if len(page) > 0 {
		kv := append(append([][2]string{}, query...), [2]string{"marker", page[len(page)-1].ID}, [2]string{"limit", itoa(limit)})
		body.Links = []link{{Rel: "next", Href: src.collection(name) + queryString(kv)}}
	}
	writeJSON(c.w, http.StatusOK, body)
}

func errNoSubscription(id string) *apiError { return notFound("Subscription %s does not exist", id) }

// lookupSubscription reads an unexpired subscription of the request's
// source; a missing one is a 404.
func (s *server) lookupSubscription(c *call, src subSource) (fsm.SubscriptionInfo, int64, error) {
	id, name, now := c.subscriptionID(), src.name(c), s.nowNano()
	var si fsm.SubscriptionInfo
	found := false
	if fsm.ValidID(id) {
		if err := s.read(c, func(st *fsm.State) { si, found = st.Subscription(c.project, src.kind, name, id, now) }); err != nil {
			return si, now, err
		}
	}
	if !found {
		return si, now, errNoSubscription(id)
	}
	return si, now, nil
}

// getSubscription: GET <source>/subscriptions/{id} (§1.5.3).
func (s *server) getSubscription(c *call, src subSource) {
	si, now, err := s.lookupSubscription(c, src)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c.w, http.StatusOK, reprSubscription(si, now))
}

// patchSubscription: PATCH <source>/subscriptions/{id} (§1.5.4): the body
// is validated first, then the id is looked up (404); a subscriber taken
// by another subscription of the source is 409. 204 with Location.
func (s *server) patchSubscription(c *call, src subSource) {
	body, aerr := s.readSubscriptionBody(c, false)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	id := c.subscriptionID()
	if body.empty() {
		s.fail(c, newError(http.StatusBadRequest, titleUnableUpdSub, "Subscription "+id+" could not be updated."))
		return
	}
	if !fsm.ValidID(id) {
		s.fail(c, errNoSubscription(id))
		return
	}
	name := src.name(c)
	cmd := &fsm.SubscriptionUpdate{Project: c.project, SourceKind: src.kind, Source: name, ID: id,
		Subscriber: body.Subscriber, TTL: body.TTL, Options: body.Options}
	if _, err := s.apply(c, fsm.CmdSubscriptionUpdate, cmd); err != nil {
		s.fail(c, err)
		return
	}
	c.w.Header().Set("Location", src.item(name, id))
	writeEmpty(c.w, http.StatusNoContent)
}

// deleteSubscription: DELETE <source>/subscriptions/{id} (§1.5.5), 204
// whether or not it exists.
func (s *server) deleteSubscription(c *call, src subSource) {
	if id := c.subscriptionID(); fsm.ValidID(id) {
		cmd := &fsm.SubscriptionDelete{Project: c.project, SourceKind: src.kind, Source: src.name(c), ID: id}
		if _, err := s.apply(c, fsm.CmdSubscriptionDelete, cmd); err != nil {
			s.fail(c, err)
			return
		}
	}
	writeEmpty(c.w, http.StatusNoContent)
}

// confirmSubscription: PUT <source>/subscriptions/{id}/confirm (§1.5.6),
// normally called with the signed-URL headers of a confirmation (the
// signed-URL hook has verified them). The body must be {"confirmed":
// <bool>}. Zaqar's mongo store matches the id within the project whatever
// the source; Herald also requires the path's source, like GET/PATCH (ids
// are never reused and a subscription never changes source, so the read
// before the write cannot confirm the wrong subscription). 204 with
// Location.
func (s *server) confirmSubscription(c *call, src subSource) {
	b, aerr := readBody(c, maxSmallBody, badAPI("Request body is too large. Max size: %d", maxSmallBody))
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	id := c.subscriptionID()
	obj := map[string]json.RawMessage{}
	if len(b) > 0 {
		kind, aerr := checkDocument(b)
		if aerr != nil {
			s.fail(c, aerr)
			return
		}
		if kind != docObject || json.Unmarshal(b, &obj) != nil {
			s.fail(c, newError(http.StatusBadRequest, titleUnableConfirm, "Subscription "+id+" could not be confirmed."))
			return
		}
	}
	raw := obj["confirmed"] // absent: kind 'n'
	if k := rawKind(raw); k != 't' && k != 'f' {
		s.fail(c, badAPI("The 'confirmed' should be boolean."))
		return
	}
	if _, _, err := s.lookupSubscription(c, src); err != nil {
		s.fail(c, err)
		return
	}
	cmd := &fsm.SubscriptionConfirm{Project: c.project, ID: id, Confirmed: rawKind(raw) == 't'}
	if _, err := s.apply(c, fsm.CmdSubscriptionConfirm, cmd); err != nil {
		s.fail(c, err)
		return
	}
	c.w.Header().Set("Location", src.item(src.name(c), id)+"/confirm")
	writeEmpty(c.w, http.StatusNoContent)
}

// deliveryRepr is the body of Herald's GET
// <source>/subscriptions/{id}/delivery: the delivery state the dispatcher
// records in the FSM.
//
//   - subscription_id: the subscription;
//   - owner: the dispatcher node delivering it, null while unassigned;
//     owner_epoch: the assignment epoch of that ownership;
//   - cursor: the last outbox sequence number handled; pending: outbox
//     entries after the cursor (an upper bound: expired entries count);
//   - delivered, failed, skipped: deliveries acknowledged, given up after
//     all retries, and passed over on purpose (e.g. while unconfirmed);
//   - last_error, last_error_at: the latest delivery error and when it
//     happened (RFC 3339, UTC), both null when there was none;
//   - recent_failures: the last failed deliveries, oldest first, each with
//     the message id, the error, the attempts made and the time (RFC 3339)
//     it was reported;
//   - signing_secret: hex of the subscription's HMAC key; webhook receivers
//     verify X-Herald-Signature with the decoded bytes. Zaqar's own
//     subscription bodies never carry it.
type deliveryRepr struct {
	SubscriptionID string        `json:"subscription_id"`
	Owner          *string       `json:"owner"`
	OwnerEpoch     uint64        `json:"owner_epoch"`
	Cursor         uint64        `json:"cursor"`
	Pending        uint64        `json:"pending"`
	Delivered      uint64        `json:"delivered"`
	Failed         uint64        `json:"failed"`
	Skipped        uint64        `json:"skipped"`
	LastError      *string       `json:"last_error"`
	LastErrorAt    *string       `json:"last_error_at"`
	RecentFailures []failureRepr `json:"recent_failures"`
	SigningSecret  string        `json:"signing_secret"`
}

// failureRepr is one entry of deliveryRepr.RecentFailures.
type failureRepr struct {
	MessageID string `json:"message_id"`
	Error     string `json:"error"`
	Attempts  int    `json:"attempts"`
	At        string `json:"at"`
}

func rfc3339(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339) }

func strOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func reprDelivery(si fsm.SubscriptionInfo) deliveryRepr {
	d := deliveryRepr{SubscriptionID: si.ID, Owner: strOrNull(si.Owner), OwnerEpoch: si.OwnerEpoch,
		Cursor: si.Cursor, Pending: si.Pending, Delivered: si.Delivered, Failed: si.FailedCount,
		Skipped: si.Skipped, LastError: strOrNull(si.LastError),
		RecentFailures: make([]failureRepr, 0, len(si.RecentFailures)),
		SigningSecret:  hex.EncodeToString(si.Secret)}
	if si.LastErrorAt != 0 {
		at := rfc3339(si.LastErrorAt)
		d.LastErrorAt = &at
	}
	for _, f := range si.RecentFailures {
		d.RecentFailures = append(d.RecentFailures, failureRepr{MessageID: f.MessageID, Error: f.Error,
			Attempts: f.Attempts, At: rfc3339(f.At)})
	}
	return d
}

// subscriptionDelivery: Herald's GET <source>/subscriptions/{id}/delivery
// answers deliveryRepr; 404 like GET of the subscription.
func (s *server) subscriptionDelivery(c *call, src subSource) {
	si, _, err := s.lookupSubscription(c, src)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c.w, http.StatusOK, reprDelivery(si))
}
