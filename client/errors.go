package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is a non-2xx answer from the server.
type Error struct {
	Status      int    // HTTP status code
	Title       string // Zaqar error title, or the status text when the body had none
	Description string // Zaqar error description, or the (trimmed) body text
	RequestID   string // x-openstack-request-id of the answer, if any
	// RetryAfter is the server's Retry-After (seconds or HTTP date), 0 if absent.
	RetryAfter time.Duration

	Method string // request method
	Path   string // request path (escaped, without the base URL)
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "herald: %s %s: %d %s", e.Method, e.Path, e.Status, e.Title)
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request %s)", e.RequestID)
	}
	return b.String()
}

// IsStatus reports whether err is (or wraps) a *Error with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// StatusOf returns the status of a *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func newError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{
		Status:     resp.StatusCode,
		RequestID:  resp.Header.Get(HeaderRequestID),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Method:     method,
		Path:       path,
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	var doc struct {
		Title       string `json:"title"`
		Description string `json:"description"`
	}
	if json.Unmarshal(body, &doc) == nil && (doc.Title != "" || doc.Description != "") {
		e.Title, e.Description = doc.Title, doc.Description
	} else {
		d := strings.TrimSpace(string(body))
		if len(d) > 512 {
			d = d[:512] + "..."
		}
		e.Description = d
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	return e
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > 1<<32 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
