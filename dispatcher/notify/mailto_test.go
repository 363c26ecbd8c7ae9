package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/herald-mq/herald/internal/clock"
	"github.com/herald-mq/herald/internal/testsmtp"
)

// email is one message received by the test SMTP server.
type email struct {
	from string   // envelope sender
	to   []string // envelope recipients
	msg  *netmail.Message
	body string // decoded text body
}

// smtpServer is an in-process SMTP server on 127.0.0.1:0.
type smtpServer struct {
	host string
	port int
	got  chan email
	// Set before the first connection, read-only afterwards:
	user, pass string // when set, AUTH PLAIN is required
	rcptErr    error  // returned for every RCPT TO
}

type smtpOpts struct {
	user, pass string
	rcptErr    error
	tls        *tls.Config
	implicit   bool // TLS from the first byte instead of STARTTLS
}

func newSMTPServer(t *testing.T, o smtpOpts) *smtpServer {
	t.Helper()
	s := &smtpServer{got: make(chan email, 8), user: o.user, pass: o.pass, rcptErr: o.rcptErr}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if o.tls != nil {
		if o.implicit {
			l = tls.NewListener(l, o.tls)
		} else {
			srv.TLSConfig = o.tls
		}
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := l.Addr().(*net.TCPAddr)
	s.host, s.port = addr.IP.String(), addr.Port
	return s
}

func (s *smtpServer) next(t *testing.T) email {
	t.Helper()
	select {
	case e := <-s.got:
		return e
	case <-testCtx(t).Done():
		t.Fatal("no email arrived")
		return email{}
	}
}

type smtpSession struct {
	s      *smtpServer
	authed bool
	from   string
	to     []string
}

func (ss *smtpSession) AuthMechanisms() []string {
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.user || pass != ss.s.pass {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.user != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.rcptErr != nil {
		return ss.s.rcptErr
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	h, body, err := testsmtp.ReadMessage(r)
	if err != nil {
		return err
	}
	ss.s.got <- email{from: ss.from, to: ss.to, msg: &netmail.Message{Header: h}, body: body}
	return nil
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

func newTestMailer(t *testing.T, s *smtpServer, cfg MailConfig) *Mailer {
	t.Helper()
	cfg.Host, cfg.Port = s.host, s.port
	if cfg.TLSMode == "" {
		cfg.TLSMode = TLSNone
	}
	cfg.HeloName = "herald.test"
	cfg.Clock = clock.NewFake(t0)
	m, err := NewMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMailerDeliversNotification(t *testing.T) {
	s := newSMTPServer(t, smtpOpts{})
	m := newTestMailer(t, s, MailConfig{From: "Herald <herald@example.com>"})
	n := newNotification("mailto:alice@example.com?Subject=Hello%20there", `{"from": "ops@example.com", "subject": "from options"}`)
	if err := m.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	e := s.next(t)
	if e.from != "ops@example.com" || strings.Join(e.to, ",") != "alice@example.com" {
		t.Fatalf("envelope %s -> %v", e.from, e.to)
	}
	for k, want := range map[string]string{
		"From":          "<ops@example.com>",
		"To":            "<alice@example.com>",
		"Subject":       "Hello there",
		HeaderMessageID: "msg-42",
		"Date":          t0.Format(time.RFC1123Z),
	} {
		if got := e.msg.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(e.msg.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type = %q", e.msg.Header.Get("Content-Type"))
	}
	if e.body != string(n.Payload) {
		t.Fatalf("body %q, want the payload %q", e.body, n.Payload)
	}

	// No subject on the URI: options.subject; no options.from: the default
	// sender; several recipients.
	n = newNotification("mailto:bob@example.com,carol@example.com", `{"subject": "from options"}`)
	if err := m.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	e = s.next(t)
	if e.from != "herald@example.com" || strings.Join(e.to, ",") != "bob@example.com,carol@example.com" {
		t.Fatalf("envelope %s -> %v", e.from, e.to)
	}
	if got := e.msg.Header.Get("Subject"); got != "from options" {
		t.Fatalf("Subject = %q", got)
	}
	if got := e.msg.Header.Get("From"); got != `"Herald" <herald@example.com>` {
		t.Fatalf("From = %q", got)
	}
}

func TestMailerConfirmationEmail(t *testing.T) {
	s := newSMTPServer(t, smtpOpts{})
	m := newTestMailer(t, s, MailConfig{From: "herald@example.com", ConfirmationURL: "https://herald.example/confirm.html"})
	payload := BuildConfirmation(Confirmation{
		Source: "orders", Signature: "abc123", Project: "p1", Expires: "2026-03-05T05:06:07",
		Paths:            "/v2/queues/orders/subscriptions/s1/confirm",
		WSGISubscribeURL: "https://api.example/v2/queues/orders/subscriptions/s1/confirm",
	})
	n := &Notification{Kind: KindSubscriptionConfirmation, SubscriptionID: "s1", Project: "p1", Source: "orders",
		Subscriber: "mailto:alice@example.com?subject=ignored", Payload: payload}
	if err := m.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	e := s.next(t)
	if got := e.msg.Header.Get("Subject"); got != SubscribeConfirmationSubject {
		t.Errorf("Subject = %q", got)
	}
	link := "https://herald.example/confirm.html?Signature=abc123&Methods=PUT" +
		"&Paths=/v2/queues/orders/subscriptions/s1/confirm&Project=p1&Expires=2026-03-05T05:06:07" +
		"&Url=https://api.example/v2/queues/orders/subscriptions/s1/confirm&Queue=orders"
	for _, want := range []string{"subscribe to the queue: orders", "project: p1", link, string(payload)} {
		if !strings.Contains(e.body, want) {
			t.Errorf("body lacks %q:\n%s", want, e.body)
		}
	}
	if _, ok := e.msg.Header[HeaderMessageID]; ok {
		t.Error("confirmation carries a message id")
	}
}

func TestMailerAuth(t *testing.T) {
	s := newSMTPServer(t, smtpOpts{user: "herald", pass: "pw"})
	m := newTestMailer(t, s, MailConfig{From: "herald@example.com", Username: "herald", Password: "pw"})
	if err := m.Notify(context.Background(), newNotification("mailto:alice@example.com", "")); err != nil {
		t.Fatal(err)
	}
	s.next(t)

	bad := newTestMailer(t, s, MailConfig{From: "herald@example.com", Username: "herald", Password: "wrong"})
	err := bad.Notify(context.Background(), newNotification("mailto:alice@example.com", ""))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "535") {
		t.Fatalf("err = %v, want permanent 535", err)
	}
}

func TestMailerErrorClassification(t *testing.T) {
	permanent := newSMTPServer(t, smtpOpts{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}})
	err := newTestMailer(t, permanent, MailConfig{From: "h@example.com"}).Notify(context.Background(), newNotification("mailto:nobody@example.com", ""))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "550") || strings.Contains(err.Error(), marker) {
		t.Fatalf("550: err = %v, want permanent, naming 550, no payload", err)
	}

	transient := newSMTPServer(t, smtpOpts{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}})
	err = newTestMailer(t, transient, MailConfig{From: "h@example.com"}).Notify(context.Background(), newNotification("mailto:a@example.com", ""))
	if !IsRetryable(err) || !strings.Contains(err.Error(), "451") {
		t.Fatalf("451: err = %v, want retryable", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	m, err := NewMailer(MailConfig{Host: "127.0.0.1", Port: port, TLSMode: TLSNone, From: "h@example.com", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Notify(context.Background(), newNotification("mailto:a@example.com", "")); !IsRetryable(err) {
		t.Fatalf("connection refused: err = %v, want retryable", err)
	}

	ok := newSMTPServer(t, smtpOpts{})
	noFrom := newTestMailer(t, ok, MailConfig{})
	for _, tc := range []struct{ uri, opts string }{
		{"mailto:a@example.com", ""},                           // no sender anywhere
		{"mailto:a@example.com", `{"from": "not an address"}`}, // bad sender
		{"mailto:", `{"from": "h@example.com"}`},               // no recipient
		{"http://example.com/", `{"from": "h@example.com"}`},   // not mailto
	} {
		if err := noFrom.Notify(context.Background(), newNotification(tc.uri, tc.opts)); !IsPermanent(err) {
			t.Errorf("%s %s: err = %v, want permanent", tc.uri, tc.opts, err)
		}
	}
}

func TestMailerTLSModes(t *testing.T) {
	serverTLS, clientTLS := testCertificate(t)
	for _, mode := range []string{TLSStartTLS, TLSImplicit} {
		t.Run(mode, func(t *testing.T) {
			s := newSMTPServer(t, smtpOpts{user: "herald", pass: "pw", tls: serverTLS, implicit: mode == TLSImplicit})
			m := newTestMailer(t, s, MailConfig{TLSMode: mode, TLSConfig: clientTLS, From: "h@example.com", Username: "herald", Password: "pw"})
			if err := m.Notify(context.Background(), newNotification("mailto:a@example.com", "")); err != nil {
				t.Fatal(err)
			}
			if e := s.next(t); e.body != string(testPayload()) {
				t.Fatalf("body %q", e.body)
			}
		})
	}
	// STARTTLS is required in starttls mode.
	plain := newSMTPServer(t, smtpOpts{})
	m := newTestMailer(t, plain, MailConfig{TLSMode: TLSStartTLS, TLSConfig: clientTLS, From: "h@example.com"})
	if err := m.Notify(context.Background(), newNotification("mailto:a@example.com", "")); err == nil {
		t.Fatal("starttls mode sent over a server without STARTTLS")
	}
}

func TestNewMailerValidates(t *testing.T) {
	for _, cfg := range []MailConfig{
		{},
		{Host: "smtp.example", TLSMode: "ssl"},
		{Host: "smtp.example", Username: "u", AuthMechanism: "ntlm"},
	} {
		if _, err := NewMailer(cfg); err == nil {
			t.Errorf("NewMailer(%+v) accepted", cfg)
		}
	}
}

// testCertificate returns a server TLS config with a self-signed
// certificate for 127.0.0.1 and a client config that trusts it.
func testCertificate(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "herald test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return server, &tls.Config{RootCAs: pool}
}
