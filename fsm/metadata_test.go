package fsm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"000000000000000100000000", true},
		{"0123456789abcdef01234567", true},
		{formatID(1<<63, 1<<31), true},
		{"", false},
		{"123", false},
		{"invalid", false},
		{"0123456789ABCDEF01234567", false},  // uppercase
		{"0123456789abcdef0123456g", false},  // not hex
		{"0123456789abcdef012345670", false}, // too long
		{"-1", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.in); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFormatID(t *testing.T) {
	if got, want := formatID(0x1a, 0x2b), "000000000000001a0000002b"; got != want {
		t.Fatalf("formatID = %s, want %s", got, want)
	}
	// String order equals (index, n) order.
	ids := []string{formatID(1, 0), formatID(1, 1), formatID(1, 0xffff), formatID(2, 0), formatID(0x100, 0)}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Fatalf("ids not increasing: %s >= %s", ids[i-1], ids[i])
		}
	}
	c := &applyCtx{index: 7}
	if a, b := c.mint(), c.mint(); a != formatID(7, 0) || b != formatID(7, 1) {
		t.Fatalf("mint = %s, %s", a, b)
	}
}

func TestValidQueueName(t *testing.T) {
	for in, want := range map[string]bool{
		"q": true, "my_queue-1": true, "v1.events": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "a b": false, "q/1": false, "é": false,
	} {
		if got := ValidQueueName(in); got != want {
			t.Errorf("ValidQueueName(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestValidateQueueMetadata(t *testing.T) {
	const ttlErr = `The value of "_default_message_ttl" must be an integer between 60 and 1209600.`
	tests := []struct {
		name string
		md   string // JSON object
		want string // "" = valid, else a substring of the error
	}{
		{"empty", `{}`, ""},
		{"user keys", `{"a": [1, {"b": null}], "description": "x"}`, ""},
		{"ttl ok", `{"_default_message_ttl": 60}`, ""},
		{"ttl max", `{"_default_message_ttl": 1209600}`, ""},
		{"ttl low", `{"_default_message_ttl": 59}`, ttlErr},
		{"ttl high", `{"_default_message_ttl": 1209601}`, ttlErr},
		{"ttl zero", `{"_default_message_ttl": 0}`, ttlErr},
		{"ttl float", `{"_default_message_ttl": 60.5}`, ttlErr},
		{"ttl integral float", `{"_default_message_ttl": 60.0}`, ttlErr},
		{"ttl exponent", `{"_default_message_ttl": 6e1}`, ttlErr},
		{"ttl string", `{"_default_message_ttl": "60"}`, ttlErr},
		{"ttl true is 1", `{"_default_message_ttl": true}`, ttlErr},
		{"ttl null is absent", `{"_default_message_ttl": null}`, ""},
		{"ttl huge", `{"_default_message_ttl": 99999999999999999999999}`, ttlErr},
		{"post size ok", `{"_max_messages_post_size": 262144}`, ""},
		{"post size true", `{"_max_messages_post_size": true}`, ""},
		{"post size zero", `{"_max_messages_post_size": 0}`, `"_max_messages_post_size" must be an integer between 1 and 262144`},
		{"post size high", `{"_max_messages_post_size": 262145}`, `_max_messages_post_size`},
		{"delay zero", `{"_default_message_delay": 0}`, ""},
		{"delay false", `{"_default_message_delay": false}`, ""},
		{"delay max", `{"_default_message_delay": 900}`, ""},
		{"delay high", `{"_default_message_delay": 901}`, `"_default_message_delay" must be an integer between 0 and 900`},
		{"delay negative", `{"_default_message_delay": -1}`, `_default_message_delay`},
		{"claim count", `{"_max_claim_count": 5}`, ""},
		{"claim count negative", `{"_max_claim_count": -3}`, ""},
		{"claim count null", `{"_max_claim_count": null}`, ""},
		{"claim count string", `{"_max_claim_count": "5"}`, `"_max_claim_count" must be an integer.`},
		{"claim count float", `{"_max_claim_count": 1.5}`, `_max_claim_count`},
		{"dlq any value", `{"_dead_letter_queue": {"x": 1}}`, ""},
		{"dlq ttl ok", `{"_dead_letter_queue_messages_ttl": 120}`, ""},
		{"dlq ttl low", `{"_dead_letter_queue_messages_ttl": 30}`, `"_dead_letter_queue_messages_ttl" must be an integer between 60 and 1209600`},
		{"encrypt true", `{"_enable_encrypt_messages": true}`, ""},
		{"encrypt false", `{"_enable_encrypt_messages": false}`, ""},
		{"encrypt falsy zero", `{"_enable_encrypt_messages": 0}`, ""},
		{"encrypt one", `{"_enable_encrypt_messages": 1}`, `"_enable_encrypt_messages" must be a boolean`},
		{"encrypt string", `{"_enable_encrypt_messages": "yes"}`, `_enable_encrypt_messages`},
		{"retry empty", `{"_retry_policy": {}}`, ""},
		{"retry falsy list", `{"_retry_policy": []}`, ""},
		{"retry not object", `{"_retry_policy": "x"}`, `"_retry_policy" must be an object`},
		{"retry list", `{"_retry_policy": [1]}`, `must be an object`},
		{"retry ok", `{"_retry_policy": {"minimum_delay": 5, "maximum_delay": 30, "retry_backoff_function": "geometric", "ignore_subscription_override": true}}`, ""},
		{"retry gap too small", `{"_retry_policy": {"maximum_delay": 10}}`, "at least 10 seconds"},
		{"retry max below min", `{"_retry_policy": {"minimum_delay": 40}}`, "must not be less than"},
		{"retry bad function", `{"_retry_policy": {"retry_backoff_function": "cubic"}}`, "retry_backoff_function"},
		{"retry function not string", `{"_retry_policy": {"retry_backoff_function": 3}}`, "retry_backoff_function"},
		{"retry override not bool", `{"_retry_policy": {"ignore_subscription_override": 1}}`, "ignore_subscription_override"},
		{"retry count string", `{"_retry_policy": {"retries_with_no_delay": "3"}}`, `"retries_with_no_delay"`},
		{"retry count falsy", `{"_retry_policy": {"retries_with_no_delay": 0, "minimum_delay_retries": ""}}`, ""},
		{"retry min null is default", `{"_retry_policy": {"minimum_delay": null}}`, ""},
		{"retry min falsy string", `{"_retry_policy": {"minimum_delay": ""}}`, `"minimum_delay"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateQueueMetadata(metaOf(t, tt.md))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want containing %q", err, tt.want)
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v is not ErrBadRequest", err)
			}
		})
	}
	// Raw values must be valid JSON.
	err := ValidateQueueMetadata(map[string]json.RawMessage{"a": json.RawMessage(`{`)})
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("invalid JSON value: %v", err)
	}
}

func TestTruthyAndInt(t *testing.T) {
	for in, want := range map[string]bool{
		`null`: false, `false`: false, `0`: false, `0.0`: false, `-0`: false, `""`: false, `[]`: false, `{ }`: false,
		`true`: true, `1`: true, `-2.5`: true, `"a"`: true, `[0]`: true, `{"a":1}`: true,
	} {
		if got := truthy(json.RawMessage(in)); got != want {
			t.Errorf("truthy(%s) = %v, want %v", in, got, want)
		}
	}
	for in, want := range map[string]int64{`0`: 0, `-7`: -7, `true`: 1, `false`: 0, ` 42 `: 42} {
		if got, ok := jsonInt(json.RawMessage(in)); !ok || got != want {
			t.Errorf("jsonInt(%s) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{`1.0`, `1e3`, `"1"`, `-`, ``, `null`, `[1]`} {
		if _, ok := jsonInt(json.RawMessage(in)); ok {
			t.Errorf("jsonInt(%s) accepted", in)
		}
	}
}

func TestMetaMatches(t *testing.T) {
	tests := []struct {
		stored, want string
		match        bool
	}{
		{`5`, "5", true},
		{`5.0`, "5", true},
		{`"5"`, "5", false},
		{`6`, "5", false},
		{`true`, "1", false},
		{`"abc"`, "abc", true},
		{`"abc"`, "abd", false},
		{`1`, "x", false},
	}
	for _, tt := range tests {
		if got := metaMatches(json.RawMessage(tt.stored), tt.want); got != tt.match {
			t.Errorf("metaMatches(%s, %q) = %v", tt.stored, tt.want, got)
		}
	}
}
