package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-mq/herald/internal/clock"
)

// Herald's webhook extension headers (see the package documentation).
const (
	HeaderMessageID      = "X-Herald-Message-Id"
	HeaderSubscriptionID = "X-Herald-Subscription-Id"
	HeaderTimestamp      = "X-Herald-Timestamp"
	HeaderSignature      = "X-Herald-Signature"
)

// messageToken is replaced by the payload in options.post_data (§5.1).
const messageToken = `"$zaqar_message$"`

// maxResponseBody is how much of a webhook response is read (and discarded).
const maxResponseBody = 64 << 10

// DefaultWebhookTimeout bounds one webhook request when
// WebhookConfig.Timeout is zero.
const DefaultWebhookTimeout = 10 * time.Second

// DefaultUserAgent is the webhook User-Agent when WebhookConfig.UserAgent
// is empty.
const DefaultUserAgent = "Herald-Notifier/1"

// WebhookConfig configures NewWebhook.
type WebhookConfig struct {
	// Timeout bounds one request, connection to end of the response
	// headers and the discarded body. Default DefaultWebhookTimeout.
	Timeout time.Duration
	// AllowCIDRs are address ranges allowed even though the guard would
	// refuse them (loopback, private, ...): -subscriber-allow-cidrs.
	AllowCIDRs []netip.Prefix
	// UserAgent is sent as User-Agent. Default DefaultUserAgent.
	UserAgent string
	// Client, if set, sends the requests instead of the built-in client.
	// Its transport then owns the address guard (see GuardedTransport);
	// redirects are still never followed.
	Client *http.Client
	// Clock stamps X-Herald-Timestamp. Default clock.Real().
	Clock clock.Clock
}

// Webhook is the Notifier for http and https subscribers.
type Webhook struct {
	client    *http.Client
	timeout   time.Duration
	userAgent string
	clock     clock.Clock
}

// NewWebhook returns a webhook notifier. Close it to release idle
// connections.
func NewWebhook(cfg WebhookConfig) *Webhook {
	w := &Webhook{timeout: cfg.Timeout, userAgent: cfg.UserAgent, clock: cfg.Clock}
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	if w.userAgent == "" {
		w.userAgent = DefaultUserAgent
	}
	if w.clock == nil {
		w.clock = clock.Real()
	}
	var c http.Client
	if cfg.Client != nil {
		c = *cfg.Client // a copy: the caller's client is not modified
	} else {
		c.Transport = GuardedTransport(cfg.AllowCIDRs)
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w.client = &c
	return w
}

// GuardedTransport returns an HTTP transport whose dialer refuses the
// addresses AddrAllowed refuses, checked in the dialer's Control hook
// after DNS resolution. It uses no proxy (a proxy would hide the
// subscriber's address from the guard).
func GuardedTransport(allow []netip.Prefix) *http.Transport {
	allow = append([]netip.Prefix(nil), allow...)
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: dialControl(allow)}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Close releases idle connections. The Webhook stays usable.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

// Notify POSTs n.Payload (or options.post_data with the payload in place
// of each "$zaqar_message$" token) to n.Subscriber. 2xx is success;
// network errors, timeouts, 5xx, 408 and 429 are Retryable; 3xx
// (redirects are not followed), other 4xx, refused addresses and bad URIs
// are Permanent.
func (w *Webhook) Notify(ctx context.Context, n *Notification) error {
	u, err := url.Parse(n.Subscriber)
	if err != nil {
		return Permanent(fmt.Errorf("webhook: %w: subscriber is not a valid URI", ErrBadSubscriber))
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return Permanent(fmt.Errorf("webhook: %w %q", ErrUnsupportedScheme, u.Scheme))
	}
	if u.Host == "" {
		return Permanent(fmt.Errorf("webhook: %w: subscriber URI has no host", ErrBadSubscriber))
	}
	body := webhookBody(n.Payload, n.Options["post_data"])

	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook: %w: %v", ErrBadSubscriber, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.userAgent)
	for _, h := range postHeaders(n.Options["post_headers"]) {
		if strings.EqualFold(h[0], "Host") {
			req.Host = h[1]
			continue
		}
		req.Header.Set(h[0], h[1])
	}
	// Herald's headers come last: post_headers cannot forge them.
	ts := strconv.FormatInt(w.clock.Now().Unix(), 10)
	if n.MessageID != "" {
		req.Header.Set(HeaderMessageID, n.MessageID)
	} else {
		req.Header.Del(HeaderMessageID)
	}
	req.Header.Set(HeaderSubscriptionID, n.SubscriptionID)
	req.Header.Set(HeaderTimestamp, ts)
	if len(n.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(n.Secret, ts, body))
	} else {
		req.Header.Del(HeaderSignature)
	}

	resp, err := w.client.Do(req)
	if err != nil {
		return w.classifyTransport(ctx, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	_ = resp.Body.Close()
	return classifyStatus(resp.StatusCode, resp.Status)
}

// Sign returns the X-Herald-Signature value of a request:
// "v1=" + lowercase hex HMAC-SHA256(secret, timestamp + "." + body).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// webhookBody applies options.post_data: a JSON string is the body, with
// every "$zaqar_message$" (quotes included) replaced by the payload. Any
// other post_data value (absent, null, non-string) leaves the payload.
func webhookBody(payload []byte, postData json.RawMessage) []byte {
	var tmpl string
	if len(postData) == 0 || json.Unmarshal(postData, &tmpl) != nil {
		return payload
	}
	return []byte(strings.ReplaceAll(tmpl, messageToken, string(payload)))
}

// postHeaders returns options.post_headers as name/value pairs in
// document order, so that of two names equal up to case the later wins.
// Non-string values and non-object post_headers are ignored.
func postHeaders(raw json.RawMessage) [][2]string {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var out [][2]string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return out
		}
		var value string
		if name == "" || json.Unmarshal(v, &value) != nil {
			continue
		}
		out = append(out, [2]string{name, value})
	}
	return out
}

// classifyTransport turns an error of http.Client.Do into a classified
// error whose text has the network error but neither URI nor payload.
func (w *Webhook) classifyTransport(ctx context.Context, err error) error {
	var denied *AddressNotAllowedError
	if errors.As(err, &denied) {
		return Permanent(denied)
	}
	var bad *PermanentError
	if errors.As(err, &bad) {
		return bad
	}
	inner := err
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return Retryable(fmt.Errorf("webhook: POST timed out after %v: %w", w.timeout, inner))
	}
	return Retryable(fmt.Errorf("webhook: POST failed: %w", inner))
}

// classifyStatus maps an HTTP status to nil, Retryable or Permanent.
func classifyStatus(code int, status string) error {
	if status == "" {
		status = strconv.Itoa(code)
	}
	e := &StatusError{Code: code, Status: status}
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return Permanent(e)
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return Retryable(e)
	case code >= 400 && code < 500:
		return Permanent(e)
	}
	return Retryable(e)
}
