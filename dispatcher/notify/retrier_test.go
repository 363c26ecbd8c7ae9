package notify

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-mq/herald/internal/clock"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testCtx is a context that ends the test's waits after 10 s.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// retryRun is the outcome of one Retrier.Run under a fake clock.
type retryRun struct {
	offsets  []time.Duration // fake time of each attempt since t0
	attempts int
	err      error
}

// runRetrier runs Retrier.Run with a fake clock that a driver goroutine
// advances to the next timer as soon as Run blocks on one. outcome(i)
// gives the result of attempt i (0-based).
func runRetrier(t *testing.T, p RetryPolicy, outcome func(i int) error) retryRun {
	t.Helper()
	fake := clock.NewFake(t0)
	var mu sync.Mutex // guards offsets
	var res retryRun
	attempt := func(context.Context) error {
		mu.Lock()
		i := len(res.offsets)
		res.offsets = append(res.offsets, fake.Now().Sub(t0))
		mu.Unlock()
		return outcome(i)
	}
	ctx := testCtx(t)
	driverCtx, stopDriver := context.WithCancel(ctx)
	driverDone := make(chan struct{})
	go func() {
		defer close(driverDone)
		for fake.BlockUntil(driverCtx, 1) == nil {
			fake.Advance(fake.Pending()[0])
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		res.attempts, res.err = Retrier{Clock: fake}.Run(context.Background(), p, attempt)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Retrier.Run did not finish")
	}
	stopDriver()
	<-driverDone
	return res
}

// cumulative returns the attempt offsets for the given waits between them.
func cumulative(delays []int) []time.Duration {
	out := []time.Duration{0}
	var at time.Duration
	for _, d := range delays {
		at += time.Duration(d) * time.Second
		out = append(out, at)
	}
	return out
}

var errFlaky = Retryable(errors.New("subscriber answered 503 Service Unavailable"))

func TestRetrierScheduleForEachBackoffFunction(t *testing.T) {
	// The series are the documented values (§5.4), not Backoff()'s output.
	series := map[string][]int{
		BackoffLinear:      {5, 10, 15, 20, 25},
		BackoffGeometric:   {5, 7, 12, 19, 30},
		BackoffExponential: {5, 7, 12, 19, 30},
		BackoffArithmetic:  {5, 7, 12, 20, 30},
	}
	for fn, s := range series {
		t.Run(fn, func(t *testing.T) {
			p := DefaultRetryPolicy()
			p.BackoffFunction = fn
			delays := append(append([]int{0, 0, 0, 5, 5, 5}, s...), 30, 30, 30)
			res := runRetrier(t, p, func(int) error { return errFlaky })
			if want := cumulative(delays); !slices.Equal(res.offsets, want) {
				t.Fatalf("attempt times = %v, want %v", res.offsets, want)
			}
			if res.attempts != 15 {
				t.Fatalf("attempts = %d, want 15", res.attempts)
			}
			if !errors.Is(res.err, ErrExhausted) || !IsRetryable(res.err) {
				t.Fatalf("err = %v, want ErrExhausted wrapping the retryable error", res.err)
			}
		})
	}
	// Spelled out once: the default linear schedule in seconds.
	res := runRetrier(t, DefaultRetryPolicy(), func(int) error { return errFlaky })
	want := secs(0, 0, 0, 0, 5, 10, 15, 20, 30, 45, 65, 90, 120, 150, 180)
	if !slices.Equal(res.offsets, want) {
		t.Fatalf("default schedule = %v, want %v", res.offsets, want)
	}
}

func TestRetrierScheduleOfSelectedPolicy(t *testing.T) {
	queue := json.RawMessage(`{"minimum_delay": 10, "maximum_delay": 60, "retry_backoff_function": "arithmetic", "retries_with_no_delay": 1, "minimum_delay_retries": 1, "maximum_delay_retries": 1, "ignore_subscription_override": true}`)
	sub := json.RawMessage(`{"retries_with_no_delay": 0, "minimum_delay_retries": 0, "maximum_delay_retries": 0}`)
	res := runRetrier(t, SelectPolicy(queue, sub), func(int) error { return errFlaky })
	delays := []int{0, 10, 10, 11, 13, 16, 21, 26, 33, 41, 50, 60, 60}
	if want := cumulative(delays); !slices.Equal(res.offsets, want) {
		t.Fatalf("attempt times = %v, want %v", res.offsets, want)
	}

	// Without the override flag the subscription's policy applies.
	queue = json.RawMessage(`{"minimum_delay": 10, "maximum_delay": 60}`)
	sub = json.RawMessage(`{"retries_with_no_delay": 1, "minimum_delay_retries": 1, "maximum_delay_retries": 1, "retry_backoff_function": "geometric"}`)
	res = runRetrier(t, SelectPolicy(queue, sub), func(int) error { return errFlaky })
	if want := cumulative([]int{0, 5, 5, 7, 12, 19, 30, 30}); !slices.Equal(res.offsets, want) {
		t.Fatalf("attempt times = %v, want %v", res.offsets, want)
	}
}

func TestRetrierStops(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		res := runRetrier(t, DefaultRetryPolicy(), func(i int) error {
			if i == 4 {
				return nil
			}
			return errFlaky
		})
		if res.err != nil || res.attempts != 5 {
			t.Fatalf("attempts=%d err=%v, want 5 and nil", res.attempts, res.err)
		}
		if want := secs(0, 0, 0, 0, 5); !slices.Equal(res.offsets, want) {
			t.Fatalf("attempt times = %v, want %v", res.offsets, want)
		}
	})
	t.Run("permanent", func(t *testing.T) {
		perm := Permanent(errors.New("subscriber answered 404 Not Found"))
		res := runRetrier(t, DefaultRetryPolicy(), func(i int) error {
			if i == 5 {
				return perm
			}
			return errFlaky
		})
		if res.err != perm || res.attempts != 6 || errors.Is(res.err, ErrExhausted) {
			t.Fatalf("attempts=%d err=%v, want 6 and the permanent error", res.attempts, res.err)
		}
	})
	t.Run("unclassified errors are retried", func(t *testing.T) {
		res := runRetrier(t, DefaultRetryPolicy(), func(i int) error {
			if i < 3 {
				return errors.New("boom")
			}
			return nil
		})
		if res.err != nil || res.attempts != 4 {
			t.Fatalf("attempts=%d err=%v", res.attempts, res.err)
		}
	})
	t.Run("no retries", func(t *testing.T) {
		res := runRetrier(t, RetryPolicy{}, func(int) error { return errFlaky })
		if res.attempts != 1 || !errors.Is(res.err, ErrExhausted) {
			t.Fatalf("attempts=%d err=%v", res.attempts, res.err)
		}
	})
}

func TestRetrierContextCancelledDuringWait(t *testing.T) {
	fake := clock.NewFake(t0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		attempts int
		err      error
	}
	done := make(chan result, 1)
	go func() {
		n, err := Retrier{Clock: fake}.Run(ctx, DefaultRetryPolicy(), func(context.Context) error { return errFlaky })
		done <- result{n, err}
	}()
	if err := fake.BlockUntil(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	var r result
	select {
	case r = <-done:
	case <-testCtx(t).Done():
		t.Fatal("Run did not return after cancel")
	}
	if r.attempts != 4 || !errors.Is(r.err, context.Canceled) || !errors.Is(r.err, errFlaky) {
		t.Fatalf("attempts=%d err=%v, want 4 and context.Canceled with the last error", r.attempts, r.err)
	}
	if n := fake.Waiters(); n != 0 {
		t.Fatalf("%d timers left behind", n)
	}
	if n, err := (Retrier{Clock: fake}).Run(ctx, DefaultRetryPolicy(), nil); n != 0 || err != context.Canceled {
		t.Fatalf("Run on a done context = %d, %v", n, err)
	}
}
