package dispatcher

import (
	"net/url"
	"sort"
	"strings"
	"time"
)

// Status is the dispatcher's part of GET /cluster/status.
type Status struct {
	// Coordinator is true while this node runs the coordinator (leader).
	Coordinator bool `json:"coordinator"`
	// WorkersRunning counts this node's live workers.
	WorkersRunning int `json:"workers_running"`
	// InFlight counts delivery attempts in progress (<= Concurrency).
	InFlight    int64 `json:"in_flight"`
	Concurrency int   `json:"concurrency"`
	// Delivered, Failed, Skipped and Retries count since start on this node.
	Delivered uint64 `json:"delivered"`
	Failed    uint64 `json:"failed"`
	Skipped   uint64 `json:"skipped"`
	Retries   uint64 `json:"retries"`
	// Acks counts committed Acks; AcksFenced those refused because this
	// node was no longer the owner at that epoch; AckErrors other failures
	// (retried).
	Acks       uint64 `json:"acks"`
	AcksFenced uint64 `json:"acks_fenced"`
	AckErrors  uint64 `json:"ack_errors"`
	// Assigns counts Assign commands this node applied as coordinator.
	Assigns uint64 `json:"assigns"`
	// Confirmations counts confirmation notifications handled (sent or
	// given up).
	Confirmations uint64 `json:"confirmations"`
	// Subscriptions describes each subscription this node's workers own,
	// by id.
	Subscriptions []SubscriptionStatus `json:"subscriptions"`
}

// SubscriptionStatus describes one owned subscription. Subscriber shows
// the scheme and host only (never paths, credentials or queries).
type SubscriptionStatus struct {
	ID         string `json:"id"`
	Project    string `json:"project"`
	Source     string `json:"source"` // "<kind>/<name>"
	Subscriber string `json:"subscriber"`
	OwnerEpoch uint64 `json:"owner_epoch"`
	Cursor     uint64 `json:"cursor"`
	// Pending is the outbox tail minus the cursor (an upper bound).
	Pending uint64 `json:"pending"`
	// Delivered and Failed are the subscription's totals (the committed
	// ones, advanced by this worker's own results).
	Delivered   uint64 `json:"delivered"`
	Failed      uint64 `json:"failed"`
	LastError   string `json:"last_error,omitempty"`
	LastErrorAt string `json:"last_error_at,omitempty"` // RFC 3339
	// LagSeconds is the age of the oldest entry not yet handled (0 when
	// caught up).
	LagSeconds float64 `json:"lag_seconds"`

	oldest      int64 // unix ns of the oldest pending entry (0 = none known)
	lastErrorAt int64
}

// Status returns the node-level counters and the owned subscriptions.
func (d *Dispatcher) Status() Status {
	st := Status{
		Coordinator:   d.cfg.Backend.IsLeader() && d.ctx.Err() == nil,
		InFlight:      d.ctr.inFlight.Load(),
		Concurrency:   d.cfg.Concurrency,
		Delivered:     d.ctr.delivered.Load(),
		Failed:        d.ctr.failed.Load(),
		Skipped:       d.ctr.skipped.Load(),
		Retries:       d.ctr.retries.Load(),
		Acks:          d.ctr.acks.Load(),
		AcksFenced:    d.ctr.acksFenced.Load(),
		AckErrors:     d.ctr.ackErrors.Load(),
		Assigns:       d.ctr.assigns.Load(),
		Confirmations: d.ctr.confirms.Load(),
		Subscriptions: []SubscriptionStatus{},
	}
	d.mu.Lock()
	ws := make([]*worker, 0, len(d.workers))
	for _, w := range d.workers {
		if !w.exited() {
			ws = append(ws, w)
		}
	}
	d.mu.Unlock()
	st.WorkersRunning = len(ws)
	now := d.now()
	for _, w := range ws {
		w.mu.Lock()
		s := w.st
		w.mu.Unlock()
		if s.ID == "" {
			continue // not read yet
		}
		if s.oldest > 0 && now > s.oldest {
			s.LagSeconds = float64(now-s.oldest) / float64(time.Second)
		}
		if s.lastErrorAt > 0 {
			s.LastErrorAt = time.Unix(0, s.lastErrorAt).UTC().Format(time.RFC3339)
		}
		st.Subscriptions = append(st.Subscriptions, s)
	}
	sort.Slice(st.Subscriptions, func(i, j int) bool { return st.Subscriptions[i].ID < st.Subscriptions[j].ID })
	return st
}

// observe records a fresh view of the subscription.
func (w *worker) observe(v view, cursor uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.st
	s.ID, s.Project = v.sub.ID, v.sub.Project
	s.Source = v.sub.SourceKind + "/" + v.sub.Source
	s.Subscriber = redactSubscriber(v.sub.Subscriber)
	s.OwnerEpoch = v.sub.OwnerEpoch
	// Local counts run ahead of the (possibly lagging) committed ones.
	s.Delivered = max(s.Delivered, v.sub.Delivered)
	s.Failed = max(s.Failed, v.sub.FailedCount)
	if s.LastError == "" && v.sub.LastError != "" {
		s.LastError, s.lastErrorAt = v.sub.LastError, v.sub.LastErrorAt
	}
	s.Cursor = cursor
	if v.tail > cursor {
		s.Pending = v.tail - cursor
	} else {
		s.Pending = 0
	}
	if len(v.entries) > 0 {
		s.oldest = v.entries[0].Created
	} else {
		s.oldest = 0
	}
}

// setOldest records the creation time of the oldest unhandled entry.
func (w *worker) setOldest(created int64) {
	w.mu.Lock()
	w.st.oldest = created
	w.mu.Unlock()
}

// setCursor records the worker's cursor.
func (w *worker) setCursor(cursor, tail uint64) {
	w.mu.Lock()
	w.st.Cursor = cursor
	if tail > cursor {
		w.st.Pending = tail - cursor
	} else {
		w.st.Pending = 0
	}
	w.mu.Unlock()
}

// noteResult counts one delivery outcome.
func (w *worker) noteResult(ok bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ok {
		w.st.Delivered++
		return
	}
	w.st.Failed++
	w.st.LastError = err.Error()
	w.st.lastErrorAt = w.d.now()
}

// redactSubscriber keeps a subscriber URI's scheme and host: "https://host:port"
// or "mailto:@domain".
func redactSubscriber(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(invalid)"
	}
	if strings.EqualFold(u.Scheme, "mailto") {
		addr := u.Opaque
		if addr == "" {
			addr = u.Path
		}
		if i := strings.LastIndex(addr, "@"); i >= 0 {
			return "mailto:@" + strings.SplitN(addr[i+1:], ",", 2)[0]
		}
		return "mailto:"
	}
	return u.Scheme + "://" + u.Host
}
