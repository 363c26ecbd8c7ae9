package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// liveNodes returns the node URLs of a running server from HERALD_E2E_URLS
// (comma or space separated), skipping the test when unset:
//
//	HERALD_E2E_URLS="$(scripts/e2e/cluster.sh urls DIR)" go test ./client -run Live
func liveNodes(t *testing.T) []string {
	t.Helper()
	urls := strings.Fields(strings.ReplaceAll(os.Getenv("HERALD_E2E_URLS"), ",", " "))
	if len(urls) == 0 {
		t.Skip("HERALD_E2E_URLS not set; no live server to test against")
	}
	return urls
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// liveRing hands out one client per node round-robin; all share a project
// and a Client-ID, so every call lands on a different node than the last.
type liveRing struct {
	clients []*Client
	i       int
}

func newLiveRing(urls []string, opts ...Option) *liveRing {
	r := &liveRing{}
	for _, u := range urls {
		r.clients = append(r.clients, New(u, opts...))
	}
	return r
}

func (r *liveRing) next() *Client {
	c := r.clients[r.i%len(r.clients)]
	r.i++
	return c
}

func TestLiveRoundTrip(t *testing.T) {
	urls := liveNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	project := "go-e2e-" + randHex(6)
	r := newLiveRing(urls, WithProjectID(project), WithClientID(NewUUID()), WithRetry(3, 200*time.Millisecond))
	q := "goq-" + randHex(4)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	for _, c := range r.clients {
		must(c.Ping(ctx))
	}
	home, err := r.next().Home(ctx)
	must(err)
	if _, ok := home.Resources["rel/queues"]; !ok {
		t.Errorf("home document lacks rel/queues: %v", home.Resources)
	}

	created, err := r.next().CreateQueue(ctx, q, map[string]any{"color": "red"})
	must(err)
	if !created {
		t.Error("first PUT did not report created")
	}
	created, err = r.next().CreateQueue(ctx, q, nil)
	must(err)
	if created {
		t.Error("second PUT reported created")
	}
	md, err := r.next().GetQueue(ctx, q)
	must(err)
	if md["color"] != "red" || md["_default_message_ttl"] != 3600.0 {
		t.Errorf("metadata = %v", md)
	}
	md, err = r.next().PatchQueue(ctx, q, []PatchOp{PatchReplace("color", "blue"), PatchAdd("n", 2),
		PatchRemove("_dead_letter_queue")})
	must(err)
	if md["color"] != "blue" || md["n"] != 2.0 {
		t.Errorf("patched metadata = %v", md)
	}
	page, err := r.next().ListQueues(ctx, ListQueuesOptions{Detailed: true, WithCount: true})
	must(err)
	if len(page.Queues) != 1 || page.Queues[0].Name != q || page.Queues[0].Metadata["color"] != "blue" || page.Count != 1 {
		t.Errorf("queue page = %+v", page)
	}

	ids, err := r.next().PostMessages(ctx, q, []NewMessage{{Body: map[string]any{"n": 1}, TTL: 300}, {Body: "two"}, {Body: nil}})
	must(err)
	if len(ids) != 3 {
		t.Fatalf("ids = %v", ids)
	}
	mp, err := r.next().ListMessages(ctx, q, ListMessagesOptions{})
	must(err)
	if len(mp.Messages) != 0 {
		t.Errorf("echo=false listed own messages: %+v", mp.Messages)
	}
	mp, err = r.next().ListMessages(ctx, q, ListMessagesOptions{Echo: true, Limit: 2})
	must(err)
	if len(mp.Messages) != 2 || mp.Messages[0].ID != ids[0] || mp.Next == "" {
		t.Errorf("first page = %+v", mp)
	}
	mp, err = r.next().ListMessages(ctx, q, ListMessagesOptions{Echo: true, Marker: mp.Next})
	must(err)
	if len(mp.Messages) != 1 || mp.Messages[0].ID != ids[2] || string(mp.Messages[0].Body) != "null" {
		t.Errorf("second page = %+v", mp)
	}
	m, err := r.next().GetMessage(ctx, q, ids[1])
	must(err)
	if string(m.Body) != `"two"` || m.TTL != 3600 || m.ClaimID != "" {
		t.Errorf("message = %+v", m)
	}
	many, err := r.next().GetMessages(ctx, q, ids)
	must(err)
	if len(many) != 3 {
		t.Errorf("GetMessages = %+v", many)
	}

	st, err := r.next().QueueStats(ctx, q)
	must(err)
	if st.Total != 3 || st.Free != 3 || st.Oldest == nil {
		t.Errorf("stats = %+v", st)
	}
	cl, err := r.next().ClaimMessages(ctx, q, 120, 60, 2)
	must(err)
	if cl.ID == "" || len(cl.Messages) != 2 || cl.Messages[0].ClaimID != cl.ID {
		t.Fatalf("claim = %+v", cl)
	}
	got, err := r.next().GetClaim(ctx, q, cl.ID)
	must(err)
	if got.TTL != 120 || len(got.Messages) != 2 {
		t.Errorf("GetClaim = %+v", got)
	}
	must(r.next().UpdateClaim(ctx, q, cl.ID, 300, 60))
	got, err = r.next().GetClaim(ctx, q, cl.ID)
	must(err)
	if got.TTL != 300 {
		t.Errorf("ttl after update = %d", got.TTL)
	}
	if err := r.next().DeleteMessage(ctx, q, cl.Messages[0].ID, ""); !IsStatus(err, http.StatusForbidden) {
		t.Errorf("delete claimed message without claim: %v, want 403", err)
	}
	must(r.next().DeleteMessage(ctx, q, cl.Messages[0].ID, cl.ID))
	st, err = r.next().QueueStats(ctx, q)
	must(err)
	if st.Total != 2 || st.Claimed != 1 || st.Free != 1 {
		t.Errorf("stats after claim = %+v", st)
	}
	empty, err := r.next().ClaimMessages(ctx, q, 60, 60, 0)
	must(err)
	if len(empty.Messages) != 1 {
		t.Errorf("second claim = %+v, want the one free message", empty)
	}
	none, err := r.next().ClaimMessages(ctx, q, 60, 60, 0)
	must(err)
	if !none.Empty() {
		t.Errorf("claim of nothing = %+v, want empty", none)
	}
	must(r.next().ReleaseClaim(ctx, q, cl.ID))
	if _, err := r.next().GetClaim(ctx, q, cl.ID); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("released claim: %v, want 404", err)
	}
	must(r.next().ReleaseClaim(ctx, q, empty.ID))
	popped, err := r.next().PopMessages(ctx, q, 5)
	must(err)
	if len(popped) != 2 {
		t.Errorf("popped = %+v", popped)
	}

	// Signed URL: a guest with only the grant lists messages.
	_, err = r.next().PostMessages(ctx, q, []NewMessage{{Body: "for guest"}})
	must(err)
	su, err := r.next().ShareQueue(ctx, q, []string{"messages"}, []string{"GET"}, time.Now().Add(time.Hour))
	must(err)
	if su.Project != project || len(su.Signature) != 64 {
		t.Errorf("signed url = %+v", su)
	}
	guest := New(urls[r.i%len(urls)], su.Options()...)
	gp, err := guest.ListMessages(ctx, q, ListMessagesOptions{})
	must(err)
	if len(gp.Messages) != 1 || string(gp.Messages[0].Body) != `"for guest"` {
		t.Errorf("guest page = %+v", gp)
	}
	if _, err := guest.PostMessages(ctx, q, []NewMessage{{Body: 1}}); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("guest POST outside the grant: %v, want 404", err)
	}

	// Stale reads are served too.
	stale := New(urls[0], WithProjectID(project), WithStaleReads())
	if _, err := stale.ListMessages(ctx, q, ListMessagesOptions{}); err != nil {
		t.Errorf("stale read: %v", err)
	}

	must(r.next().PurgeQueue(ctx, q, "messages"))
	st, err = r.next().QueueStats(ctx, q)
	must(err)
	if st.Total != 0 {
		t.Errorf("stats after purge = %+v", st)
	}
	must(r.next().DeleteQueue(ctx, q))
	page, err = r.next().ListQueues(ctx, ListQueuesOptions{})
	must(err)
	if len(page.Queues) != 0 {
		t.Errorf("queues after delete = %+v", page.Queues)
	}

	// Errors carry Zaqar's title and a request id.
	_, err = r.next().ListMessages(ctx, q, ListMessagesOptions{Limit: 1000})
	var e *Error
	if !IsStatus(err, http.StatusBadRequest) || !errors.As(err, &e) || e.Title == "" || e.RequestID == "" {
		t.Errorf("limit=1000: %v (%+v)", err, e)
	}
}

// TestLiveIdempotencyKey checks the Herald extension: two POSTs with the
// same Idempotency-Key (sent on different nodes) are applied once and both
// answer with the same ids.
func TestLiveIdempotencyKey(t *testing.T) {
	urls := liveNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	project := "go-e2e-" + randHex(6)
	key := NewUUID()
	r := newLiveRing(urls, WithProjectID(project), WithHeaders(map[string]string{HeaderIdempotencyKey: key}))
	q := "idem-" + randHex(4)
	first, err := r.next().PostMessages(ctx, q, []NewMessage{{Body: "once"}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.next().PostMessages(ctx, q, []NewMessage{{Body: "once"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first, second) {
		t.Errorf("retried POST got ids %v, first %v", second, first)
	}
	plain := New(urls[0], WithProjectID(project))
	st, err := plain.QueueStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 1 {
		t.Errorf("queue holds %d messages after a retried POST, want 1", st.Total)
	}
}
