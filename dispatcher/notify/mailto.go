package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/herald-mq/herald/internal/clock"
)

// SMTP TLS modes of MailConfig.TLSMode.
const (
	TLSNone     = "none"     // plain SMTP, no STARTTLS
	TLSStartTLS = "starttls" // STARTTLS required
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, port 465)
)

// Subjects of confirmation emails (Zaqar's template defaults).
const (
	SubscribeConfirmationSubject   = "Zaqar Notification - Subscription Confirmation"
	UnsubscribeConfirmationSubject = "Zaqar Notification - Unsubscribe Confirmation"
)

// DefaultMailTimeout bounds one SMTP session when MailConfig.Timeout is zero.
const DefaultMailTimeout = 10 * time.Second

// MailConfig configures NewMailer.
type MailConfig struct {
	// Host and Port of the SMTP server (Port default 25, or 465 for "tls").
	Host string
	Port int
	// Username and Password, if Username is set, authenticate with
	// AuthMechanism. PLAIN and LOGIN are refused by the client over an
	// unencrypted connection to any host but localhost.
	Username string
	Password string
	// AuthMechanism is "plain" (default), "login", "cram-md5" or
	// "scram-sha-256".
	AuthMechanism string
	// TLSMode is TLSNone, TLSStartTLS (default) or TLSImplicit.
	TLSMode string
	// TLSConfig optionally replaces the TLS settings (ServerName defaults
	// to Host), e.g. to trust a private CA.
	TLSConfig *tls.Config
	// From is the sender when the subscription's options.from is empty.
	From string
	// Timeout bounds one SMTP session. Default DefaultMailTimeout.
	Timeout time.Duration
	// HeloName is the EHLO/HELO name; default the host name.
	HeloName string
	// ConfirmationURL is Zaqar's external_confirmation_url: when set,
	// confirmation emails carry a link to it (see Mailer.Notify).
	ConfirmationURL string
	// Clock stamps the Date header. Default clock.Real().
	Clock clock.Clock
}

// Mailer is the Notifier for mailto subscribers.
type Mailer struct {
	cfg  MailConfig
	opts []mail.Option
}

// NewMailer checks cfg and returns a mail notifier. It opens no connection:
// each Notify is one SMTP session.
func NewMailer(cfg MailConfig) (*Mailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("notify: SMTP host is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultMailTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.TLSMode == "" {
		cfg.TLSMode = TLSStartTLS
	}
	opts := []mail.Option{mail.WithTimeout(cfg.Timeout)}
	tc := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = cfg.Host
		}
	}
	switch cfg.TLSMode {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory), mail.WithTLSConfig(tc))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL(), mail.WithTLSConfig(tc))
		if cfg.Port == 0 {
			cfg.Port = 465
		}
	default:
		return nil, fmt.Errorf("notify: SMTP TLS mode %q is not one of none, starttls, tls", cfg.TLSMode)
	}
	if cfg.Port == 0 {
		cfg.Port = 25
	}
	opts = append(opts, mail.WithPort(cfg.Port))
	if cfg.HeloName != "" {
		opts = append(opts, mail.WithHELO(cfg.HeloName))
	}
	if cfg.Username != "" {
		var mech mail.SMTPAuthType
		switch strings.ToLower(cfg.AuthMechanism) {
		case "", "plain":
			mech = mail.SMTPAuthPlain
		case "login":
			mech = mail.SMTPAuthLogin
		case "cram-md5":
			mech = mail.SMTPAuthCramMD5
		case "scram-sha-256":
			mech = mail.SMTPAuthSCRAMSHA256
		default:
			return nil, fmt.Errorf("notify: SMTP auth mechanism %q is not one of plain, login, cram-md5, scram-sha-256", cfg.AuthMechanism)
		}
		opts = append(opts, mail.WithSMTPAuth(mech), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	if _, err := mail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("notify: SMTP client: %w", err)
	}
	return &Mailer{cfg: cfg, opts: opts}, nil
}

// Notify sends one email. Recipients are the mailto URI's addresses;
// Subject is the URI's subject query parameter (key case-insensitive),
// else options.subject; From is options.from, else MailConfig.From. The
// plain-text body is the payload JSON. Confirmations get Zaqar's subjects,
// a human text (with a link to MailConfig.ConfirmationURL carrying the
// pre-signed URL parts as Signature, Methods, Paths, Project, Expires,
// Url and Queue, when configured) followed by the payload JSON.
//
// SMTP 4xx replies and network errors are Retryable; 5xx replies and bad
// addresses are Permanent.
func (m *Mailer) Notify(ctx context.Context, n *Notification) error {
	u, err := url.Parse(n.Subscriber)
	if err != nil || !strings.EqualFold(u.Scheme, "mailto") {
		return Permanent(fmt.Errorf("mailto: %w: not a mailto URI", ErrBadSubscriber))
	}
	rcpts, err := mailtoRecipients(u)
	if err != nil {
		return Permanent(fmt.Errorf("mailto: %w", err))
	}
	subject := optionString(n.Options, "subject")
	if s, ok := querySubject(u.RawQuery); ok {
		subject = s
	}
	from := optionString(n.Options, "from")
	if from == "" {
		from = m.cfg.From
	}
	if from == "" {
		return Permanent(errors.New("mailto: no sender address (options.from or the configured From)"))
	}
	text := string(n.Payload)
	switch n.Kind {
	case KindSubscriptionConfirmation, KindUnsubscribeConfirmation:
		subject, text = m.confirmationText(n)
	}

	msg := mail.NewMsg()
	if err := msg.From(from); err != nil {
		return Permanent(fmt.Errorf("mailto: invalid sender address: %w", err))
	}
	if err := msg.To(rcpts...); err != nil {
		return Permanent(fmt.Errorf("mailto: %w: invalid recipient address: %w", ErrBadSubscriber, err))
	}
	msg.Subject(subject)
	msg.SetDateWithValue(m.cfg.Clock.Now())
	if n.MessageID != "" {
		msg.SetGenHeader(mail.Header(HeaderMessageID), n.MessageID)
	}
	if n.SubscriptionID != "" {
		msg.SetGenHeader(mail.Header(HeaderSubscriptionID), n.SubscriptionID)
	}
	msg.SetBodyString(mail.TypeTextPlain, text)

	c, err := mail.NewClient(m.cfg.Host, m.opts...)
	if err != nil {
		return Permanent(fmt.Errorf("mailto: SMTP client: %w", err))
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return classifySMTP(err)
	}
	return nil
}

// confirmationText returns the subject and body of a confirmation email.
func (m *Mailer) confirmationText(n *Notification) (subject, text string) {
	var p map[string]any
	_ = json.Unmarshal(n.Payload, &p)
	str := func(k string) string { s, _ := p[k].(string); return s }
	queue, project := str("queue_name"), str("X-Project-ID")
	if queue == "" {
		queue = n.Source
	}
	if project == "" {
		project = n.Project
	}
	var b strings.Builder
	if n.Kind == KindUnsubscribeConfirmation {
		subject = UnsubscribeConfirmationSubject
		fmt.Fprintf(&b, "You have unsubscribed successfully from the queue: %s.\nThis queue belongs to project: %s.\n", queue, project)
	} else {
		subject = SubscribeConfirmationSubject
		fmt.Fprintf(&b, "You have chosen to subscribe to the queue: %s.\nThis queue belongs to project: %s.\n", queue, project)
	}
	if m.cfg.ConfirmationURL != "" {
		link := m.cfg.ConfirmationURL + "?Signature=" + queryValue(str("URL-Signature")) +
			"&Methods=" + queryValue(str("URL-Methods")) +
			"&Paths=" + queryValue(str("URL-Paths")) +
			"&Project=" + queryValue(project) +
			"&Expires=" + queryValue(str("URL-Expires")) +
			"&Url=" + queryValue(str("WSGISubscribeURL")) +
			"&Queue=" + queryValue(queue)
		if n.Kind == KindUnsubscribeConfirmation {
			b.WriteString("To resubscribe, click or visit this link:\n")
		} else {
			b.WriteString("To confirm this subscription, click or visit this link:\n")
		}
		b.WriteString(link + "\n")
	}
	b.WriteString("\n")
	b.Write(n.Payload)
	b.WriteString("\n")
	return subject, b.String()
}

// queryValue escapes s for a query value but keeps '/' and ':' (legal in
// a query) so that usual values read exactly as in Zaqar's unescaped link.
func queryValue(s string) string {
	e := url.QueryEscape(s)
	return strings.NewReplacer("%2F", "/", "%3A", ":").Replace(e)
}

// mailtoRecipients returns the addresses of a mailto URI's path
// (comma-separated, percent-decoded).
func mailtoRecipients(u *url.URL) ([]string, error) {
	raw := u.Opaque
	if raw == "" {
		raw = strings.TrimPrefix(u.Path, "/")
	} else if dec, err := url.PathUnescape(raw); err == nil {
		raw = dec
	}
	var out []string
	for _, a := range strings.Split(raw, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) == 0 || !strings.Contains(out[0], "@") {
		return nil, fmt.Errorf("%w: mailto URI has no address", ErrBadSubscriber)
	}
	return out, nil
}

// optionString returns options[key] if it is a JSON string.
func optionString(opts map[string]json.RawMessage, key string) string {
	var s string
	if v, ok := opts[key]; ok {
		_ = json.Unmarshal(v, &s)
	}
	return s
}

// classifySMTP maps an SMTP error: a reply code 4xx is Retryable, 5xx is
// Permanent; errors without a reply code (network, timeouts, TLS) are
// Retryable.
func classifySMTP(err error) error {
	code := 0
	var se *mail.SendError
	var te *textproto.Error
	if errors.As(err, &se) {
		code = se.ErrorCode()
		if code == 0 && se.IsTemp() {
			code = 400
		}
	}
	if code == 0 && errors.As(err, &te) {
		code = te.Code
	}
	if code >= 500 {
		return Permanent(fmt.Errorf("mailto: %w", err))
	}
	return Retryable(fmt.Errorf("mailto: %w", err))
}

// querySubject returns the first "subject" parameter of a query, its key
// matched case-insensitively.
func querySubject(rawQuery string) (string, bool) {
	for _, kv := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); err != nil || !strings.EqualFold(k, "subject") {
			continue
		}
		if v, err := url.QueryUnescape(v); err == nil {
			return v, true
		}
	}
	return "", false
}
