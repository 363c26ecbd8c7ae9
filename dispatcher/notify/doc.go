// Package notify delivers push notifications to subscribers: one Notifier
// per subscriber URI scheme (webhook for http/https, Mailer for mailto), a
// Registry that dispatches by scheme, and Zaqar's retry policy (§5.4 of
// ZAQAR-API.md) with a Retrier that runs a delivery under it.
//
// # Layers
//
// A worker of the dispatcher builds a Notification (payload from
// BuildPayload or BuildConfirmation), picks the policy with
// SelectPolicy(queue _retry_policy, subscription options._retry_policy)
// and calls
//
//	Retrier{Clock: clk}.Run(ctx, policy, func(ctx context.Context) error {
//		return registry.Notify(ctx, n)
//	})
//
// A Notifier makes exactly one attempt and classifies its failure:
// Retryable (network errors, timeouts, HTTP 5xx/408/429, SMTP 4xx) or
// Permanent (HTTP 3xx and other 4xx, SMTP 5xx, refused addresses, bad or
// unsupported subscriber URIs, no SMTP server). The Retrier stops at a
// Permanent error and wraps the last error of an exhausted policy with
// ErrExhausted. Error texts name status codes and network errors, never
// the payload.
//
// # Retry schedule
//
// After a failed first attempt: RetriesWithNoDelay immediate retries,
// MinimumDelayRetries after MinimumDelay, one retry after each value of
// the backoff series (linear, arithmetic, geometric or exponential between
// MinimumDelay and MaximumDelay, step 5 s), then MaximumDelayRetries after
// MaximumDelay. With Zaqar's defaults that is 14 retries over 180 s.
// RetryPolicy.Backoff documents the guards where Zaqar would divide by
// zero (n <= 1, minimum_delay 0).
//
// # Webhook requests
//
// POST to the subscriber URI; body = the payload, or options.post_data (a
// JSON string) with each "$zaqar_message$" token, quotes included,
// replaced by the payload. Headers: Content-Type: application/json and
// User-Agent, overlaid by options.post_headers (string values, in
// document order, later wins), then Herald's extension headers, which
// post_headers cannot override:
//
//	X-Herald-Message-Id:      the message ID, the idempotency key: delivery
//	                          is at-least-once, receivers drop duplicates
//	                          (absent for confirmations)
//	X-Herald-Subscription-Id: the subscription ID
//	X-Herald-Timestamp:       Unix seconds when the request was made
//	X-Herald-Signature:       v1=<lowercase hex HMAC-SHA256(secret,
//	                          timestamp + "." + body)> (absent without a
//	                          per-subscription secret)
//
// A receiver verifies by recomputing the HMAC over the timestamp header,
// a dot and the raw body, comparing in constant time (hmac.Equal) and
// rejecting timestamps older than a few minutes (replay window);
// docs/WEBHOOKS.md has a Go snippet. Redirects are never followed (3xx is
// a Permanent "redirects are not followed"); at most 64 KiB of a response
// body is read.
//
// # Address guard
//
// The built-in transport refuses loopback, link-local, private (RFC 1918,
// fc00::/7), unspecified, multicast, 0.0.0.0/8, broadcast and CGNAT
// (100.64.0.0/10) addresses unless they fall inside
// WebhookConfig.AllowCIDRs (-subscriber-allow-cidrs). The check runs in
// the dialer's Control hook, on the resolved IP of every connection, so
// neither a hostname nor DNS rebinding gets around it; the error is a
// Permanent *AddressNotAllowedError ("subscriber address 127.0.0.1 is not
// allowed (see -subscriber-allow-cidrs)"). CheckSubscriberURL applies the
// same rule to literal IP hosts when a subscription is written. The
// transport uses no HTTP proxy.
//
// # Mail
//
// Mailer sends one SMTP session per notification with
// github.com/wneessen/go-mail: recipients from the mailto URI, Subject
// from its subject parameter (case-insensitive key) else options.subject,
// From from options.from else MailConfig.From, plain-text body = payload
// JSON. Confirmations get Zaqar's subjects, a human text with a link to
// MailConfig.ConfirmationURL when configured, and the payload JSON.
package notify
