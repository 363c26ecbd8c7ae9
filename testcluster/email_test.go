package testcluster

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	netmail "net/mail"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/herald-mq/herald/client"
	"github.com/herald-mq/herald/internal/testsmtp"
	"github.com/herald-mq/herald/node"
)

// email is one message the test SMTP server accepted.
type email struct {
	From    string   // envelope sender
	To      []string // envelope recipients
	Header  netmail.Header
	Payload string // decoded text body
}

// mailbox is an in-process SMTP server on 127.0.0.1:0 (no TLS, no auth)
// that records every message it accepts.
type mailbox struct {
	Host string
	Port int

	mu  sync.Mutex // guards got
	got []email
}

func newMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailboxSession{mb: mb}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := l.Addr().(*net.TCPAddr)
	mb.Host, mb.Port = addr.IP.String(), addr.Port
	return mb
}

// to returns the messages received for one envelope recipient.
func (mb *mailbox) to(rcpt string) []email {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []email
	for _, e := range mb.got {
		for _, r := range e.To {
			if r == rcpt {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

type mailboxSession struct {
	mb   *mailbox
	from string
	to   []string
}

func (s *mailboxSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailboxSession) Data(r io.Reader) error {
	h, body, err := testsmtp.ReadMessage(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.got = append(s.mb.got, email{From: s.from, To: append([]string(nil), s.to...), Header: h, Payload: body})
	s.mb.mu.Unlock()
	return nil
}

func (s *mailboxSession) Reset()        { s.from, s.to = "", nil }
func (s *mailboxSession) Logout() error { return nil }

// headerAddress parses a one-address header (From, To).
func headerAddress(t *testing.T, h netmail.Header, key string) string {
	t.Helper()
	list, err := h.AddressList(key)
	if err != nil || len(list) != 1 {
		t.Fatalf("%s header %q: %v (%d addresses)", key, h.Get(key), err, len(list))
	}
	return list[0].Address
}

// checkEmails checks the notification emails of one subscription against
// the posted messages (ids[i] has bodies[i]) and returns the message ids
// in arrival order.
func checkEmails(t *testing.T, got []email, rcpt, from, subject, queue string, ttl int, ids []string, bodies []any) []string {
	t.Helper()
	want := map[string]any{}
	for i, id := range ids {
		want[id] = bodies[i]
	}
	var order []string
	for _, e := range got {
		if e.From != from || strings.Join(e.To, ",") != rcpt {
			t.Errorf("envelope %s -> %v, want %s -> %s", e.From, e.To, from, rcpt)
		}
		if a := headerAddress(t, e.Header, "From"); a != from {
			t.Errorf("From header %q, want %s", e.Header.Get("From"), from)
		}
		if a := headerAddress(t, e.Header, "To"); a != rcpt {
			t.Errorf("To header %q, want %s", e.Header.Get("To"), rcpt)
		}
		if s := e.Header.Get("Subject"); s != subject {
			t.Errorf("Subject %q, want %q", s, subject)
		}
		if ct := e.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type %q, want text/plain", ct)
		}
		id := e.Header.Get("X-Herald-Message-Id")
		order = append(order, id)
		var p struct {
			Body        any    `json:"body"`
			TTL         int    `json:"ttl"`
			QueueName   string `json:"queue_name"`
			MessageType string `json:"Message_Type"`
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal([]byte(e.Payload), &keys); err != nil {
			t.Fatalf("email body is not a JSON object: %v\n%s", err, e.Payload)
		}
		if len(keys) != 4 {
			t.Errorf("payload keys %v, want exactly body, ttl, queue_name, Message_Type", sortedKeys(keys))
		}
		if err := json.Unmarshal([]byte(e.Payload), &p); err != nil {
			t.Fatalf("payload %s: %v", e.Payload, err)
		}
		wantBody, ok := want[id]
		if !ok {
			t.Errorf("email for message %q, not one of the posted %v", id, ids)
			continue
		}
		if !reflect.DeepEqual(p.Body, jsonValue(t, wantBody)) || p.TTL != ttl || p.QueueName != queue || p.MessageType != "Notification" {
			t.Errorf("payload of %s = %s, want body %v ttl %d queue_name %q Message_Type Notification",
				id, e.Payload, wantBody, ttl, queue)
		}
	}
	return order
}

// messageIDs returns the X-Herald-Message-Id of each email.
func messageIDs(got []email) []string {
	out := make([]string, len(got))
	for i, e := range got {
		out[i] = e.Header.Get("X-Herald-Message-Id")
	}
	return out
}

// uniqueInOrder returns the ids in order of first appearance and the number
// of repeats.
func uniqueInOrder(ids []string) (order []string, dups int) {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			dups++
			continue
		}
		seen[id] = true
		order = append(order, id)
	}
	return order, dups
}

func sortedKeys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// jsonValue returns v as encoding/json decodes it into an any.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// mailto subscriptions created through the Go client on one node receive
// one email per message posted on the other nodes, with the recipient and
// subject of the URI (or of the options) and the Zaqar payload as body.
func TestMailtoNotifications(t *testing.T) {
	mb := newMailbox(t)
	c := New(t, 3, Options{Configure: func(_ int, cfg *node.Config) {
		cfg.SMTPHost, cfg.SMTPPort = mb.Host, mb.Port
		cfg.SMTPTLS = "none"
		cfg.SMTPFrom = "herald@example.com"
	}})
	c.WaitForLeader(10 * time.Second)
	ctx := c.Ctx(90 * time.Second)
	const queue, ttl = "orders", 300

	admin := c.Nodes[0].Client(client.WithRetry(20, 50*time.Millisecond))
	opsID, err := admin.CreateSubscription(ctx, queue, "mailto:ops@example.com?subject=Orders", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	devID, err := admin.CreateSubscription(ctx, queue, "mailto:dev@example.com", 0,
		map[string]any{"from": "x@example.com", "subject": "S"})
	if err != nil {
		t.Fatal(err)
	}

	var ids []string
	var bodies []any
	for i := 0; i < 3; i++ {
		n := c.Nodes[1+i%2] // not the node that subscribed
		body := map[string]any{"order": i, "item": fmt.Sprintf("widget-%d", i)}
		got, err := n.Client(client.WithRetry(20, 50*time.Millisecond)).PostMessages(ctx, queue,
			[]client.NewMessage{{Body: body, TTL: ttl}})
		if err != nil || len(got) != 1 {
			t.Fatalf("post %d via %s: %v %v", i, n.ID, got, err)
		}
		ids, bodies = append(ids, got[0]), append(bodies, body)
	}

	Poll(t, 60*time.Second, "emails for the 3 messages to each of ops@ and dev@", func() bool {
		o, _ := uniqueInOrder(messageIDs(mb.to("ops@example.com")))
		d, _ := uniqueInOrder(messageIDs(mb.to("dev@example.com")))
		return len(o) >= 3 && len(d) >= 3
	})
	// URI subject, configured sender.
	ops := checkEmails(t, mb.to("ops@example.com"), "ops@example.com", "herald@example.com", "Orders", queue, ttl, ids, bodies)
	// options.from and options.subject.
	dev := checkEmails(t, mb.to("dev@example.com"), "dev@example.com", "x@example.com", "S", queue, ttl, ids, bodies)
	for _, got := range [][]string{ops, dev} {
		// Delivery is at least once: a duplicate is allowed (an ownership
		// move), a missing or reordered first delivery is not.
		order, dups := uniqueInOrder(got)
		if !reflect.DeepEqual(order, ids) {
			t.Errorf("first emails for messages %v, want post order %v", order, ids)
		}
		if dups > 0 {
			t.Logf("%d duplicate emails", dups)
		}
	}

	// The delivery extension agrees, seen from a node that did not create
	// the subscriptions.
	other := c.Nodes[2].Client()
	for _, id := range []string{opsID, devID} {
		Poll(t, 10*time.Second, "delivered >= 3 for "+id, func() bool {
			d, err := other.SubscriptionDelivery(ctx, queue, id)
			return err == nil && d.Delivered >= 3
		})
		d, err := other.SubscriptionDelivery(ctx, queue, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.SubscriptionID != id || d.Owner == "" || d.Failed != 0 || d.LastError != "" || len(d.SigningSecret) != 32 {
			t.Errorf("delivery of %s = %+v", id, d)
		}
	}
	s, err := other.GetSubscription(ctx, queue, devID)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != devID || s.Source != queue || s.Subscriber != "mailto:dev@example.com" || s.TTL != 3600 ||
		!reflect.DeepEqual(s.Options, map[string]any{"from": "x@example.com", "subject": "S"}) {
		t.Errorf("subscription = %+v", s)
	}
}
