package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Backoff function names of a retry policy.
const (
	BackoffLinear      = "linear"
	BackoffArithmetic  = "arithmetic"
	BackoffGeometric   = "geometric"
	BackoffExponential = "exponential"
)

// backoffStep is Zaqar's fixed interval s of the backoff series, seconds.
const backoffStep = 5

// RetryPolicy is a Zaqar _retry_policy (§5.4) with defaults applied.
// Delays are in seconds.
type RetryPolicy struct {
	// RetriesWithNoDelay is the number of immediate retries (default 3).
	RetriesWithNoDelay int `json:"retries_with_no_delay"`
	// MinimumDelayRetries is the number of retries after MinimumDelay (default 3).
	MinimumDelayRetries int `json:"minimum_delay_retries"`
	// MinimumDelay is m, the shortest delay in seconds (default 5).
	MinimumDelay int `json:"minimum_delay"`
	// MaximumDelay is M, the longest delay in seconds (default 30).
	MaximumDelay int `json:"maximum_delay"`
	// MaximumDelayRetries is the number of retries after MaximumDelay (default 3).
	MaximumDelayRetries int `json:"maximum_delay_retries"`
	// BackoffFunction names the series between m and M (default "linear").
	BackoffFunction string `json:"retry_backoff_function"`
	// IgnoreSubscriptionOverride makes the queue's policy win (default false).
	IgnoreSubscriptionOverride bool `json:"ignore_subscription_override"`
}

// DefaultRetryPolicy returns Zaqar's defaults: 3 immediate retries, 3
// after 5 s, the linear series from 5 s to 30 s, 3 after 30 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		RetriesWithNoDelay:  3,
		MinimumDelayRetries: 3,
		MinimumDelay:        5,
		MaximumDelay:        30,
		MaximumDelayRetries: 3,
		BackoffFunction:     BackoffLinear,
	}
}

// ParseRetryPolicy decodes a _retry_policy value. Absent or falsy fields
// (missing, null, 0, "", false) take their defaults. present reports a
// non-empty object: an absent, null or falsy raw value ({}, [], "", 0,
// false) is not present and yields the defaults without error.
//
// It returns an error for what Zaqar's validation rejects with 400: a
// truthy non-object, a truthy numeric field that is not an integer (JSON
// booleans included), an unknown function name, a non-bool flag, and,
// defaults applied, maximum_delay < minimum_delay or
// maximum_delay − minimum_delay < 10. With an error the returned policy
// is the defaults overlaid with whatever parsed.
func ParseRetryPolicy(raw json.RawMessage) (p RetryPolicy, present bool, err error) {
	p = DefaultRetryPolicy()
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || falsyJSON(raw) {
		return p, false, nil
	}
	if raw[0] != '{' {
		return p, false, fmt.Errorf("_retry_policy must be an object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return p, false, fmt.Errorf("_retry_policy: %v", err)
	}
	if len(fields) == 0 {
		return p, false, nil
	}
	for _, f := range []struct {
		key string
		dst *int
	}{
		{"retries_with_no_delay", &p.RetriesWithNoDelay},
		{"minimum_delay_retries", &p.MinimumDelayRetries},
		{"minimum_delay", &p.MinimumDelay},
		{"maximum_delay", &p.MaximumDelay},
		{"maximum_delay_retries", &p.MaximumDelayRetries},
	} {
		v, ok := fields[f.key]
		if !ok || falsyJSON(v) {
			continue
		}
		n, convErr := strconv.Atoi(string(v))
		if convErr != nil {
			return p, true, fmt.Errorf("_retry_policy: %s must be an integer", f.key)
		}
		*f.dst = n
	}
	if v, ok := fields["retry_backoff_function"]; ok && !falsyJSON(v) {
		var name string
		if json.Unmarshal(v, &name) != nil || !validBackoff(name) {
			return p, true, fmt.Errorf("_retry_policy: retry_backoff_function must be one of linear, arithmetic, geometric, exponential")
		}
		p.BackoffFunction = name
	}
	if v, ok := fields["ignore_subscription_override"]; ok && string(v) != "null" {
		if json.Unmarshal(v, &p.IgnoreSubscriptionOverride) != nil {
			return p, true, fmt.Errorf("_retry_policy: ignore_subscription_override must be a boolean")
		}
	}
	if p.MaximumDelay < p.MinimumDelay {
		return p, true, fmt.Errorf("_retry_policy: maximum_delay must not be less than minimum_delay")
	}
	if p.MaximumDelay-p.MinimumDelay < 2*backoffStep {
		return p, true, fmt.Errorf("_retry_policy: maximum_delay must be at least %d seconds more than minimum_delay", 2*backoffStep)
	}
	return p, true, nil
}

// falsyJSON reports whether raw is a JSON value Python treats as false.
func falsyJSON(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "null", "false", "0", "-0", `""`, "[]", "{}":
		return true
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return f == 0
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		switch x := v.(type) {
		case []any:
			return len(x) == 0
		case map[string]any:
			return len(x) == 0
		}
	}
	return false
}

func validBackoff(name string) bool {
	switch name {
	case BackoffLinear, BackoffArithmetic, BackoffGeometric, BackoffExponential:
		return true
	}
	return false
}

// SelectPolicy picks the policy of one delivery (§5.4): if the queue's or
// the subscription's policy has ignore_subscription_override true, the
// queue's; otherwise the subscription's if non-empty, else the queue's if
// non-empty, else the defaults. An invalid policy counts as absent (the
// API validates policies when they are written). For topics pass the
// policy of the same-named queue, as Zaqar does.
func SelectPolicy(queueRaw, subRaw json.RawMessage) RetryPolicy {
	q, qOK, qErr := ParseRetryPolicy(queueRaw)
	s, sOK, sErr := ParseRetryPolicy(subRaw)
	qOK = qOK && qErr == nil
	sOK = sOK && sErr == nil
	switch {
	case (qOK && q.IgnoreSubscriptionOverride) || (sOK && s.IgnoreSubscriptionOverride):
		if qOK {
			return q
		}
		return DefaultRetryPolicy()
	case sOK:
		return s
	case qOK:
		return q
	}
	return DefaultRetryPolicy()
}

// Delays returns the wait before each retry after a failed first attempt:
// RetriesWithNoDelay zeros, MinimumDelayRetries × MinimumDelay, the
// backoff series (Backoff), MaximumDelayRetries × MaximumDelay. Its length
// is the number of retries. Negative counts and delays count as 0.
func (p RetryPolicy) Delays() []time.Duration {
	var out []time.Duration
	repeat := func(n, secs int) {
		for range max(n, 0) {
			out = append(out, time.Duration(max(secs, 0))*time.Second)
		}
	}
	repeat(p.RetriesWithNoDelay, 0)
	repeat(p.MinimumDelayRetries, p.MinimumDelay)
	for _, s := range p.Backoff() {
		out = append(out, time.Duration(max(s, 0))*time.Second)
	}
	repeat(p.MaximumDelayRetries, p.MaximumDelay)
	return out
}

// Backoff returns the backoff series in whole seconds, with m =
// MinimumDelay, M = MaximumDelay, s = 5 and n = floor((M − m)/s):
//
//   - linear: m, m+s, m+2s, ... < M (Python range(m, M, 5));
//   - geometric: k = (M/m)^(1/(n−1)), value_i = m·k^(i−1), i = 1..n;
//   - exponential: same k, p = m/k, value_i = p·k^i (equal to geometric);
//   - arithmetic: d = 2(M−m)/(n(n−1)), value_i = m + d·i(i−1)/2.
//
// Values are truncated to integers after rounding to 1e-9, so float error
// cannot turn a documented 30 into 29. Where Zaqar divides by zero this
// returns instead: n <= 0 gives no values, n == 1 gives [m] (the i = 1
// term of every series), and m == 0 makes geometric and exponential use
// the linear series. An unknown function name is treated as linear.
func (p RetryPolicy) Backoff() []int {
	m, M := p.MinimumDelay, p.MaximumDelay
	fn := p.BackoffFunction
	if m <= 0 && (fn == BackoffGeometric || fn == BackoffExponential) {
		fn = BackoffLinear
	}
	if fn != BackoffArithmetic && fn != BackoffGeometric && fn != BackoffExponential {
		var out []int
		for v := m; v < M; v += backoffStep {
			out = append(out, v)
		}
		return out
	}
	n := floorDiv(M-m, backoffStep)
	if n <= 0 {
		return nil
	}
	if n == 1 {
		return []int{m}
	}
	fm, fM, fn1 := float64(m), float64(M), float64(n-1)
	out := make([]int, 0, n)
	for i := 1; i <= n; i++ {
		var v float64
		switch fn {
		case BackoffGeometric:
			k := math.Pow(fM/fm, 1/fn1)
			v = fm * math.Pow(k, float64(i-1))
		case BackoffExponential:
			k := math.Pow(fM/fm, 1/fn1)
			v = fm / k * math.Pow(k, float64(i))
		case BackoffArithmetic:
			d := 2 * (fM - fm) / (float64(n) * fn1)
			v = fm + d*float64(i*(i-1))/2
		}
		out = append(out, truncate(v))
	}
	return out
}

// truncate rounds v to 1e-9 and then truncates it toward zero.
func truncate(v float64) int {
	return int(math.Trunc(math.Round(v*1e9) / 1e9))
}

// floorDiv is Python's a // b for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
