package cluster

import (
	"errors"
	"time"
)

// NoLeaderRetryAfter is the Retry-After hint carried by ErrNoLeader: about
// one election plus the time to learn its result.
const NoLeaderRetryAfter = time.Second

// Errors returned by Cluster. Errors from the state machine come back as
// *fsm.Error (compare them with errors.Is against fsm.ErrNotFound etc.).
var (
	// ErrNoLeader reports that no reachable leader was found within
	// Config.LeaderWait (or that leadership kept changing until
	// Config.ApplyTimeout). Every such error satisfies
	// errors.Is(err, ErrNoLeader) and has a method
	// RetryAfter() time.Duration, which httpapi turns into 503 +
	// Retry-After.
	ErrNoLeader error = &noLeaderError{}
	// ErrClosed reports that the cluster is shut down (or was never
	// started).
	ErrClosed = errors.New("cluster closed")
	// ErrForbidden reports that a peer rejected this node's forwarding
	// request because the shared Secret differs.
	ErrForbidden = errors.New("cluster: forwarding rejected: bad cluster secret")
)

// noLeaderError is the type of ErrNoLeader and of every error that wraps
// its meaning with a cause.
type noLeaderError struct {
	cause string // why there was no usable leader; "" for the sentinel
}

func (e *noLeaderError) Error() string {
	if e.cause == "" {
		return "no cluster leader"
	}
	return "no cluster leader: " + e.cause
}

// RetryAfter tells clients when a retry is worth trying.
func (e *noLeaderError) RetryAfter() time.Duration { return NoLeaderRetryAfter }

// Is makes every noLeaderError match the ErrNoLeader sentinel.
func (e *noLeaderError) Is(target error) bool { return target == ErrNoLeader }

// noLeader returns an ErrNoLeader with a cause for the logs. The cause is
// kept as text on purpose: unwrapping to, say, context.DeadlineExceeded
// would let a caller's error mapping classify it as something else.
func noLeader(cause error) error {
	if cause == nil {
		return ErrNoLeader
	}
	return &noLeaderError{cause: cause.Error()}
}
