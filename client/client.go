package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Header names the client sends or reads.
const (
	HeaderClientID       = "Client-ID"
	HeaderProjectID      = "X-Project-ID"
	HeaderRoles          = "X-Roles"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderRead           = "X-Herald-Read"
	HeaderRequestID      = "X-Openstack-Request-Id"

	// ContentTypeJSONPatch is the only Content-Type Zaqar accepts on
	// PATCH /v2/queues/{q}.
	ContentTypeJSONPatch = "application/openstack-messaging-v2.0-json-patch"

	// DefaultProjectID is sent as X-Project-ID unless WithProjectID says otherwise.
	DefaultProjectID = "default"

	maxResponseBytes = 64 << 20
	maxBackoff       = 5 * time.Second
)

// Client talks to one Zaqar v2 endpoint as one project and one Client-ID.
// It is safe for concurrent use; its settings are fixed by New.
type Client struct {
	base      string // scheme://host[:port][/prefix], no trailing slash
	projectID string
	clientID  string
	roles     []string
	stale     bool
	headers   map[string]string
	hc        *http.Client
	retries   int
	backoff   time.Duration
}

// Option configures a Client in New.
type Option func(*Client)

// WithProjectID sets X-Project-ID (default "default"). An empty id sends no
// X-Project-ID header at all.
func WithProjectID(id string) Option { return func(c *Client) { c.projectID = id } }

// WithClientID sets the Client-ID header (default: a random UUID v4).
func WithClientID(id string) Option { return func(c *Client) { c.clientID = id } }

// WithHTTPClient sets the *http.Client used for requests (default: a client
// with a 30 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithStaleReads makes every GET carry "X-Herald-Read: stale": the node
// answers from its local state without the read-index round trip to the
// leader (faster, and available during a partition, but possibly behind).
func WithStaleReads() Option { return func(c *Client) { c.stale = true } }

// WithHeaders adds headers to every request; they are set last, so they can
// override the client's own. Used for signed-URL headers (see
// SignedURL.Options) and for negative tests.
func WithHeaders(h map[string]string) Option {
	return func(c *Client) {
		if c.headers == nil {
			c.headers = make(map[string]string, len(h))
		}
		for k, v := range h {
			c.headers[k] = v
		}
	}
}

// WithRoles sets X-Roles (comma-joined), e.g. "admin" for admin routes in
// noauth mode.
func WithRoles(roles ...string) Option {
	return func(c *Client) { c.roles = append([]string(nil), roles...) }
}

// WithRetry retries a call up to n more times when the request fails at the
// network level or the server answers 503. The wait before retry i
// (0-based) is backoff*2^i capped at 5 s (or backoff if that is larger),
// or the server's Retry-After if that is longer. Writes reuse the same
// Idempotency-Key on every attempt, so the server applies them once.
// Context cancellation stops retrying at once.
func WithRetry(n int, backoff time.Duration) Option {
	return func(c *Client) {
		if n < 0 {
			n = 0
		}
		c.retries, c.backoff = n, backoff
	}
}

// New returns a client for baseURL, the server root without "/v2" (e.g.
// "http://127.0.0.1:8888" or "https://host/messaging").
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		base:      strings.TrimRight(baseURL, "/"),
		projectID: DefaultProjectID,
		hc:        &http.Client{Timeout: 30 * time.Second},
	}
	for _, o := range opts {
		o(c)
	}
	if c.clientID == "" {
		c.clientID = NewUUID()
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	return c
}

// BaseURL returns the server root the client was created with (without a
// trailing slash).
func (c *Client) BaseURL() string { return c.base }

// ProjectID returns the X-Project-ID the client sends ("" = none).
func (c *Client) ProjectID() string { return c.projectID }

// ClientID returns the Client-ID the client sends.
func (c *Client) ClientID() string { return c.clientID }

// NewUUID returns a random (version 4) UUID in its canonical dashed form.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("client: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// request describes one logical API call.
type request struct {
	method      string
	path        string // escaped path from the root, e.g. "/v2/queues/q"
	query       query
	body        []byte // nil: no body
	contentType string // defaults to application/json when body != nil
}

// response is a successful (2xx) answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) decode(v any) error {
	if len(r.body) == 0 {
		return fmt.Errorf("client: empty response body (status %d)", r.status)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("client: decode response (status %d): %w", r.status, err)
	}
	return nil
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// do performs req, retrying as configured. It returns the answer for 2xx
// statuses and a *Error for the others.
func (c *Client) do(ctx context.Context, req *request) (*response, error) {
	var key string
	if isWrite(req.method) {
		key = NewUUID() // one per logical call, reused by every retry
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, req, key)
		if err == nil {
			return resp, nil
		}
		if attempt >= c.retries || !retryable(err) || ctx.Err() != nil {
			return nil, err
		}
		wait := c.backoffFor(attempt)
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.RetryAfter > wait {
			wait = apiErr.RetryAfter
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// backoffFor is the wait before retry number attempt (0-based):
// backoff*2^attempt, capped at max(5 s, backoff).
func (c *Client) backoffFor(attempt int) time.Duration {
	limit := max(maxBackoff, c.backoff)
	if attempt >= 62 || c.backoff > limit>>attempt {
		return limit
	}
	return min(c.backoff<<attempt, limit)
}

// netError marks a failure to get an HTTP answer at all.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

func retryable(err error) bool {
	var ne *netError
	if errors.As(err, &ne) {
		return true
	}
	return IsStatus(err, http.StatusServiceUnavailable)
}

func (c *Client) once(ctx context.Context, req *request, idemKey string) (*response, error) {
	u := c.base + req.path
	if q := req.query.String(); q != "" {
		u += "?" + q
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	h := hr.Header
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "herald-go-client")
	h.Set(HeaderClientID, c.clientID)
	if c.projectID != "" {
		h.Set(HeaderProjectID, c.projectID)
	}
	if len(c.roles) > 0 {
		h.Set(HeaderRoles, strings.Join(c.roles, ","))
	}
	if c.stale && req.method == http.MethodGet {
		h.Set(HeaderRead, "stale")
	}
	if req.body != nil {
		ct := req.contentType
		if ct == "" {
			ct = "application/json"
		}
		h.Set("Content-Type", ct)
	}
	if idemKey != "" {
		h.Set(HeaderIdempotencyKey, idemKey)
	}
	for k, v := range c.headers {
		h.Set(k, v)
	}
	hresp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("client: %s %s: %w", req.method, req.path, ctx.Err())
		}
		return nil, &netError{fmt.Errorf("client: %s %s: %w", req.method, req.path, err)}
	}
	defer hresp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBytes))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("client: %s %s: read body: %w", req.method, req.path, ctx.Err())
		}
		return nil, &netError{fmt.Errorf("client: %s %s: read body: %w", req.method, req.path, err)}
	}
	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		return nil, newError(req.method, req.path, hresp, b)
	}
	return &response{status: hresp.StatusCode, header: hresp.Header, body: b}, nil
}

// jsonBody marshals v for a request body.
func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("client: encode request body: %w", err)
	}
	return b, nil
}

// query is an ordered, already-escaped query string. Lists are joined with
// literal commas, the form Zaqar splits (an escaped %2C is not split).
type query []string

func (q *query) set(k, v string) { *q = append(*q, url.QueryEscape(k)+"="+url.QueryEscape(v)) }

func (q *query) setInt(k string, v int) { q.set(k, strconv.Itoa(v)) }

func (q *query) setBool(k string, v bool) { q.set(k, strconv.FormatBool(v)) }

func (q *query) list(k string, vs []string) {
	esc := make([]string, len(vs))
	for i, v := range vs {
		esc[i] = url.QueryEscape(v)
	}
	*q = append(*q, url.QueryEscape(k)+"="+strings.Join(esc, ","))
}

func (q query) String() string { return strings.Join(q, "&") }

// Path helpers: every name and id is escaped as one path segment.

func queuePath(queue string) string { return "/v2/queues/" + url.PathEscape(queue) }

func messagesPath(queue string) string { return queuePath(queue) + "/messages" }

func claimsPath(queue string) string { return queuePath(queue) + "/claims" }

// nextMarker returns the marker of the "next" link in links, or "".
func nextMarker(links []link) string {
	for _, l := range links {
		if l.Rel != "next" {
			continue
		}
		u, err := url.Parse(l.Href)
		if err != nil {
			return ""
		}
		return u.Query().Get("marker")
	}
	return ""
}

type link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// lastSegment returns the last path segment of a path or URL, ignoring any
// query string ("/v2/queues/q/claims/abc?x=1" -> "abc").
func lastSegment(ref string) string {
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	ref = strings.TrimRight(ref, "/")
	seg := ref[strings.LastIndex(ref, "/")+1:]
	if un, err := url.PathUnescape(seg); err == nil {
		return un
	}
	return seg
}

// Ping checks GET /v2/ping (204 when the node can serve).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/v2/ping"})
	return err
}

// HomeDocument is the JSON-home document of GET /v2/.
type HomeDocument struct {
	Resources map[string]HomeResource `json:"resources"`
}

// HomeResource is one relation of the home document.
type HomeResource struct {
	Href         string            `json:"href,omitempty"`
	HrefTemplate string            `json:"href-template,omitempty"`
	HrefVars     map[string]string `json:"href-vars,omitempty"`
	Hints        map[string]any    `json:"hints,omitempty"`
}

// Home fetches the JSON-home document (GET /v2/).
func (c *Client) Home(ctx context.Context) (*HomeDocument, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: "/v2/"})
	if err != nil {
		return nil, err
	}
	var doc HomeDocument
	if err := resp.decode(&doc); err != nil {
		return nil, err
	}
	return &doc, nil
}
