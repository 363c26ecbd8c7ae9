package notify

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// notifierFunc is a function-field fake Notifier.
type notifierFunc func(ctx context.Context, n *Notification) error

func (f notifierFunc) Notify(ctx context.Context, n *Notification) error { return f(ctx, n) }

func TestRegistryDispatchesByScheme(t *testing.T) {
	var got []string
	record := func(name string) Notifier {
		return notifierFunc(func(_ context.Context, n *Notification) error {
			got = append(got, name+" "+n.Subscriber)
			return nil
		})
	}
	r := NewRegistry(record("webhook"), record("mail"), map[string]Notifier{"WS": record("ws")})
	for _, uri := range []string{"http://a.example/", "HTTPS://b.example/", "mailto:c@example.com", "ws://d.example/"} {
		if err := r.Notify(context.Background(), &Notification{Subscriber: uri}); err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
	}
	want := []string{"webhook http://a.example/", "webhook HTTPS://b.example/", "mail mailto:c@example.com", "ws ws://d.example/"}
	if !slices.Equal(got, want) {
		t.Fatalf("dispatched %v, want %v", got, want)
	}
	if s := r.Schemes(); !slices.Equal(s, []string{"http", "https", "mailto", "ws"}) {
		t.Fatalf("Schemes() = %v", s)
	}
}

func TestRegistryErrors(t *testing.T) {
	r := NewRegistry(notifierFunc(func(context.Context, *Notification) error { return nil }), nil, nil)
	tests := []struct {
		uri  string
		want error
	}{
		{"mailto:a@example.com", ErrNoSMTP},
		{"ftp://example.com/", ErrUnsupportedScheme},
		{"trust+https://example.com/", ErrUnsupportedScheme},
		{"no-scheme", ErrBadSubscriber},
		{"::", ErrBadSubscriber},
	}
	for _, tt := range tests {
		err := r.Notify(context.Background(), &Notification{Subscriber: tt.uri})
		if !IsPermanent(err) || !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want permanent %v", tt.uri, err, tt.want)
		}
	}
	if err := r.Notify(context.Background(), &Notification{Subscriber: "mailto:a@example.com"}); err.Error() != "no SMTP server configured" {
		t.Errorf("mailto without SMTP: %q", err)
	}
	if s := r.Schemes(); !slices.Equal(s, []string{"http", "https"}) {
		t.Fatalf("Schemes() = %v", s)
	}
}

func TestErrorHelpers(t *testing.T) {
	if Retryable(nil) != nil || Permanent(nil) != nil {
		t.Fatal("nil must stay nil")
	}
	base := errors.New("x")
	r, p := Retryable(base), Permanent(base)
	if !IsRetryable(r) || IsPermanent(r) || !IsPermanent(p) || IsRetryable(p) {
		t.Fatal("classification lost")
	}
	if !errors.Is(r, base) || r.Error() != "x" {
		t.Fatal("wrapping lost the cause")
	}
	var pe *PermanentError
	if !errors.As(errors.Join(errors.New("other"), p), &pe) || pe.Err != base {
		t.Fatal("errors.As through a join")
	}
}
