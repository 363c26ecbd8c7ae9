package clock

import (
	"context"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFakeTimerFiresOnAdvance(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(5 * time.Second)
	if got := f.Waiters(); got != 1 {
		t.Fatalf("waiters = %d, want 1", got)
	}
	if got := f.Pending(); len(got) != 1 || got[0] != 5*time.Second {
		t.Fatalf("pending = %v, want [5s]", got)
	}
	f.Advance(4 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Second)
	select {
	case got := <-tm.C():
		if want := t0.Add(5 * time.Second); !got.Equal(want) {
			t.Fatalf("fired with %v, want %v", got, want)
		}
	default:
		t.Fatal("did not fire at its deadline")
	}
	if f.Waiters() != 0 {
		t.Fatal("fired timer still counted as a waiter")
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported true")
	}
}

func TestFakeZeroDurationFiresAtOnce(t *testing.T) {
	f := NewFake(t0)
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
	if f.Waiters() != 0 {
		t.Fatal("After(0) counted as a waiter")
	}
}

func TestFakeStopAndReset(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of an active timer reported false")
	}
	f.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if tm.Reset(2 * time.Second) {
		t.Fatal("Reset of a stopped timer reported true")
	}
	f.Advance(2 * time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("reset timer did not fire")
	}
	// Reset drops an unreceived value (Go 1.23 semantics).
	tm.Reset(time.Second)
	f.Advance(time.Second)
	tm.Reset(time.Second)
	select {
	case <-tm.C():
		t.Fatal("stale value received after Reset")
	default:
	}
}

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	f := NewFake(t0)
	late := f.NewTimer(3 * time.Second)
	early := f.NewTimer(time.Second)
	if got := f.Pending(); len(got) != 2 || got[0] != time.Second || got[1] != 3*time.Second {
		t.Fatalf("pending = %v", got)
	}
	f.Advance(10 * time.Second)
	<-early.C()
	<-late.C()
	if !f.Now().Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("now = %v", f.Now())
	}
}

func TestFakeBlockUntil(t *testing.T) {
	f := NewFake(t0)
	fired := make(chan time.Time)
	go func() { fired <- <-f.After(time.Minute) }()
	if err := f.BlockUntil(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Minute)
	if got := <-fired; !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("fired with %v", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.BlockUntil(ctx, 1); err != context.Canceled {
		t.Fatalf("BlockUntil on a done context = %v, want context.Canceled", err)
	}
}

func TestRealClock(t *testing.T) {
	c := Real()
	if c.Now().IsZero() {
		t.Fatal("zero time")
	}
	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Fatal("Stop of a fresh real timer reported false")
	}
	<-c.After(0)
}
