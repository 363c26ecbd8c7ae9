package fsm

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
)

// reservedDefaults are the seven reserved keys that GET merges in as
// defaults (§1.2); a PATCH may replace or remove them even when not stored.
var reservedDefaults = map[string]bool{
	KeyMaxMessagesPostSize:  true,
	KeyDefaultMessageTTL:    true,
	KeyDefaultMessageDelay:  true,
	KeyDeadLetterQueue:      true,
	KeyDeadLetterQueueTTL:   true,
	KeyMaxClaimCount:        true,
	KeyEnableEncryptMessage: true,
}

// IsReservedDefaultKey reports whether key is one of the seven reserved
// metadata keys that have defaults (§1.2), which PATCH may replace or remove
// even when they are not stored.
func IsReservedDefaultKey(key string) bool { return reservedDefaults[key] }

// Retry policy defaults and constants (ZAQAR-API.md §5.4).
const (
	retryMinDelayDefault = 5
	retryMaxDelayDefault = 30
	retryLinearInterval  = 5
)

var retryIntFields = []string{
	"retries_with_no_delay", "minimum_delay_retries", "minimum_delay",
	"maximum_delay", "maximum_delay_retries",
}

// ValidateQueueMetadata checks reserved keys of a queue's metadata (§3) and
// returns a CodeBadRequest *Error describing the first problem. Every value
// must be valid JSON. A reserved key whose value is null counts as absent.
// "int" follows Python: a JSON integer literal, true or false.
func ValidateQueueMetadata(md map[string]json.RawMessage) error {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !json.Valid(md[k]) {
			return Errorf(CodeBadRequest, "The value of %q is not valid JSON.", k)
		}
	}
	ranges := []struct {
		key      string
		min, max int64
	}{
		{KeyMaxMessagesPostSize, 1, MaxMessagesPostSize},
		{KeyDefaultMessageTTL, MinMessageTTL, MaxMessageTTL},
		{KeyDefaultMessageDelay, 0, MaxMessageDelay},
		{KeyDeadLetterQueueTTL, MinMessageTTL, MaxMessageTTL},
	}
	for _, r := range ranges {
		raw, ok := md[r.key]
		if !ok || isNull(raw) {
			continue
		}
		v, isInt := jsonInt(raw)
		if !isInt || v < r.min || v > r.max {
			return Errorf(CodeBadRequest, "The value of %q must be an integer between %d and %d.", r.key, r.min, r.max)
		}
	}
	if raw, ok := md[KeyMaxClaimCount]; ok && !isNull(raw) {
		if _, isInt := jsonInt(raw); !isInt {
			return Errorf(CodeBadRequest, "The value of %q must be an integer.", KeyMaxClaimCount)
		}
	}
	if raw, ok := md[KeyEnableEncryptMessage]; ok && truthy(raw) && !isBool(raw) {
		return Errorf(CodeBadRequest, "The value of %q must be a boolean.", KeyEnableEncryptMessage)
	}
	if raw, ok := md[KeyRetryPolicy]; ok {
		if err := validateRetryPolicy(raw); err != nil {
			return err
		}
	}
	return nil
}

// ValidateRetryPolicy checks a _retry_policy value, of queue metadata or
// of a subscription's options (§5.4), as validateRetryPolicy does; a
// failure is a CodeBadRequest *Error.
func ValidateRetryPolicy(raw json.RawMessage) error { return validateRetryPolicy(raw) }

// validateRetryPolicy checks a _retry_policy value (§5.4). A falsy value
// passes; otherwise it must be an object whose numeric fields, when truthy,
// are ints, whose function is one of the four names and whose override flag
// is a boolean; maximum_delay >= minimum_delay and the gap is >= 10 seconds
// (absent values take their defaults).
func validateRetryPolicy(raw json.RawMessage) error {
	if !truthy(raw) {
		return nil
	}
	var pol map[string]json.RawMessage
	if bytes.TrimSpace(raw)[0] != '{' || json.Unmarshal(raw, &pol) != nil {
		return Errorf(CodeBadRequest, "The value of %q must be an object.", KeyRetryPolicy)
	}
	for _, f := range retryIntFields {
		if v, ok := pol[f]; ok && truthy(v) {
			if _, isInt := jsonInt(v); !isInt {
				return Errorf(CodeBadRequest, "The value of %q in %q must be an integer.", f, KeyRetryPolicy)
			}
		}
	}
	if v, ok := pol["retry_backoff_function"]; ok && truthy(v) {
		var name string
		_ = json.Unmarshal(v, &name)
		switch name {
		case "linear", "arithmetic", "geometric", "exponential":
		default:
			return Errorf(CodeBadRequest, "The value of %q in %q must be one of linear, arithmetic, geometric, exponential.",
				"retry_backoff_function", KeyRetryPolicy)
		}
	}
	if v, ok := pol["ignore_subscription_override"]; ok && truthy(v) && !isBool(v) {
		return Errorf(CodeBadRequest, "The value of %q in %q must be a boolean.", "ignore_subscription_override", KeyRetryPolicy)
	}
	minDelay, err := retryDelay(pol, "minimum_delay", retryMinDelayDefault)
	if err != nil {
		return err
	}
	maxDelay, err := retryDelay(pol, "maximum_delay", retryMaxDelayDefault)
	if err != nil {
		return err
	}
	if maxDelay < minDelay {
		return Errorf(CodeBadRequest, "In %q, maximum_delay (%d) must not be less than minimum_delay (%d).",
			KeyRetryPolicy, maxDelay, minDelay)
	}
	if maxDelay-minDelay < 2*retryLinearInterval {
		return Errorf(CodeBadRequest, "In %q, maximum_delay must exceed minimum_delay by at least %d seconds.",
			KeyRetryPolicy, 2*retryLinearInterval)
	}
	return nil
}

// retryDelay resolves minimum_delay/maximum_delay: absent or null -> def.
func retryDelay(pol map[string]json.RawMessage, key string, def int64) (int64, error) {
	v, ok := pol[key]
	if !ok || isNull(v) {
		return def, nil
	}
	n, isInt := jsonInt(v)
	if !isInt {
		return 0, Errorf(CodeBadRequest, "The value of %q in %q must be an integer.", key, KeyRetryPolicy)
	}
	return n, nil
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// isBool reports whether raw is a JSON boolean.
func isBool(raw json.RawMessage) bool {
	t := string(bytes.TrimSpace(raw))
	return t == "true" || t == "false"
}

// jsonInt parses raw as a Python-style int: a JSON integer literal (no
// fraction or exponent, within int64) or a boolean (true = 1, false = 0).
func jsonInt(raw json.RawMessage) (int64, bool) {
	t := bytes.TrimSpace(raw)
	switch string(t) {
	case "true":
		return 1, true
	case "false":
		return 0, true
	}
	if len(t) == 0 {
		return 0, false
	}
	digits := t
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(t), 10, 64)
	return v, err == nil
}

// truthy reports Python truthiness of a JSON value: null, false, numeric
// zero, "", [] and {} are falsy; everything else (including invalid JSON) is
// truthy.
func truthy(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return false
	}
	switch t[0] {
	case 'n', 'f':
		return false
	case 't':
		return true
	case '"':
		return string(t) != `""`
	case '[', '{':
		var v any
		if json.Unmarshal(t, &v) != nil {
			return true
		}
		switch x := v.(type) {
		case []any:
			return len(x) > 0
		case map[string]any:
			return len(x) > 0
		}
		return true
	default:
		f, err := strconv.ParseFloat(string(t), 64)
		return err != nil || f != 0
	}
}

// queueCfg is what apply code needs from a queue's metadata, derived once
// whenever the metadata changes.
type queueCfg struct {
	defaultTTL int64  // truthy _default_message_ttl, else 0
	delay      int64  // truthy _default_message_delay, else 0; > 0 turns delay handling on
	dlq        string // dead-letter target; "" = dead-lettering off
	maxClaims  int64  // _max_claim_count (meaningful only when dlq != "")
	dlqTTL     int64  // truthy _dead_letter_queue_messages_ttl, else 0 (keep expiry)
}

// cfgFromMeta derives a queueCfg. Dead-lettering is on only when both
// _max_claim_count (an int) and _dead_letter_queue (a valid queue name) are
// present and non-null.
func cfgFromMeta(md map[string]json.RawMessage) queueCfg {
	var c queueCfg
	if v, ok := jsonInt(md[KeyDefaultMessageTTL]); ok && v > 0 {
		c.defaultTTL = v
	}
	if v, ok := jsonInt(md[KeyDefaultMessageDelay]); ok && v > 0 {
		c.delay = v
	}
	if v, ok := jsonInt(md[KeyDeadLetterQueueTTL]); ok && v > 0 {
		c.dlqTTL = v
	}
	maxClaims, okMax := jsonInt(md[KeyMaxClaimCount])
	var dlq string
	if raw, ok := md[KeyDeadLetterQueue]; ok && json.Unmarshal(raw, &dlq) == nil && okMax && ValidQueueName(dlq) {
		c.dlq = dlq
		c.maxClaims = maxClaims
	}
	return c
}

// metaMatches reports whether a stored metadata value equals a list filter
// value: if want parses as an int, the stored value must be a JSON number
// equal to it; otherwise it must be a JSON string equal to want.
func metaMatches(raw json.RawMessage, want string) bool {
	if iv, err := strconv.ParseInt(want, 10, 64); err == nil {
		if v, ok := jsonInt(raw); ok && !isBool(raw) {
			return v == iv
		}
		t := bytes.TrimSpace(raw)
		if len(t) == 0 || !(t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
			return false
		}
		f, err := strconv.ParseFloat(string(t), 64)
		return err == nil && f == float64(iv)
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == want
}

// copyMeta returns a shallow copy of md (values are shared, never mutated).
func copyMeta(md map[string]json.RawMessage) map[string]json.RawMessage {
	if md == nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(md))
	for k, v := range md {
		out[k] = v
	}
	return out
}
