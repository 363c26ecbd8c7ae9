package testcluster

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/herald-mq/herald/fsm"
	"github.com/herald-mq/herald/node"
)

// allowLoopback lets the nodes' webhooks reach the 127.0.0.1 sinks.
func allowLoopback(_ int, c *node.Config) {
	c.SubscriberAllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// delivery is one request a sink received.
type delivery struct {
	MessageID string
	I         int // the "i" of the message body
	Node      string
}

// sink is a recording webhook receiver on 127.0.0.1. Fail, when set,
// decides per request whether to answer 500; Hang makes every request
// block until the test ends.
type sink struct {
	srv *httptest.Server

	mu   sync.Mutex // guards got and fail
	got  []delivery
	fail func(n int) bool // n = 1-based request number

	hang    bool
	release chan struct{} // closed at cleanup: hung requests return
}

func newSink(t *testing.T, hang bool) *sink {
	s := &sink{hang: hang, release: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.release) }) // runs before srv.Close (LIFO)
	return s
}

func (s *sink) URL() string { return s.srv.URL + "/hook" }

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if s.hang {
		s.mu.Lock()
		s.got = append(s.got, delivery{MessageID: r.Header.Get("X-Herald-Message-Id")})
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	}
	var p struct {
		Body struct {
			I int `json:"i"`
		} `json:"body"`
	}
	_ = json.Unmarshal(b, &p)
	s.mu.Lock()
	n := len(s.got) + 1
	fail := s.fail != nil && s.fail(n)
	if !fail {
		s.got = append(s.got, delivery{MessageID: r.Header.Get("X-Herald-Message-Id"), I: p.Body.I})
	}
	s.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) deliveries() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivery(nil), s.got...)
}

// firstSeen returns the i values in order of first delivery, and the
// number of duplicate deliveries.
func (s *sink) firstSeen() (order []int, dups int) {
	seen := map[int]bool{}
	for _, d := range s.deliveries() {
		if seen[d.I] {
			dups++
			continue
		}
		seen[d.I] = true
		order = append(order, d.I)
	}
	return order, dups
}

// subscribe creates a subscription of queue q in project "test" through
// node n and returns its id.
func subscribe(t *testing.T, ctx context.Context, n *Node, q, subscriber string, options map[string]json.RawMessage) string {
	t.Helper()
	cmd, err := fsm.NewCommand(fsm.CmdSubscriptionCreate, "", fsm.SubscriptionCreate{
		Project: "test", SourceKind: fsm.SourceQueue, Source: q, Subscriber: subscriber, TTL: 3600, Options: options,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Node().Cluster().Apply(ctx, cmd)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return res.SubscriptionID
}

// subInfo reads a subscription from n's local state.
func subInfo(n *Node, id string) (fsm.SubscriptionInfo, bool) {
	nd := n.Node()
	if nd == nil {
		return fsm.SubscriptionInfo{}, false
	}
	var si fsm.SubscriptionInfo
	var ok bool
	nd.FSM().Read(func(s *fsm.State) { si, ok = s.SubscriptionByID("test", id, time.Now().UnixNano()) })
	return si, ok
}

// owner waits until the subscription has an owner in n's view.
func waitOwner(t *testing.T, n *Node, id string, timeout time.Duration, not string) fsm.SubscriptionInfo {
	t.Helper()
	var si fsm.SubscriptionInfo
	Poll(t, timeout, "subscription "+id+" owned by a node other than "+not, func() bool {
		var ok bool
		si, ok = subInfo(n, id)
		return ok && si.Owner != "" && si.Owner != not
	})
	return si
}

func (c *Cluster) byID(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}
