package clock

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Fake is a manually driven Clock for tests. Time moves only through
// Advance. Timers (and After channels) whose deadline is reached fire
// during Advance, in deadline order. Its methods are safe for concurrent
// use.
type Fake struct {
	mu      sync.Mutex    // guards every field below
	now     time.Time     // the fake current time
	waiters []*fakeTimer  // active timers, in creation order
	changed chan struct{} // closed and replaced whenever waiters changes
}

// NewFake returns a Fake clock whose time starts at start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns the channel of a new timer that fires after d.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTimer returns a timer that fires when the fake time reaches now+d.
// A d <= 0 fires at once and never counts as a waiter.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	f.arm(t, d)
	return t
}

// Advance moves the fake time forward by d and fires every timer whose
// deadline is reached, earliest first.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	due := make([]*fakeTimer, 0, len(f.waiters))
	keep := f.waiters[:0]
	for _, t := range f.waiters {
		if !t.deadline.After(f.now) {
			due = append(due, t)
		} else {
			keep = append(keep, t)
		}
	}
	clear(f.waiters[len(keep):])
	f.waiters = keep
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.deadline.Compare(b.deadline) })
	for _, t := range due {
		t.active = false
		t.send(f.now)
	}
	if len(due) > 0 {
		f.notify()
	}
}

// Waiters returns the number of active timers (including After channels
// that have not fired yet).
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Pending returns the time left until each active timer fires, shortest
// first.
func (f *Fake) Pending() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Duration, 0, len(f.waiters))
	for _, t := range f.waiters {
		out = append(out, t.deadline.Sub(f.now))
	}
	slices.Sort(out)
	return out
}

// BlockUntil waits, without sleeping, until at least n timers are active,
// or ctx is done (then it returns ctx.Err()).
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		if len(f.waiters) >= n {
			f.mu.Unlock()
			return nil
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// arm schedules t to fire after d. f.mu must be held.
func (f *Fake) arm(t *fakeTimer, d time.Duration) {
	t.drain()
	if d <= 0 {
		t.active = false
		t.send(f.now)
		return
	}
	t.deadline = f.now.Add(d)
	t.active = true
	f.waiters = append(f.waiters, t)
	f.notify()
}

// remove deactivates t and reports whether it was active. f.mu must be held.
func (f *Fake) remove(t *fakeTimer) bool {
	if !t.active {
		return false
	}
	t.active = false
	if i := slices.Index(f.waiters, t); i >= 0 {
		f.waiters = slices.Delete(f.waiters, i, i+1)
	}
	f.notify()
	return true
}

// notify wakes every BlockUntil. f.mu must be held.
func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// fakeTimer is a Timer of a Fake; its fields are guarded by f.mu.
type fakeTimer struct {
	f        *Fake
	c        chan time.Time // buffered(1): firing never blocks Advance
	deadline time.Time
	active   bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.f.remove(t)
	t.drain()
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.f.remove(t)
	t.f.arm(t, d)
	return was
}

func (t *fakeTimer) send(now time.Time) {
	select {
	case t.c <- now:
	default:
	}
}

func (t *fakeTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}
