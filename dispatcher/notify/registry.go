package notify

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Registry dispatches a notification to the notifier of its subscriber
// URI's scheme. It is immutable after NewRegistry and safe for concurrent
// use.
type Registry struct {
	byScheme map[string]Notifier // lower-case scheme -> notifier; nil: no SMTP
}

// NewRegistry returns a registry where webhook serves http and https and
// mailer serves mailto. A nil mailer makes mailto subscribers fail with a
// Permanent ErrNoSMTP; a nil webhook leaves http and https unsupported.
// extra adds or replaces schemes (e.g. a websocket notifier); its keys are
// matched case-insensitively.
func NewRegistry(webhook, mailer Notifier, extra map[string]Notifier) *Registry {
	r := &Registry{byScheme: map[string]Notifier{"mailto": nil}}
	if webhook != nil {
		r.byScheme["http"] = webhook
		r.byScheme["https"] = webhook
	}
	if mailer != nil {
		r.byScheme["mailto"] = mailer
	}
	for s, n := range extra {
		if n != nil {
			r.byScheme[strings.ToLower(s)] = n
		}
	}
	return r
}

// Schemes returns the schemes with a notifier, sorted.
func (r *Registry) Schemes() []string {
	var out []string
	for _, s := range slices.Sorted(maps.Keys(r.byScheme)) {
		if r.byScheme[s] != nil {
			out = append(out, s)
		}
	}
	return out
}

// Lookup returns the notifier of a subscriber URI, or a Permanent error
// (ErrBadSubscriber, ErrUnsupportedScheme or ErrNoSMTP).
func (r *Registry) Lookup(subscriber string) (Notifier, error) {
	u, err := url.Parse(subscriber)
	if err != nil || u.Scheme == "" {
		return nil, Permanent(fmt.Errorf("%w: subscriber is not an absolute URI", ErrBadSubscriber))
	}
	scheme := strings.ToLower(u.Scheme)
	n, known := r.byScheme[scheme]
	switch {
	case n != nil:
		return n, nil
	case known && scheme == "mailto":
		return nil, Permanent(ErrNoSMTP)
	}
	return nil, Permanent(fmt.Errorf("%w %q", ErrUnsupportedScheme, scheme))
}

// Notify delivers n with the notifier of n.Subscriber's scheme.
func (r *Registry) Notify(ctx context.Context, n *Notification) error {
	nt, err := r.Lookup(n.Subscriber)
	if err != nil {
		return err
	}
	return nt.Notify(ctx, n)
}
