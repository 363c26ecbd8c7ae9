package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// noLeader mimics cluster.ErrNoLeader: an error with RetryAfter.
type noLeader struct{ after time.Duration }

func (noLeader) Error() string               { return "no cluster leader" }
func (n noLeader) RetryAfter() time.Duration { return n.after }

func TestRetryAfterErrors(t *testing.T) {
	e := newFakeEnv(t)
	for _, c := range []struct {
		after time.Duration
		want  string
	}{{2500 * time.Millisecond, "3"}, {0, "1"}, {time.Second, "1"}, {-time.Second, "1"}} {
		e.fake.applyFn = func(context.Context, *fsm.Command) (*fsm.Result, error) {
			return nil, noLeader{c.after}
		}
		e.fake.readFn = func(context.Context, bool, func(*fsm.State)) error {
			return errors.Join(errors.New("read index"), noLeader{c.after}) // wrapped still counts
		}
		for _, r := range []*resp{
			e.put("/v2/queues/q", ""),
			e.post("/v2/queues/q/messages", `{"messages":[{"body":1}]}`),
			e.get("/v2/queues/q"),
			e.get("/v2/queues"),
			e.get("/v2/queues/q/messages"),
			e.get("/v2/queues/q/stats"),
		} {
			r.expectErr(503, titleUnavailable, "try again")
			if got := r.header.Get("Retry-After"); got != c.want {
				t.Fatalf("Retry-After = %q, want %q", got, c.want)
			}
		}
	}
}

func TestRequestTimeoutIs503(t *testing.T) {
	fb := &fakeBackend{applyFn: func(ctx context.Context, _ *fsm.Command) (*fsm.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	h, err := New(Config{Backend: fb, Ops: fakeOps{}, RequestTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h, fake: fb}
	r := e.delete("/v2/queues/q").expectErr(503, titleUnavailable, "in time")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestFSMCodeMapping(t *testing.T) {
	e := newFakeEnv(t)
	cases := []struct {
		code   fsm.Code
		status int
		title  string
	}{
		{fsm.CodeNotFound, 404, titleNotFound},
		{fsm.CodeConflict, 409, titleConflict},
		{fsm.CodeBadRequest, 400, titleInvalidAPI},
		{fsm.CodeForbidden, 403, titleNotAuthorized},
		{fsm.CodeNoSpace, 503, titleUnavailable},
		{fsm.CodeUnknownCommand, 500, titleInternal},
		{fsm.CodeInternal, 500, titleInternal},
		{fsm.Code(200), 500, titleInternal},
	}
	for _, c := range cases {
		e.fake.applyFn = func(context.Context, *fsm.Command) (*fsm.Result, error) {
			res := &fsm.Result{Code: c.code, Msg: "detail from the fsm"}
			return res, res.Err()
		}
		r := e.post("/v2/queues/q/messages", `{"messages":[{"body":1}]}`).expectErr(c.status, c.title, "")
		if c.code == fsm.CodeNoSpace {
			r.expectErr(503, titleUnavailable, "max-body-bytes")
		} else if c.status != 500 {
			r.expectErr(c.status, c.title, "detail from the fsm")
		}
	}
	// A non-fsm backend error (e.g. cluster closed) is a 503.
	e.fake.applyFn = func(context.Context, *fsm.Command) (*fsm.Result, error) {
		return nil, errors.New("cluster closed")
	}
	e.delete("/v2/queues/q").expectErr(503, titleUnavailable, "cluster closed")
}

func TestPanicIs500(t *testing.T) {
	e := newFakeEnv(t)
	e.fake.applyFn = func(context.Context, *fsm.Command) (*fsm.Result, error) { panic("boom") }
	e.delete("/v2/queues/q").expectErr(500, titleInternal, "")
}

func TestMessageDeleteTitles(t *testing.T) {
	e := newFakeEnv(t)
	id := "00000000000000010000000a"
	for code, want := range map[fsm.Code]string{
		fsm.CodeBadRequest: "A claim was specified, but the message is not currently claimed.",
		fsm.CodeForbidden:  "This message is claimed; it cannot be deleted without a valid claim ID.",
	} {
		e.fake.applyFn = func(context.Context, *fsm.Command) (*fsm.Result, error) {
			res := &fsm.Result{Code: code, Msg: "x"}
			return res, res.Err()
		}
		status := 400
		if code == fsm.CodeForbidden {
			status = 403
		}
		e.delete("/v2/queues/q/messages/"+id).expectErr(status, titleUnableDelete, want)
	}
}
