// Package dispatcher delivers the push notifications of Herald's
// subscriptions (ZAQAR-API.md §5). The raft leader runs a coordinator that
// gives every subscription an owner by rendezvous hashing over the live
// voters and records it with a fenced Assign; every node runs one worker
// per subscription it owns, which reads the subscription's outbox from the
// local state machine, sends each entry through notify (with the
// subscription's retry policy) and reports progress with fenced Acks.
// DESIGN.md explains the ordering and at-least-once argument.
//
// The package declares the narrow interfaces it needs (Backend, Members)
// and imports only fsm, internal/* and dispatcher/notify.
package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-mq/herald/dispatcher/notify"
	"github.com/herald-mq/herald/fsm"
	"github.com/herald-mq/herald/internal/clock"
)

// Backend is the replicated state the dispatcher reads and writes: in
// production the node's *cluster.Cluster.
type Backend interface {
	// Apply proposes a command through raft (forwarding to the leader).
	Apply(ctx context.Context, cmd *fsm.Command) (*fsm.Result, error)
	// Read runs fn on the state; stale reads use the local replica.
	Read(ctx context.Context, stale bool, fn func(*fsm.State)) error
	// IsLeader reports whether this node is the raft leader.
	IsLeader() bool
}

// Members reports the cluster members that may own subscriptions.
type Members interface {
	// LiveVoters returns the ids of the raft voters that gossip sees
	// alive (in any order).
	LiveVoters() []string
}

// Signer computes the URL-Signature of a pre-signed URL (ZAQAR-API.md
// §8.2) over paths and methods for project, valid until expires. The node
// injects httpapi.SignURL bound to its signed-URL key.
type Signer func(paths, methods []string, project string, expires time.Time) string

// Defaults of Config.
const (
	DefaultConcurrency       = 64
	DefaultAckBatch          = 64
	DefaultAckInterval       = 100 * time.Millisecond
	DefaultFetchLimit        = 100
	DefaultMembershipPoll    = 500 * time.Millisecond
	DefaultReconcileInterval = 10 * time.Second
	DefaultManagerInterval   = time.Second
	DefaultSignalPoll        = 10 * time.Millisecond
	DefaultFlushTimeout      = 2 * time.Second
)

// Config configures a Dispatcher. Zero values take the defaults above.
type Config struct {
	// NodeID is this node's id: the Owner it acks as. Required.
	NodeID string
	// Backend reads and writes the replicated state. Required.
	Backend Backend
	// Members lists the possible owners (used while leader). Required.
	Members Members
	// AppliedIndex, when set, is polled every SignalPoll; a change wakes
	// the coordinator, the manager and idle workers. Without it they wake
	// on their periodic ticks only.
	AppliedIndex func() uint64
	// Notifier sends one notification (usually a *notify.Registry). Required.
	Notifier notify.Notifier
	// RequireConfirmation skips unconfirmed subscriptions (acked as
	// Skipped) and sends confirmation notifications (§5.3).
	RequireConfirmation bool
	// Signer signs confirmation URLs; nil (no signed-URL key) sends no
	// confirmation, which stays pending in the FSM (Zaqar sends nothing).
	Signer Signer
	// ConfirmPath returns the confirm endpoint path of a subscription
	// (the node passes httpapi.ConfirmPath); default
	// "/v2/queues/<source>/subscriptions/<id>/confirm", "/v2/topics/..."
	// for topics.
	ConfirmPath func(kind, source, id string) string
	// ExternalURL is the public base URL of the API ("https://mq.example");
	// when set, confirmations carry WSGISubscribeURL.
	ExternalURL string
	// Concurrency bounds the delivery attempts in flight on this node.
	Concurrency int
	// AckBatch and AckInterval: a worker acks after this many handled
	// entries or this long after the first unacked one, whichever first.
	AckBatch    int
	AckInterval time.Duration
	// FetchLimit is how many outbox entries a worker reads at once.
	FetchLimit int
	// MembershipPoll is how often the coordinator compares LiveVoters
	// (and how often leadership is checked, at a fifth of it).
	MembershipPoll time.Duration
	// ReconcileInterval is the coordinator's periodic full pass.
	ReconcileInterval time.Duration
	// ManagerInterval is the manager's fallback tick.
	ManagerInterval time.Duration
	// SignalPoll is how often AppliedIndex is polled.
	SignalPoll time.Duration
	// FlushTimeout bounds the final Ack of a stopping worker.
	FlushTimeout time.Duration
	// Clock drives retry waits and error timestamps (default real). Loop
	// cadences (ticks, ack batching) use real time.
	Clock clock.Clock
	// Log receives the dispatcher's logs (component=dispatcher).
	Log *slog.Logger
}

// Errors of Config validation.
var (
	ErrConfig = errors.New("dispatcher: invalid config")
)

func (c *Config) validate() error {
	if c.NodeID == "" || c.Backend == nil || c.Members == nil || c.Notifier == nil {
		return errors.Join(ErrConfig, errors.New("NodeID, Backend, Members and Notifier are required"))
	}
	setInt(&c.Concurrency, DefaultConcurrency)
	setInt(&c.AckBatch, DefaultAckBatch)
	setInt(&c.FetchLimit, DefaultFetchLimit)
	setDur(&c.AckInterval, DefaultAckInterval)
	setDur(&c.MembershipPoll, DefaultMembershipPoll)
	setDur(&c.ReconcileInterval, DefaultReconcileInterval)
	setDur(&c.ManagerInterval, DefaultManagerInterval)
	setDur(&c.SignalPoll, DefaultSignalPoll)
	setDur(&c.FlushTimeout, DefaultFlushTimeout)
	if c.ConfirmPath == nil {
		c.ConfirmPath = defaultConfirmPath
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

func defaultConfirmPath(kind, source, id string) string {
	prefix := "/v2/queues/"
	if kind == fsm.SourceTopic {
		prefix = "/v2/topics/"
	}
	return prefix + source + "/subscriptions/" + id + "/confirm"
}

func setInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

func setDur(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}

// Dispatcher runs the coordinator (while leader), the worker manager and
// the workers of one node.
type Dispatcher struct {
	cfg Config
	log *slog.Logger
	sem chan struct{} // delivery attempts in flight (Concurrency slots)
	sig *signal

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // signal watcher, leader watch, manager

	kick chan struct{} // wakes the manager (a worker exited); capacity 1

	mu      sync.Mutex         // guards workers and fenced
	workers map[string]*worker // subscription id -> its worker (running or stopping)
	fenced  map[string]uint64  // subscription id -> epoch at which an Ack was refused

	started   atomic.Bool
	noFlush   atomic.Bool // set by Abort: workers skip their final Ack
	closeOnce sync.Once

	ctr counters
}

// counters are node-level figures for Status.
type counters struct {
	inFlight    atomic.Int64
	delivered   atomic.Uint64
	failed      atomic.Uint64
	skipped     atomic.Uint64
	retries     atomic.Uint64
	acks        atomic.Uint64
	acksFenced  atomic.Uint64
	ackErrors   atomic.Uint64
	assigns     atomic.Uint64
	confirms    atomic.Uint64
	leaderTerms atomic.Uint64
}

// New validates cfg and returns a dispatcher; nothing runs until Start.
func New(cfg Config) (*Dispatcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{
		cfg:     cfg,
		log:     cfg.Log.With("component", "dispatcher"),
		sem:     make(chan struct{}, cfg.Concurrency),
		sig:     newSignal(),
		ctx:     ctx,
		cancel:  cancel,
		kick:    make(chan struct{}, 1),
		workers: map[string]*worker{},
		fenced:  map[string]uint64{},
	}
	return d, nil
}

// Start launches the signal watcher, the leadership watch (which runs the
// coordinator while this node leads) and the worker manager. Calling it
// twice, or after Close, does nothing.
func (d *Dispatcher) Start() {
	if d.ctx.Err() != nil || !d.started.CompareAndSwap(false, true) {
		return
	}
	if d.cfg.RequireConfirmation && d.cfg.Signer == nil {
		d.log.Warn("require-confirmation is on but no signed-URL key is set: confirmation notifications are not sent")
	}
	if d.cfg.AppliedIndex != nil {
		d.wg.Add(1)
		go d.watchApplied() // owner: Dispatcher; stopped by Close
	}
	d.wg.Add(2)
	go d.leaderWatch() // owner: Dispatcher; stopped by Close
	go d.manage()      // owner: Dispatcher; stopped by Close
}

// Close stops the coordinator, the manager and every worker (each makes a
// final Ack bounded by FlushTimeout) and waits for them. Idempotent.
func (d *Dispatcher) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		d.wg.Wait()
	})
	return nil
}

// Abort stops like Close but as a crash would: in-flight deliveries are
// cut and no final Ack is made (the next owner re-sends what was not
// acknowledged). Idempotent with Close.
func (d *Dispatcher) Abort() {
	d.noFlush.Store(true)
	d.Close()
}

// watchApplied polls AppliedIndex and broadcasts every change.
func (d *Dispatcher) watchApplied() {
	defer d.wg.Done()
	t := time.NewTicker(d.cfg.SignalPoll)
	defer t.Stop()
	last := d.cfg.AppliedIndex()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		if cur := d.cfg.AppliedIndex(); cur != last {
			last = cur
			d.sig.broadcast()
		}
	}
}

// leaderWatch runs the coordinator while this node is the raft leader:
// started when leadership is gained, cancelled and awaited when it is lost.
func (d *Dispatcher) leaderWatch() {
	defer d.wg.Done()
	t := time.NewTicker(max(d.cfg.MembershipPoll/5, 10*time.Millisecond))
	defer t.Stop()
	var (
		stop func()
		done chan struct{}
	)
	defer func() {
		if stop != nil {
			stop()
			<-done
		}
	}()
	for {
		leader := d.cfg.Backend.IsLeader()
		switch {
		case leader && stop == nil:
			ctx, cancel := context.WithCancel(d.ctx)
			stop, done = cancel, make(chan struct{})
			d.ctr.leaderTerms.Add(1)
			d.log.Info("coordinator started")
			go func(done chan struct{}) { // owner: leaderWatch; stopped by stop()
				defer close(done)
				d.coordinate(ctx)
			}(done)
		case !leader && stop != nil:
			stop()
			<-done
			stop, done = nil, nil
			d.log.Info("coordinator stopped: leadership lost")
		}
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// now is the dispatcher's wall time in unix ns (FSM reads compare expiry
// against it).
func (d *Dispatcher) now() int64 { return d.cfg.Clock.Now().UnixNano() }

// signal broadcasts "something was applied" to any number of waiters.
type signal struct {
	mu sync.Mutex    // guards ch
	ch chan struct{} // closed and replaced on every broadcast
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// wait returns a channel closed at the next broadcast.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
