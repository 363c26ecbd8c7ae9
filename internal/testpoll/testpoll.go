// Package testpoll holds the polling helper the test suites share: tests
// wait for a condition with a deadline instead of sleeping.
package testpoll

import (
	"testing"
	"time"
)

// Poll calls cond until it returns true or timeout passes, then fails the
// test naming what it waited for. The pause between calls (5 ms doubling to
// 100 ms) is a polling interval, not synchronisation.
func Poll(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
}
