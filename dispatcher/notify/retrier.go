package notify

import (
	"context"
	"fmt"

	"github.com/herald-mq/herald/internal/clock"
)

// Retrier runs one delivery under a retry policy, waiting on Clock (the
// real clock when nil). A zero Retrier is ready to use.
type Retrier struct {
	Clock clock.Clock
}

// Run calls attempt, and after each failure that is not Permanent waits
// the next delay of p.Delays() and calls it again. Errors that are neither
// Retryable nor Permanent are retried. It stops at the first success
// (nil error), at a Permanent error (returned as is), when the policy is
// exhausted (the last error wrapped with ErrExhausted), or when ctx is
// done (ctx.Err() joined with the last error). attempts counts the calls
// made.
func (r Retrier) Run(ctx context.Context, p RetryPolicy, attempt func(ctx context.Context) error) (attempts int, err error) {
	clk := r.Clock
	if clk == nil {
		clk = clock.Real()
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	attempts = 1
	last := attempt(ctx)
	for _, d := range p.Delays() {
		if last == nil || IsPermanent(last) {
			return attempts, last
		}
		if d > 0 {
			t := clk.NewTimer(d)
			select {
			case <-t.C():
			case <-ctx.Done():
				t.Stop()
				return attempts, fmt.Errorf("notify: delivery abandoned after %d attempts: %w (last error: %w)", attempts, ctx.Err(), last)
			}
		} else if ctx.Err() != nil {
			return attempts, fmt.Errorf("notify: delivery abandoned after %d attempts: %w (last error: %w)", attempts, ctx.Err(), last)
		}
		attempts++
		last = attempt(ctx)
	}
	if last == nil || IsPermanent(last) {
		return attempts, last
	}
	return attempts, fmt.Errorf("%w after %d attempts: %w", ErrExhausted, attempts, last)
}
