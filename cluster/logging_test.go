package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

func TestLogBridges(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var quiet atomic.Bool

	h := newHCLog(l, "raft", &quiet).Named("net").With("peer", "n2")
	h.Debug("dropped at info")
	h.Info("initial configuration", "servers", hclog.Fmt("%d servers", 3))
	h.Error("failed to heartbeat")
	quiet.Store(true)
	h.Error("use of closed network connection")

	std := newStdLogger(l, "memberlist", nil)
	std.Printf("[DEBUG] memberlist: dropped too")
	std.Printf("[WARN] memberlist: Refuting a suspect message")

	out := buf.String()
	for _, want := range []string{
		`level=INFO msg="initial configuration" component=raft logger=net peer=n2 servers="3 servers"`,
		`level=ERROR msg="failed to heartbeat" component=raft`,
		`level=WARN msg="Refuting a suspect message" component=memberlist`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"dropped", "closed network"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("log has %q:\n%s", unwanted, out)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	if !errors.Is(noLeader(errors.New("x")), ErrNoLeader) || errors.Is(noLeader(context.DeadlineExceeded), context.DeadlineExceeded) {
		t.Error("noLeader must match ErrNoLeader and hide its cause from errors.Is")
	}
	for _, tt := range []struct {
		err  error
		code wireCode
		kind attempt
	}{
		{raft.ErrNotLeader, wireNotLeader, attemptNoLeader},
		{raft.ErrLeadershipLost, wireLeadershipLost, attemptLeaderWas},
		{raft.ErrEnqueueTimeout, wireUnavailable, attemptLeaderWas},
		{raft.ErrLeadershipTransferInProgress, wireUnavailable, attemptLeaderWas},
		{fmt.Errorf("wrapped: %w", ErrClosed), wireClosed, attemptNoLeader},
		{ErrNoLeader, wireNoLeader, attemptNoLeader},
		{errors.New("disk on fire"), wireInternal, attemptFinal},
	} {
		code := codeFor(tt.err)
		if code != tt.code {
			t.Errorf("codeFor(%v) = %d, want %d", tt.err, code, tt.code)
		}
		if got := classifyRemote(&remoteError{code: code}); got != tt.kind {
			t.Errorf("classifyRemote(code %d) = %d, want %d", code, got, tt.kind)
		}
	}
	if classifyRemote(errors.New("connection refused")) != attemptNoLeader || classifyRemote(ErrForbidden) != attemptFinal {
		t.Error("transport errors must retry and ErrForbidden must not")
	}
}
