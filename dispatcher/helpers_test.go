package dispatcher

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-mq/herald/dispatcher/notify"
	"github.com/herald-mq/herald/fsm"
	"github.com/herald-mq/herald/internal/clock"
	"github.com/herald-mq/herald/internal/testpoll"
)

// memBackend is an in-process FSM applied at increasing indexes, stamped
// with a controllable clock. hook, when set, may intercept an Apply.
type memBackend struct {
	f      *fsm.FSM
	clk    clock.Clock
	leader atomic.Bool

	mu   sync.Mutex // serialises Apply; guards idx and hook
	idx  uint64
	hook func(b *memBackend, cmd *fsm.Command) (res *fsm.Result, err error, handled bool)
}

func newBackend(clk clock.Clock) *memBackend {
	return &memBackend{f: fsm.New(fsm.Config{}), clk: clk}
}

func (b *memBackend) Apply(_ context.Context, cmd *fsm.Command) (*fsm.Result, error) {
	b.mu.Lock()
	hook := b.hook
	b.mu.Unlock()
	if hook != nil {
		if res, err, ok := hook(b, cmd); ok {
			return res, err
		}
	}
	return b.applyNow(cmd), nil
}

func (b *memBackend) applyNow(cmd *fsm.Command) *fsm.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := *cmd
	c.Now = b.clk.Now().UnixNano()
	data, err := c.Encode()
	if err != nil {
		panic(err)
	}
	b.idx++
	return b.f.ApplyEntry(b.idx, data)
}

func (b *memBackend) setHook(h func(b *memBackend, cmd *fsm.Command) (*fsm.Result, error, bool)) {
	b.mu.Lock()
	b.hook = h
	b.mu.Unlock()
}

func (b *memBackend) Read(_ context.Context, _ bool, fn func(*fsm.State)) error {
	b.f.Read(fn)
	return nil
}

func (b *memBackend) IsLeader() bool { return b.leader.Load() }

// must applies a command and fails the test on an error result.
func (b *memBackend) must(t *testing.T, typ fsm.CmdType, p any) *fsm.Result {
	t.Helper()
	cmd, err := fsm.NewCommand(typ, "", p)
	if err != nil {
		t.Fatal(err)
	}
	res := b.applyNow(cmd)
	if err := res.Err(); err != nil {
		t.Fatalf("apply %d: %v", typ, err)
	}
	return res
}

func (b *memBackend) subscribe(t *testing.T, queue, subscriber string, opts map[string]json.RawMessage) string {
	t.Helper()
	return b.must(t, fsm.CmdSubscriptionCreate, fsm.SubscriptionCreate{
		Project: "p", SourceKind: fsm.SourceQueue, Source: queue, Subscriber: subscriber, TTL: 3600, Options: opts,
	}).SubscriptionID
}

func (b *memBackend) post(t *testing.T, queue string, bodies ...string) []string {
	t.Helper()
	var ms []fsm.NewMessage
	for _, body := range bodies {
		ttl := int64(300)
		ms = append(ms, fsm.NewMessage{Body: json.RawMessage(body), TTL: &ttl})
	}
	return b.must(t, fsm.CmdMessagesPost, fsm.MessagesPost{Project: "p", Queue: queue, ClientID: "c", Messages: ms}).IDs
}

func (b *memBackend) assign(t *testing.T, owner string, ids ...string) {
	t.Helper()
	var epoch uint64
	b.f.Read(func(s *fsm.State) { epoch = s.AssignmentEpoch() })
	var ch []fsm.Assignment
	for _, id := range ids {
		ch = append(ch, fsm.Assignment{SubscriptionID: id, Owner: owner})
	}
	b.must(t, fsm.CmdAssign, fsm.Assign{Epoch: epoch + 1, Changes: ch})
}

func (b *memBackend) sub(id string) fsm.SubscriptionInfo {
	var si fsm.SubscriptionInfo
	b.f.Read(func(s *fsm.State) { si, _ = s.SubscriptionByID("p", id, b.clk.Now().UnixNano()) })
	return si
}

// staticMembers is a settable Members.
type staticMembers struct {
	mu  sync.Mutex // guards ids
	ids []string
}

func (m *staticMembers) LiveVoters() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ids...)
}

func (m *staticMembers) set(ids ...string) {
	m.mu.Lock()
	m.ids = ids
	m.mu.Unlock()
}

// hit is one request a test sink received.
type hit struct {
	Body      string
	MessageID string
}

// testSink records webhook requests; status decides the answer for the
// n-th request (1-based; nil = 204); hang blocks every request until
// the test ends.
type testSink struct {
	srv     *httptest.Server
	mu      sync.Mutex // guards hits
	hits    []hit
	status  func(n int) int
	hang    bool
	release chan struct{}
	arrived chan struct{} // one value per request, buffered
}

func newTestSink(t *testing.T, status func(n int) int, hang bool) *testSink {
	s := &testSink{status: status, hang: hang, release: make(chan struct{}), arrived: make(chan struct{}, 1024)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.hits = append(s.hits, hit{Body: string(b), MessageID: r.Header.Get("X-Herald-Message-Id")})
		n := len(s.hits)
		s.mu.Unlock()
		s.arrived <- struct{}{}
		if s.hang {
			select {
			case <-r.Context().Done():
			case <-s.release:
			}
			return
		}
		code := http.StatusNoContent
		if s.status != nil {
			code = s.status(n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.release) })
	return s
}

func (s *testSink) URL() string { return s.srv.URL + "/hook" }

func (s *testSink) got() []hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hit(nil), s.hits...)
}

// newDispatcher builds and starts a dispatcher for node id on b; it is
// closed at cleanup.
func newDispatcher(t *testing.T, b *memBackend, id string, m Members, clk clock.Clock, adjust func(*Config)) *Dispatcher {
	t.Helper()
	wh := notify.NewWebhook(notify.WebhookConfig{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Timeout:    time.Minute,
	})
	t.Cleanup(func() { wh.Close() })
	cfg := Config{
		NodeID:          id,
		Backend:         b,
		Members:         m,
		AppliedIndex:    b.f.AppliedIndex,
		Notifier:        notify.NewRegistry(wh, nil, nil),
		Clock:           clk,
		MembershipPoll:  20 * time.Millisecond,
		ManagerInterval: 50 * time.Millisecond,
		AckInterval:     20 * time.Millisecond,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(func() { d.Close() })
	return d
}

// poll waits for cond with a deadline (see testpoll.Poll).
var poll = testpoll.Poll
