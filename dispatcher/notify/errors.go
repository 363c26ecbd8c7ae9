package notify

import (
	"errors"
	"fmt"
	"net/netip"
)

// Errors of this package. Delivery errors come wrapped in a
// *RetryableError or a *PermanentError; errors.Is finds these sentinels
// through the wrapping.
var (
	// ErrExhausted wraps the last error once a retry policy has no retry left.
	ErrExhausted = errors.New("notify: retry policy exhausted")
	// ErrRedirect is the cause of a webhook answered with a 3xx status.
	ErrRedirect = errors.New("redirects are not followed")
	// ErrAddressNotAllowed is matched by every *AddressNotAllowedError.
	ErrAddressNotAllowed = errors.New("subscriber address is not allowed")
	// ErrNoSMTP is returned for mailto subscribers when no SMTP server is configured.
	ErrNoSMTP = errors.New("no SMTP server configured")
	// ErrUnsupportedScheme is returned for subscriber URIs no notifier serves.
	ErrUnsupportedScheme = errors.New("unsupported subscriber scheme")
	// ErrBadSubscriber is returned for subscriber URIs that cannot be used.
	ErrBadSubscriber = errors.New("invalid subscriber")
)

// RetryableError marks a delivery failure that may succeed later (network
// errors, timeouts, HTTP 5xx/408/429, SMTP 4xx). Use Retryable to make one.
type RetryableError struct {
	Err error // the cause
}

// Error returns the text of the wrapped error.
func (e *RetryableError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *RetryableError) Unwrap() error { return e.Err }

// PermanentError marks a delivery failure that retrying cannot fix (HTTP
// 3xx and most 4xx, SMTP 5xx, refused addresses, bad subscriber URIs). Use
// Permanent to make one.
type PermanentError struct {
	Err error // the cause
}

// Error returns the text of the wrapped error.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Retryable wraps err as a *RetryableError. It returns nil for nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err}
}

// Permanent wraps err as a *PermanentError. It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err (or an error it wraps) is a
// *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// IsRetryable reports whether err (or an error it wraps) is a
// *RetryableError.
func IsRetryable(err error) bool {
	var r *RetryableError
	return errors.As(err, &r)
}

// StatusError is a webhook answer with an unsuccessful HTTP status. It is
// always wrapped in a *RetryableError or a *PermanentError.
type StatusError struct {
	Code   int    // HTTP status code
	Status string // e.g. "503 Service Unavailable"
}

// Error names the status; it never contains the request or response body.
func (e *StatusError) Error() string {
	if e.Code >= 300 && e.Code < 400 {
		return fmt.Sprintf("webhook: subscriber answered %s: %v", e.Status, ErrRedirect)
	}
	return "webhook: subscriber answered " + e.Status
}

// Is makes errors.Is(err, ErrRedirect) true for 3xx answers.
func (e *StatusError) Is(target error) bool {
	return target == ErrRedirect && e.Code >= 300 && e.Code < 400
}

// AddressNotAllowedError is a subscriber address refused by the address
// guard (loopback, private, link-local, ...; see CheckSubscriberURL).
type AddressNotAllowedError struct {
	Addr netip.Addr // the refused address, unmapped and without zone
}

// Error names the address and the flag that allows it.
func (e *AddressNotAllowedError) Error() string {
	return fmt.Sprintf("subscriber address %s is not allowed (see -subscriber-allow-cidrs)", e.Addr)
}

// Is makes errors.Is(err, ErrAddressNotAllowed) true.
func (e *AddressNotAllowedError) Is(target error) bool { return target == ErrAddressNotAllowed }
