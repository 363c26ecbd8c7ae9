package notify

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBackoffSeriesMatchesZaqarDocs(t *testing.T) {
	tests := []struct {
		fn   string
		m, M int
		want []int
	}{
		{BackoffLinear, 5, 30, []int{5, 10, 15, 20, 25}},
		{BackoffGeometric, 5, 30, []int{5, 7, 12, 19, 30}},
		{BackoffExponential, 5, 30, []int{5, 7, 12, 19, 30}},
		{BackoffArithmetic, 5, 30, []int{5, 7, 12, 20, 30}},
		{BackoffLinear, 10, 60, []int{10, 15, 20, 25, 30, 35, 40, 45, 50, 55}},
		{BackoffGeometric, 10, 60, []int{10, 12, 14, 18, 22, 27, 33, 40, 49, 60}},
		{BackoffExponential, 10, 60, []int{10, 12, 14, 18, 22, 27, 33, 40, 49, 60}},
		{BackoffArithmetic, 10, 60, []int{10, 11, 13, 16, 21, 26, 33, 41, 50, 60}},
	}
	for _, tt := range tests {
		p := RetryPolicy{MinimumDelay: tt.m, MaximumDelay: tt.M, BackoffFunction: tt.fn}
		if got := p.Backoff(); !slices.Equal(got, tt.want) {
			t.Errorf("%s(%d,%d) = %v, want %v", tt.fn, tt.m, tt.M, got, tt.want)
		}
	}
}

func TestBackoffEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		fn   string
		m, M int
		want []int
	}{
		{"n=1 geometric gives [m]", BackoffGeometric, 5, 12, []int{5}},
		{"n=1 exponential gives [m]", BackoffExponential, 5, 12, []int{5}},
		{"n=1 arithmetic gives [m]", BackoffArithmetic, 5, 12, []int{5}},
		{"n=1 linear is range()", BackoffLinear, 5, 12, []int{5, 10}},
		{"n=0 geometric is empty", BackoffGeometric, 5, 9, nil},
		{"M<m arithmetic is empty", BackoffArithmetic, 30, 5, nil},
		{"M<m linear is empty", BackoffLinear, 30, 5, nil},
		{"m=0 geometric falls back to linear", BackoffGeometric, 0, 20, []int{0, 5, 10, 15}},
		{"m=0 exponential falls back to linear", BackoffExponential, 0, 20, []int{0, 5, 10, 15}},
		{"m=0 arithmetic", BackoffArithmetic, 0, 20, []int{0, 3, 10, 20}},
		{"unknown name is linear", "bogus", 5, 20, []int{5, 10, 15}},
	}
	for _, tt := range tests {
		p := RetryPolicy{MinimumDelay: tt.m, MaximumDelay: tt.M, BackoffFunction: tt.fn}
		if got := p.Backoff(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func secs(vs ...int) []time.Duration {
	out := make([]time.Duration, len(vs))
	for i, v := range vs {
		out[i] = time.Duration(v) * time.Second
	}
	return out
}

func TestDelaysDefaults(t *testing.T) {
	want := secs(0, 0, 0, 5, 5, 5, 5, 10, 15, 20, 25, 30, 30, 30)
	if got := DefaultRetryPolicy().Delays(); !slices.Equal(got, want) {
		t.Fatalf("Delays() = %v, want %v", got, want)
	}
	// backoff range(-4, 1, 5) = [-4]: clamped to 0 like the minimum delay.
	p := RetryPolicy{RetriesWithNoDelay: -1, MinimumDelayRetries: 1, MinimumDelay: -4, MaximumDelay: 1, MaximumDelayRetries: 0}
	if got, want := p.Delays(), secs(0, 0); !slices.Equal(got, want) {
		t.Fatalf("negative values: Delays() = %v, want %v", got, want)
	}
}

func TestParseRetryPolicy(t *testing.T) {
	def := DefaultRetryPolicy()
	tests := []struct {
		raw     string
		want    RetryPolicy
		present bool
		err     string
	}{
		{"", def, false, ""},
		{"null", def, false, ""},
		{"{}", def, false, ""},
		{"[]", def, false, ""},
		{`""`, def, false, ""},
		{"0", def, false, ""},
		{"false", def, false, ""},
		{`{"minimum_delay": 10, "maximum_delay": 60, "retry_backoff_function": "geometric", "retries_with_no_delay": 1, "minimum_delay_retries": 2, "maximum_delay_retries": 4, "ignore_subscription_override": true}`,
			RetryPolicy{1, 2, 10, 60, 4, "geometric", true}, true, ""},
		{`{"retries_with_no_delay": 0, "minimum_delay": 0, "retry_backoff_function": "", "ignore_subscription_override": null, "unknown": 1}`, def, true, ""},
		{`{"ignore_subscription_override": false}`, def, true, ""},
		{`{"maximum_delay": 100}`, RetryPolicy{3, 3, 5, 100, 3, "linear", false}, true, ""},
		{`[1]`, def, false, "must be an object"},
		{`"x"`, def, false, "must be an object"},
		{`{"minimum_delay": 5.5}`, def, true, "minimum_delay must be an integer"},
		{`{"retries_with_no_delay": "3"}`, def, true, "retries_with_no_delay must be an integer"},
		{`{"maximum_delay_retries": true}`, def, true, "maximum_delay_retries must be an integer"},
		{`{"retry_backoff_function": "cubic"}`, def, true, "retry_backoff_function must be one of"},
		{`{"retry_backoff_function": 3}`, def, true, "retry_backoff_function must be one of"},
		{`{"ignore_subscription_override": "yes"}`, def, true, "must be a boolean"},
		{`{"minimum_delay": 40}`, RetryPolicy{3, 3, 40, 30, 3, "linear", false}, true, "must not be less than"},
		{`{"maximum_delay": 14}`, RetryPolicy{3, 3, 5, 14, 3, "linear", false}, true, "at least 10 seconds more"},
	}
	for _, tt := range tests {
		got, present, err := ParseRetryPolicy(json.RawMessage(tt.raw))
		if tt.err == "" && err != nil {
			t.Errorf("%s: unexpected error %v", tt.raw, err)
			continue
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want one containing %q", tt.raw, err, tt.err)
			}
			if present != tt.present {
				t.Errorf("%s: present = %v, want %v", tt.raw, present, tt.present)
			}
			if tt.want != def && got != tt.want {
				t.Errorf("%s: policy = %+v, want %+v", tt.raw, got, tt.want)
			}
			continue
		}
		if got != tt.want || present != tt.present {
			t.Errorf("%s: got %+v present=%v, want %+v present=%v", tt.raw, got, present, tt.want, tt.present)
		}
	}
}

func TestSelectPolicyOverrideRule(t *testing.T) {
	const (
		queue       = `{"minimum_delay": 10, "maximum_delay": 60}`
		queueIgnore = `{"minimum_delay": 10, "maximum_delay": 60, "ignore_subscription_override": true}`
		sub         = `{"minimum_delay": 20, "maximum_delay": 40}`
		subIgnore   = `{"minimum_delay": 20, "maximum_delay": 40, "ignore_subscription_override": true}`
		invalid     = `{"retry_backoff_function": "cubic"}`
	)
	q := RetryPolicy{3, 3, 10, 60, 3, "linear", false}
	qi := q
	qi.IgnoreSubscriptionOverride = true
	s := RetryPolicy{3, 3, 20, 40, 3, "linear", false}
	def := DefaultRetryPolicy()
	tests := []struct {
		name       string
		queue, sub string
		want       RetryPolicy
	}{
		{"neither: defaults", "", "", def},
		{"empty objects: defaults", "{}", "{}", def},
		{"queue only", queue, "", q},
		{"subscription only", "", sub, s},
		{"both: subscription wins", queue, sub, s},
		{"empty subscription: queue", queue, "{}", q},
		{"queue ignores override", queueIgnore, sub, qi},
		{"subscription asks to ignore its own override", queue, subIgnore, q},
		{"subscription ignores, no queue policy: defaults", "", subIgnore, def},
		{"invalid subscription counts as absent", queue, invalid, q},
		{"invalid queue counts as absent", invalid, sub, s},
	}
	for _, tt := range tests {
		if got := SelectPolicy(json.RawMessage(tt.queue), json.RawMessage(tt.sub)); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
