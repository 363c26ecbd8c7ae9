package dispatcher

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/herald-mq/herald/dispatcher/notify"
	"github.com/herald-mq/herald/fsm"
	"github.com/herald-mq/herald/internal/filterpolicy"
)

// maxAckBackoff caps the wait between attempts of an Ack that failed for
// a reason other than fencing (no leader, timeout).
const maxAckBackoff = 2 * time.Second

// signedDateFormat is the URL-Expires format of confirmations.
const signedDateFormat = "2006-01-02T15:04:05"

// worker delivers one subscription's outbox, in order, as its owner at
// one epoch. It is started and cancelled by the manager.
type worker struct {
	d                      *Dispatcher
	id, project, kind, src string
	epoch                  uint64
	cancel                 context.CancelFunc
	done                   chan struct{} // closed when run returns

	mu sync.Mutex         // guards st
	st SubscriptionStatus // what Status reports
}

// exited reports whether run has returned.
func (w *worker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// view is what one read of the state gives a worker.
type view struct {
	sub     fsm.SubscriptionInfo
	base    uint64 // the cursor the entries follow
	entries []fsm.OutboxEntry
	tail    uint64
	queueRP json.RawMessage // the source queue's (or topic's) _retry_policy
}

// pendingAck accumulates progress not yet committed. Once an Apply of it
// was attempted its content is frozen (the same RequestID is retried, so
// a retry after an unknown outcome is applied once).
type pendingAck struct {
	ack       fsm.Ack
	dirty     bool
	n         int       // entries handled since the last commit
	since     time.Time // when the first of them was handled
	requestID string
}

func (p *pendingAck) handled() {
	if !p.dirty {
		p.since = time.Now()
	}
	p.dirty = true
	p.n++
}

// errGone ends a worker whose subscription is gone or no longer ours.
var errGone = errors.New("dispatcher: subscription gone or not owned")

// run is the worker's loop; see DESIGN.md "Workers".
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	defer w.d.kickManager()
	d := w.d
	log := d.log.With("subscription", w.id, "epoch", w.epoch)
	acc := pendingAck{ack: fsm.Ack{SubscriptionID: w.id, Owner: d.cfg.NodeID, Epoch: w.epoch}}
	var (
		cursor      uint64
		started     bool
		confirmSent uint64 // the last confirmation request this worker sent
		filter      subFilter
	)
	fenced := false
	defer func() {
		if fenced || !acc.dirty || d.noFlush.Load() {
			return
		}
		fctx, cancel := context.WithTimeout(context.Background(), d.cfg.FlushTimeout)
		defer cancel()
		w.flush(fctx, &acc)
	}()
	log.Debug("worker started")
	for ctx.Err() == nil {
		if acc.dirty && time.Since(acc.since) >= d.cfg.AckInterval {
			if fenced = w.flush(ctx, &acc); fenced {
				return
			}
		}
		wake := d.sig.wait() // taken before the read: no entry slips between
		v, err := w.read(ctx, cursor, started)
		if errors.Is(err, errGone) {
			log.Debug("worker stopping: subscription gone or moved")
			return
		}
		if err != nil {
			if !sleep(ctx, 100*time.Millisecond) {
				return
			}
			continue
		}
		if !started {
			cursor, started = v.base, true
		}
		policy := notify.SelectPolicy(v.queueRP, v.sub.Options["_retry_policy"])
		fp := filter.get(v.sub.Options[filterpolicy.OptionKey], log)
		w.observe(v, cursor)

		if d.cfg.RequireConfirmation && d.cfg.Signer != nil &&
			v.sub.ConfirmRequested > max(v.sub.ConfirmSent, confirmSent) {
			w.sendConfirmation(ctx, v.sub, policy, &acc)
			if ctx.Err() != nil {
				return
			}
			confirmSent = v.sub.ConfirmRequested
			acc.ack.ConfirmSent = confirmSent
			acc.handled()
			if fenced = w.flush(ctx, &acc); fenced {
				return
			}
			continue
		}

		if len(v.entries) == 0 {
			if v.tail > cursor { // everything after the cursor expired
				cursor = v.tail
				acc.ack.Cursor = cursor
				acc.handled()
			}
			w.idle(ctx, wake, &acc)
			continue
		}
		complete := true
		for i, e := range v.entries {
			if ctx.Err() != nil {
				complete = false
				break
			}
			w.setOldest(e.Created)
			if (d.cfg.RequireConfirmation && !v.sub.Confirmed) || !fp.Match(e.Body) { // unconfirmed, or filtered out
				acc.ack.Skipped++
				d.ctr.skipped.Add(1)
			} else {
				attempts, err := w.deliver(ctx, v.sub, e, policy)
				if ctx.Err() != nil { // stopping: not handled, the next owner sends it
					complete = false
					break
				}
				d.ctr.retries.Add(uint64(max(attempts-1, 0)))
				if err != nil {
					acc.ack.Failed = append(acc.ack.Failed, fsm.FailedDelivery{
						Seq: e.Seq, MessageID: e.MessageID, Error: err.Error(), Attempts: attempts})
					acc.ack.LastError = err.Error()
					acc.ack.LastErrorAt = d.now()
					d.ctr.failed.Add(1)
					w.noteResult(false, err)
					log.Info("delivery failed", "seq", e.Seq, "message_id", e.MessageID, "attempts", attempts, "err", err)
				} else {
					acc.ack.Delivered++
					d.ctr.delivered.Add(1)
					w.noteResult(true, nil)
				}
			}
			cursor = e.Seq
			acc.ack.Cursor = cursor
			acc.handled()
			if i+1 < len(v.entries) {
				w.setOldest(v.entries[i+1].Created)
			} else {
				w.setOldest(0)
			}
			w.setCursor(cursor, v.tail)
			if acc.n >= d.cfg.AckBatch || time.Since(acc.since) >= d.cfg.AckInterval {
				if fenced = w.flush(ctx, &acc); fenced {
					return
				}
			}
		}
		// A short page holds every unexpired entry up to the tail read
		// with it: the seqs after it expired.
		if complete && len(v.entries) < d.cfg.FetchLimit && v.tail > cursor {
			cursor = v.tail
			acc.ack.Cursor = cursor
			acc.handled()
		}
	}
}

// subFilter is a worker's parsed filter policy (internal/filterpolicy).
// A PATCH of the options does not restart the worker, so the policy is
// re-parsed whenever the stored bytes change.
type subFilter struct {
	raw json.RawMessage
	p   *filterpolicy.Policy
	set bool
}

// get returns the policy of the options value raw (nil: deliver
// everything). An invalid stored policy, which the API refuses, is logged
// once per value and filters nothing.
func (f *subFilter) get(raw json.RawMessage, log *slog.Logger) *filterpolicy.Policy {
	if f.set && bytes.Equal(raw, f.raw) {
		return f.p
	}
	f.raw, f.set = bytes.Clone(raw), true
	var err error
	f.p, err = filterpolicy.FromOptions(map[string]json.RawMessage{filterpolicy.OptionKey: raw})
	if err != nil {
		log.Warn("invalid stored filter policy; delivering every message", "err", err)
	}
	return f.p
}

// read takes one consistent view: the subscription (must still be ours at
// our epoch) and the entries after cursor. The first read is
// linearizable, so a worker starts from the latest committed cursor (a
// previous owner's last Ack) rather than a lagging replica's.
func (w *worker) read(ctx context.Context, cursor uint64, started bool) (view, error) {
	d := w.d
	var v view
	now := d.now()
	gone := false
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := d.cfg.Backend.Read(rctx, started, func(s *fsm.State) {
		sub, ok := s.SubscriptionByID(w.project, w.id, now)
		if !ok || sub.Owner != d.cfg.NodeID || sub.OwnerEpoch != w.epoch {
			gone = true
			return
		}
		v.sub = sub
		v.base = cursor
		if !started {
			v.base = sub.Cursor
		}
		v.entries = s.OutboxEntries(w.project, w.kind, w.src, v.base, d.cfg.FetchLimit, now)
		v.tail = s.OutboxTail(w.project, w.kind, w.src)
		if w.kind == fsm.SourceTopic { // a topic's policy is in the topic's metadata
			if t, ok := s.Topic(w.project, w.src); ok {
				v.queueRP = t.Metadata["_retry_policy"]
			}
		} else if q, ok := s.Queue(w.project, w.src); ok {
			v.queueRP = q.Metadata["_retry_policy"]
		}
	})
	if err != nil {
		return view{}, err
	}
	if gone {
		return view{}, errGone
	}
	return v, nil
}

// idle waits for new entries: until wake (something was applied), the
// time the pending Ack falls due, a fallback tick, or ctx.
func (w *worker) idle(ctx context.Context, wake <-chan struct{}, acc *pendingAck) {
	wait := w.d.cfg.ManagerInterval
	if acc.dirty {
		wait = max(w.d.cfg.AckInterval-time.Since(acc.since), 0)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// flush commits acc with a fenced Ack, retrying other failures with
// backoff until it commits or ctx ends (acc is then kept for the final
// flush). It reports whether the worker must stop at once: the Ack was
// refused (CodeForbidden: another owner or epoch) or the subscription is
// gone.
func (w *worker) flush(ctx context.Context, acc *pendingAck) (stop bool) {
	if !acc.dirty {
		return false
	}
	d := w.d
	if acc.requestID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		acc.requestID = "ack-" + hex.EncodeToString(b[:])
	}
	cmd, err := fsm.NewCommand(fsm.CmdAck, acc.requestID, acc.ack)
	if err != nil {
		d.log.Error("cannot encode ack", "err", err)
		return true
	}
	backoff := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := d.cfg.Backend.Apply(actx, cmd)
		cancel()
		if err == nil {
			err = res.Err()
		}
		switch {
		case err == nil:
			d.ctr.acks.Add(1)
			*acc = pendingAck{ack: fsm.Ack{SubscriptionID: w.id, Owner: d.cfg.NodeID, Epoch: w.epoch}}
			return false
		case errors.Is(err, fsm.ErrForbidden):
			d.ctr.acksFenced.Add(1)
			d.noteFenced(w.id, w.epoch)
			d.log.Info("ack refused: no longer the owner; worker stops", "subscription", w.id, "epoch", w.epoch)
			return true
		case errors.Is(err, fsm.ErrNotFound):
			return true
		}
		d.ctr.ackErrors.Add(1)
		d.log.Debug("ack failed; retrying", "subscription", w.id, "err", err)
		if ctx.Err() != nil || !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, maxAckBackoff)
	}
}

// deliver sends one outbox entry under policy.
func (w *worker) deliver(ctx context.Context, sub fsm.SubscriptionInfo, e fsm.OutboxEntry, policy notify.RetryPolicy) (int, error) {
	n := &notify.Notification{
		Kind:           notify.KindNotification,
		SubscriptionID: sub.ID,
		Project:        sub.Project,
		SourceKind:     sub.SourceKind,
		Source:         sub.Source,
		Subscriber:     sub.Subscriber,
		Options:        sub.Options,
		MessageID:      e.MessageID,
		Seq:            e.Seq,
		Payload:        notify.BuildPayload(e.Body, e.TTL, e.Delay, sub.Source),
		Secret:         sub.Secret,
	}
	return notify.Retrier{Clock: w.d.cfg.Clock}.Run(ctx, policy, func(ctx context.Context) error {
		return w.d.attempt(ctx, n)
	})
}

// attempt makes one delivery attempt inside the node's concurrency bound.
func (d *Dispatcher) attempt(ctx context.Context, n *notify.Notification) error {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.ctr.inFlight.Add(1)
	defer func() {
		d.ctr.inFlight.Add(-1)
		<-d.sem
	}()
	return d.cfg.Notifier.Notify(ctx, n)
}

// sendConfirmation sends the pending SubscriptionConfirmation or
// UnsubscribeConfirmation (§5.3) under the subscription's retry policy. A
// final failure is recorded as the subscription's last error; the request
// then counts as handled (it is not retried forever).
func (w *worker) sendConfirmation(ctx context.Context, sub fsm.SubscriptionInfo, policy notify.RetryPolicy, acc *pendingAck) {
	d := w.d
	now := d.cfg.Clock.Now().UTC().Truncate(time.Second)
	ttl := min(max(sub.TTL, 0), int64(math.MaxInt64/int64(time.Second)/2))
	expires := now.Add(time.Duration(ttl) * time.Second)
	if expires.Year() > 9999 {
		expires = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	}
	paths := d.cfg.ConfirmPath(sub.SourceKind, sub.Source, sub.ID)
	c := notify.Confirmation{
		Unsubscribe: sub.ConfirmUnsubscribe,
		Source:      sub.Source,
		Signature:   d.cfg.Signer([]string{paths}, []string{"PUT"}, sub.Project, expires),
		Paths:       paths,
		Project:     sub.Project,
		Expires:     expires.Format(signedDateFormat),
	}
	if d.cfg.ExternalURL != "" {
		c.WSGISubscribeURL = strings.TrimRight(d.cfg.ExternalURL, "/") + paths
	}
	n := &notify.Notification{
		Kind:           c.Kind(),
		SubscriptionID: sub.ID,
		Project:        sub.Project,
		SourceKind:     sub.SourceKind,
		Source:         sub.Source,
		Subscriber:     sub.Subscriber,
		Options:        sub.Options,
		Payload:        notify.BuildConfirmation(c),
		Secret:         sub.Secret,
	}
	attempts, err := notify.Retrier{Clock: d.cfg.Clock}.Run(ctx, policy, func(ctx context.Context) error {
		return d.attempt(ctx, n)
	})
	if ctx.Err() != nil {
		return
	}
	d.ctr.confirms.Add(1)
	d.ctr.retries.Add(uint64(max(attempts-1, 0)))
	if err != nil {
		acc.ack.LastError = "confirmation: " + err.Error()
		acc.ack.LastErrorAt = d.now()
		w.noteResult(false, err)
		d.log.Info("confirmation not delivered", "subscription", sub.ID, "kind", c.Kind(), "attempts", attempts, "err", err)
		return
	}
	d.log.Info("confirmation sent", "subscription", sub.ID, "kind", c.Kind())
}
