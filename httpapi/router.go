// Package httpapi serves the OpenStack Zaqar v2 HTTP API (ZAQAR-API.md) and
// Herald's operational endpoints on top of a small Backend interface: it
// validates every request, turns writes into fsm commands and renders reads
// from an fsm.State view. It knows nothing about raft.
//
// Herald extensions to the Zaqar surface:
//   - Idempotency-Key request header: writes carrying it use the command
//     RequestID "idem:<project>:<key>" (see idempotencyID), so a client that retries a write whose
//     outcome it did not see (timeout, dropped connection, leader change) has
//     it applied once; the retry gets the first result again (for a message
//     POST: the same ids). Keys are scoped to the project, at most 256
//     characters, and remembered for the FSM's dedupe window. Reusing a key
//     for a different request returns the first request's result.
//   - X-Herald-Read: stale request header: the read is served from this
//     node's local state without the read-index round trip (it may miss
//     writes acknowledged moments ago). Default reads are linearizable.
//   - GET /healthz, GET /readyz, GET /cluster/status: operational endpoints
//     without Client-ID or project.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/herald-mq/herald/fsm"
)

// Backend is what the API needs from the cluster.
type Backend interface {
	// Apply commits cmd through raft (forwarding to the leader as needed)
	// and returns the FSM result and result.Err(). Errors with a
	// RetryAfter() time.Duration method mean "no leader / unavailable".
	Apply(ctx context.Context, cmd *fsm.Command) (*fsm.Result, error)
	// Read runs fn on a linearizable (or, if stale, local) view.
	Read(ctx context.Context, stale bool, fn func(*fsm.State)) error
}

// Ops feeds the operational endpoints.
type Ops interface {
	// Status is the JSON body of GET /cluster/status.
	Status() any
	// Ready decides GET /readyz: 200 {"status":"ready"} or 503.
	Ready() bool
}

// Config configures the handler returned by New.
type Config struct {
	Backend Backend
	Ops     Ops
	// SignedURLKey is Zaqar's [signed_url] secret_key. Empty: /share
	// answers 400 and no signed request verifies.
	SignedURLKey string
	// Log receives request and error logs; nil discards them.
	Log *slog.Logger
	// Now is the reader clock (message ages, expiry filtering, share
	// expiry); default time.Now.
	Now func() time.Time
	// RequestTimeout bounds each request's context; default 10s.
	RequestTimeout time.Duration
	// ValidateSubscriber, when set, checks every subscriber URI a
	// subscription POST or PATCH would store, after httpapi's own checks
	// (scheme http, https or mailto; a host or an address). node injects the
	// dispatcher's address guard. A non-nil error answers 400 "Invalid API
	// request" with the error's text as the description, so it must not
	// echo secrets.
	ValidateSubscriber func(uri string) error
	// RequireConfirmation is Zaqar's [notification] require_confirmation:
	// only confirmed subscriptions receive notifications, and the
	// dispatcher sends confirmation requests. The API behaves the same
	// either way (as Zaqar's): new subscriptions are stored with
	// confirmed=false and PUT .../confirm sets the flag; node hands the
	// value to the dispatcher.
	RequireConfirmation bool
}

// DefaultRequestTimeout is Config.RequestTimeout's default.
const DefaultRequestTimeout = 10 * time.Second

// Headers Herald adds to the Zaqar surface (see the package comment).
const (
	// HeaderIdempotencyKey makes a write idempotent per project and key.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderRead with the value "stale" opts a read out of linearizability.
	HeaderRead = "X-Herald-Read"

	headerRequestID   = "x-openstack-request-id"
	canonRequestID    = "X-Openstack-Request-Id" // headerRequestID as a header map key
	maxIdempotencyKey = 256
)

// server holds the validated configuration; it is immutable after New.
type server struct {
	backend Backend
	ops     Ops
	key     string
	log     *slog.Logger
	now     func() time.Time
	timeout time.Duration

	validateSubscriber func(uri string) error
}

// New validates cfg, fills defaults and returns the API handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Backend == nil {
		return nil, ErrNoBackend
	}
	if cfg.Ops == nil {
		return nil, ErrNoOps
	}
	if cfg.RequestTimeout < 0 {
		return nil, ErrBadTimeout
	}
	s := &server{backend: cfg.Backend, ops: cfg.Ops, key: cfg.SignedURLKey,
		log: cfg.Log, now: cfg.Now, timeout: cfg.RequestTimeout, validateSubscriber: cfg.ValidateSubscriber}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeout == 0 {
		s.timeout = DefaultRequestTimeout
	}
	r := mux.NewRouter()
	r.StrictSlash(false) // "/v2/" is the home document; "/v2" and "/v2/queues/" are 404
	r.SkipClean(true)    // never redirect; an unclean path simply does not match
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, newError(http.StatusNotFound, title404, descPathNotFound))
	})
	for _, rt := range s.routes() {
		addRoute(r, rt.path, s.dispatch(rt))
	}
	return s.outer(r), nil
}

// routeKind selects which of Zaqar's hooks run for a route.
type routeKind uint8

const (
	kindOps  routeKind = iota // Herald's operational endpoints: no Zaqar hooks
	kindRoot                  // "/": signed URL, content type and Accept hooks only
	kindV2                    // everything under /v2/: all hooks
)

// route is one path with its handlers by method.
type route struct {
	path    string
	kind    routeKind
	admin   bool // policy: requires role admin (noauth: X-Roles)
	methods map[string]handlerFunc
}

type handlerFunc func(c *call)

// routes is the routing table: ZAQAR-API.md §1 rows 1-36 plus share, the
// subscription delivery extension and the ops endpoints. Topic routes come
// from topicRoutes (topics.go); their {topic_name} variable is validated
// like {queue_name} by the hooks. Pools go here when implemented.
func (s *server) routes() []route {
	const q = "/v2/queues/{queue_name}"
	type m = map[string]handlerFunc
	rts := []route{
		{path: "/", kind: kindRoot, methods: m{"GET": s.versions}},
		{path: "/v2/", kind: kindV2, methods: m{"GET": s.homeDoc}},
		{path: "/v2/ping", kind: kindV2, methods: m{"GET": s.ping, "HEAD": s.pingHead}},
		{path: "/v2/health", kind: kindV2, admin: true, methods: m{"GET": s.health}},
		{path: "/v2/queues", kind: kindV2, methods: m{"GET": s.listQueues}},
		{path: q, kind: kindV2, methods: m{"PUT": s.createQueue, "GET": s.getQueue,
			"PATCH": s.patchQueue, "DELETE": s.deleteQueue}},
		{path: q + "/stats", kind: kindV2, methods: m{"GET": s.queueStats}},
		{path: q + "/purge", kind: kindV2, methods: m{"POST": s.purgeQueue}},
		{path: q + "/share", kind: kindV2, methods: m{"POST": s.shareQueue}},
		{path: q + "/messages", kind: kindV2, methods: m{"POST": s.postMessages,
			"GET": s.getMessages, "DELETE": s.deleteMessages}},
		{path: q + "/messages/{message_id}", kind: kindV2, methods: m{"GET": s.getMessage,
			"DELETE": s.deleteMessage}},
		{path: q + "/claims", kind: kindV2, methods: m{"POST": s.postClaim}},
		{path: q + "/claims/{claim_id}", kind: kindV2, methods: m{"GET": s.getClaim,
			"PATCH": s.patchClaim, "DELETE": s.deleteClaim}},
		{path: "/healthz", kind: kindOps, methods: m{"GET": s.healthz}},
		{path: "/readyz", kind: kindOps, methods: m{"GET": s.readyz}},
		{path: "/cluster/status", kind: kindOps, methods: m{"GET": s.clusterStatus}},
	}
	rts = append(rts, s.topicRoutes()...) // topics.go
	return append(rts, s.subscriptionRoutes(queueSubs)...)
}

// call is one request in flight, with what the hooks extracted from it.
type call struct {
	w        http.ResponseWriter
	r        *http.Request
	ctx      context.Context
	reqID    string            // "req-<uuid4>", also the default command RequestID
	vars     map[string]string // route variables
	project  string
	clientID string // canonical: 32 lowercase hex digits
	roles    []string
	idemKey  string
	stale    bool
}

// queue is the {queue_name} route variable.
func (c *call) queue() string { return c.vars["queue_name"] }

// dispatch answers 405 for methods the route lacks, runs the hooks, then
// the method's handler. outer hands it the route variables and the
// request's id and context in an *exchange; served any other way it
// takes the variables from mux.
func (s *server) dispatch(rt route) http.Handler {
	allowed := make([]string, 0, len(rt.methods))
	for m := range rt.methods {
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := rt.methods[r.Method]
		if !ok {
			writeError(w, &apiError{status: http.StatusMethodNotAllowed, title: title405,
				desc: "The method " + r.Method + " is not allowed for this resource.", allow: allow})
			return
		}
		x, ok := w.(*exchange)
		if !ok {
			x = &exchange{ResponseWriter: w, ctx: r.Context(), vars: mux.Vars(r)}
		}
		c := &x.call
		*c = call{w: x, r: r, ctx: x.ctx, reqID: x.reqID, vars: x.vars}
		if err := s.runHooks(c, rt); err != nil {
			s.fail(c, err)
			return
		}
		h(c)
	})
}

// outer wraps every request, routed or not: request id, per-request timeout,
// panic recovery and the access log. It routes with router.Match and calls
// the handler itself: Router.ServeHTTP would copy the request twice to put
// the variables and the route into its context, and outer a third time
// for the request id and deadline; the exchange carries them instead.
// With New's router (no middlewares, no method matchers, SkipClean, a
// NotFoundHandler) Match always matches and this is exactly what
// ServeHTTP does; any other router is served by its ServeHTTP when Match
// fails.
func (s *server) outer(router *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		x := &exchange{ResponseWriter: w, reqID: newRequestID()}
		w.Header()[canonRequestID] = []string{x.reqID}
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		x.ctx = ctx
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "request_id", x.reqID, "method", r.Method,
					"path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if x.status == 0 {
					writeError(x, newError(http.StatusInternalServerError, titleInternal,
						"An unexpected error prevented the server from fulfilling your request."))
				}
			}
			level := slog.LevelDebug
			if x.status >= 500 {
				level = slog.LevelWarn
			}
			if s.log.Enabled(ctx, level) { // building the attributes allocates
				s.log.LogAttrs(ctx, level, "request", slog.String("request_id", x.reqID),
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", x.status), slog.Duration("duration", time.Since(start)))
			}
		}()
		if m := &x.match; router.Match(r, m) {
			x.vars = m.Vars
			m.Handler.ServeHTTP(x, r)
			return
		}
		router.ServeHTTP(x, r)
	})
}

// exchange is one request in flight: the response writer that remembers
// the status for the access log, what outer hands to dispatch, and the
// call's storage (one allocation for all of it).
type exchange struct {
	http.ResponseWriter
	status int
	reqID  string            // "req-<uuid4>", also the default command RequestID
	ctx    context.Context   // the request's context with its deadline
	vars   map[string]string // route variables
	match  mux.RouteMatch    // outer's routing result
	call   call
}

func (w *exchange) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *exchange) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// fail answers err (see toAPIError) and logs server-side failures.
func (s *server) fail(c *call, err error) {
	e := toAPIError(err)
	if e.status >= 500 {
		s.log.Warn("request failed", "request_id", c.reqID, "status", e.status, "error", err.Error())
	}
	writeError(c.w, e)
}

// apply builds a command and commits it through the backend. The command's
// RequestID is "idem:<project>:<key>" when the client sent an
// Idempotency-Key, else this request's own random id.
func (s *server) apply(c *call, t fsm.CmdType, payload any) (*fsm.Result, error) {
	id := c.reqID
	if c.idemKey != "" {
		id = idempotencyID(c.project, c.idemKey)
	}
	cmd, err := fsm.NewCommand(t, id, payload)
	if err != nil {
		return nil, fsm.Errorf(fsm.CodeInternal, "encoding command: %v", err)
	}
	res, err := s.backend.Apply(c.ctx, cmd)
	switch {
	case err != nil:
		return nil, err
	case res == nil:
		return &fsm.Result{}, nil
	}
	return res, res.Err()
}

// idempotencyID is the command RequestID of a write carrying an
// Idempotency-Key: "idem:<project>:<key>". '%' and ':' in the project are
// percent-escaped so that no (project, key) pair can collide with another
// project's (ordinary project ids are unchanged).
func idempotencyID(project, key string) string {
	project = strings.ReplaceAll(project, "%", "%25")
	project = strings.ReplaceAll(project, ":", "%3A")
	return "idem:" + project + ":" + key
}

// read runs fn on a view of the state: linearizable unless the client asked
// for a stale read.
func (s *server) read(c *call, fn func(*fsm.State)) error {
	return s.backend.Read(c.ctx, c.stale, fn)
}

// nowNano is the reader clock in unix nanoseconds.
func (s *server) nowNano() int64 { return s.now().UnixNano() }
