package fsm

import (
	"encoding/json"
	"fmt"
)

// Code is a stable, wire-safe classification of a domain error. It survives
// forwarding between nodes and maps to exactly one HTTP status in httpapi.
type Code uint8

// Error codes. Values are part of the wire format: never renumber them.
const (
	CodeOK             Code = 0
	CodeNotFound       Code = 1 // 404
	CodeConflict       Code = 2 // 409
	CodeBadRequest     Code = 3 // 400
	CodeForbidden      Code = 4 // 403
	CodeNoSpace        Code = 5 // 503: memory budget exhausted
	CodeUnknownCommand Code = 6 // 500: command type this binary does not know
	CodeInternal       Code = 7 // 500
)

// Error is a deterministic domain error returned as a result of Apply.
type Error struct {
	Code Code
	Msg  string
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, fsm.ErrNotFound) works across forwarding.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinel errors for errors.Is; compare by Code only.
var (
	ErrNotFound       = &Error{Code: CodeNotFound, Msg: "not found"}
	ErrConflict       = &Error{Code: CodeConflict, Msg: "conflict"}
	ErrBadRequest     = &Error{Code: CodeBadRequest, Msg: "bad request"}
	ErrForbidden      = &Error{Code: CodeForbidden, Msg: "forbidden"}
	ErrNoSpace        = &Error{Code: CodeNoSpace, Msg: "memory budget exhausted"}
	ErrUnknownCommand = &Error{Code: CodeUnknownCommand, Msg: "unknown command"}
	ErrInternal       = &Error{Code: CodeInternal, Msg: "internal error"}
)

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Result is what Apply returns for one command: an error code and message,
// or the command's output. It is msgpack-encodable so it survives forwarding.
type Result struct {
	Code     Code                       `msgpack:"c,omitempty"`
	Msg      string                     `msgpack:"e,omitempty"`
	Created  bool                       `msgpack:"k,omitempty"` // QueueCreate, SubscriptionCreate: something new was made
	IDs      []string                   `msgpack:"i,omitempty"` // MessagesPost: new ids in order; Ack: dead-letter message ids
	ClaimID  string                     `msgpack:"l,omitempty"` // ClaimCreate
	Messages []Message                  `msgpack:"m,omitempty"` // ClaimCreate, MessagesPop
	Metadata map[string]json.RawMessage `msgpack:"d,omitempty"` // QueuePatch: stored metadata afterwards
	Batch    []Result                   `msgpack:"b,omitempty"` // Batch: one result per inner command
	Swept    int                        `msgpack:"s,omitempty"` // Sweep: messages removed
	// SubscriptionID: SubscriptionCreate (the new or existing id, also with a
	// CodeConflict for a confirmed duplicate).
	SubscriptionID string `msgpack:"u,omitempty"`
	Cursor         uint64 `msgpack:"o,omitempty"` // Ack: the subscription's cursor afterwards
}

// Err returns the result's error, or nil when Code is CodeOK.
func (r *Result) Err() error {
	if r == nil || r.Code == CodeOK {
		return nil
	}
	return &Error{Code: r.Code, Msg: r.Msg}
}

// errResult converts an error into a Result; non-*Error values become CodeInternal.
func errResult(err error) Result {
	if e, ok := err.(*Error); ok {
		return Result{Code: e.Code, Msg: e.Msg}
	}
	return Result{Code: CodeInternal, Msg: err.Error()}
}
