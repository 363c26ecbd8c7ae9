// Package clock is the small time abstraction shared by Herald's packages
// that wait: the real clock for production, and Fake for tests that must
// never sleep.
//
// Only the operations the callers need are here: Now, After and NewTimer.
// A Fake lets a test move time forward with Advance and wait, without
// sleeping, until the code under test is blocked on a given number of
// timers (BlockUntil).
package clock

import "time"

// Clock tells the time and makes timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has elapsed.
	// Prefer NewTimer where the wait can be abandoned: an After channel
	// of a Fake stays registered as a waiter until it fires.
	After(d time.Duration) <-chan time.Time
	// NewTimer returns a timer that fires once after d. A d <= 0 fires
	// at once.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer made by a Clock. Its semantics follow
// time.Timer of Go 1.23 and later: after Stop or Reset returns, no stale
// value is received from C.
type Timer interface {
	// C returns the channel on which the timer delivers its time.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer (false if it had already fired or been stopped).
	Stop() bool
	// Reset changes the timer to fire after d. It reports whether the
	// timer had been active.
	Reset(d time.Duration) bool
}

// Real returns the clock of the operating system.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (realClock) NewTimer(d time.Duration) Timer         { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }
