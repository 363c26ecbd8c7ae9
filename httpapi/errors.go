package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// Errors returned by New.
var (
	// ErrNoBackend: Config.Backend is nil.
	ErrNoBackend = errors.New("httpapi: Config.Backend is required")
	// ErrNoOps: Config.Ops is nil.
	ErrNoOps = errors.New("httpapi: Config.Ops is required")
	// ErrBadTimeout: Config.RequestTimeout is negative.
	ErrBadTimeout = errors.New("httpapi: Config.RequestTimeout must not be negative")
)

// Zaqar's error titles (ZAQAR-API.md §0.2). Clients read title and
// description, so they are part of the contract.
const (
	titleInvalidAPI    = "Invalid API request"
	titleInvalidBody   = "Invalid request body"
	titleNotFound      = "Not found"
	titleConflict      = "Resource conflict"
	titleUnableDelete  = "Unable to delete"
	titleUnableUpdSub  = "Unable to update subscription"
	titleUnableConfirm = "Unable to confirm subscription"
	titleUnavailable   = "Service temporarily unavailable"
	titleNotAuthorized = "Not authorized"
	titleInternal      = "Internal server error"
	titleMissingHeader = "Missing header value"
	titleWrongUUID     = "Wrong UUID value"
	titleInvalidParam  = "Invalid parameter"
	titleInvalidCT     = "Invalid Content-Type"
	titleMediaType     = "Invalid media type"
	titleQueueID       = "Invalid queue identification"
	titleProjectMiss   = "Project-Id Missing"
	titleProjectEmpty  = "Empty project header not allowed"
	title404           = "404 Not Found"
	title405           = "405 Method Not Allowed"
	title406           = "406 Not Acceptable"
)

// Descriptions shared by several handlers.
const (
	descBodyEmpty    = "Request body can not be empty"
	descBodyParse    = "Request body could not be parsed."
	descBodyRead     = "Request body could not be read."
	descIntTooLarge  = "JSON contains integer that is too large."
	descDocType      = "Document type not supported."
	descRetry        = " Please try again in a few seconds."
	descNotAuthz     = "You are not authorized to complete this action."
	descPathNotFound = "The resource could not be found."
)

// errLink is the "link" member falcon adds to some errors (406).
type errLink struct {
	Text string `json:"text"`
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// apiError is one HTTP error answer: a status, Zaqar's
// {"title", "description"} body and optional headers.
type apiError struct {
	status     int
	title      string
	desc       string
	link       *errLink
	retryAfter time.Duration // > 0: send Retry-After
	allow      string        // non-empty: send Allow (405)
}

// Error implements error.
func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.title, e.desc) }

// errBody is the JSON body of every error answer.
type errBody struct {
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Link        *errLink `json:"link,omitempty"`
}

func newError(status int, title, desc string) *apiError {
	return &apiError{status: status, title: title, desc: desc}
}

// badAPI is a 400 "Invalid API request" (a validation failure).
func badAPI(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, titleInvalidAPI, fmt.Sprintf(format, args...))
}

// badBody is a 400 "Invalid request body" (a parse or shape failure).
func badBody(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, titleInvalidBody, fmt.Sprintf(format, args...))
}

// badParam is falcon's 400 for a query parameter of the wrong type.
func badParam(name, want string) *apiError {
	return newError(http.StatusBadRequest, titleInvalidParam,
		fmt.Sprintf("The %q parameter is invalid. %s", name, want))
}

// notFound is a 404 "Not found" raised by a handler.
func notFound(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, titleNotFound, fmt.Sprintf(format, args...))
}

// retryAfterer is implemented by backend errors meaning "no leader /
// temporarily unavailable" (cluster.ErrNoLeader).
type retryAfterer interface {
	RetryAfter() time.Duration
}

// toAPIError is the one place where errors from the backend and the FSM
// become HTTP answers. fsm codes map to exactly one status each.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fsm.CodeNotFound:
			return newError(http.StatusNotFound, titleNotFound, fe.Msg)
		case fsm.CodeConflict:
			return newError(http.StatusConflict, titleConflict, fe.Msg)
		case fsm.CodeBadRequest:
			return newError(http.StatusBadRequest, titleInvalidAPI, fe.Msg)
		case fsm.CodeForbidden:
			return newError(http.StatusForbidden, titleNotAuthorized, fe.Msg)
		case fsm.CodeNoSpace:
			return &apiError{status: http.StatusServiceUnavailable, title: titleUnavailable,
				desc: "The cluster's memory limit for stored message bodies (max-body-bytes) is reached: " +
					fe.Msg + ". Delete or consume messages, or raise the limit." + descRetry,
				retryAfter: time.Second}
		default: // CodeUnknownCommand, CodeInternal, anything newer
			return newError(http.StatusInternalServerError, titleInternal, fe.Msg)
		}
	}
	var ra retryAfterer
	if errors.As(err, &ra) {
		return &apiError{status: http.StatusServiceUnavailable, title: titleUnavailable,
			desc:       "No cluster leader is available (" + err.Error() + ")." + descRetry,
			retryAfter: max(ra.RetryAfter(), time.Second)}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &apiError{status: http.StatusServiceUnavailable, title: titleUnavailable,
			desc: "The request could not be completed in time." + descRetry, retryAfter: time.Second}
	}
	return &apiError{status: http.StatusServiceUnavailable, title: titleUnavailable,
		desc: "The request could not be completed (" + err.Error() + ")." + descRetry, retryAfter: time.Second}
}

// retryAfterSeconds renders d as a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// writeError sends e as Zaqar's JSON error body with its headers.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(e.retryAfter))
	}
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	writeJSON(w, e.status, errBody{Title: e.title, Description: e.desc, Link: e.link})
}
