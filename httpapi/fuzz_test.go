package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/herald-mq/herald/fsm"
)

// checkRejection asserts a decoder's error is a proper 400 answer.
func checkRejection(t *testing.T, err *apiError) {
	t.Helper()
	if err.status != 400 && err.status != 503 || err.title == "" || err.desc == "" {
		t.Fatalf("bad rejection %+v", err)
	}
}

func compactRaw(t *testing.T, v json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		t.Fatalf("accepted value is not JSON: %q: %v", v, err)
	}
	return b.String()
}

func FuzzDecodeMessagesPost(f *testing.F) {
	for _, s := range []string{
		`{"messages": [{"body": 1}]}`,
		`{"messages": [{"body": {"a": [1, 2.5, null]}, "ttl": 60, "delay": 0}, {"body": "x", "ttl": 1209600}]}`,
		`[{"body": 1}]`, `{"messages": []}`, `{"messages": [{"ttl": 60}]}`, `{"messages": [{"body": 1, "ttl": true}]}`,
		`{"messages": [{"body": 1, "ttl": 9223372036854775808}]}`, `{"messages": [{"body": 1, "delay": 901}]}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, delayEnabled bool) {
		msgs, err := decodeMessagesPost(data, delayEnabled)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if len(msgs) == 0 {
			t.Fatal("accepted an empty post")
		}
		var sb strings.Builder
		sb.WriteString(`{"messages": [`)
		for i, m := range msgs {
			if m.TTL != nil && (*m.TTL < fsm.MinMessageTTL || *m.TTL > fsm.MaxMessageTTL) {
				t.Fatalf("ttl %d accepted", *m.TTL)
			}
			if m.Delay != nil && (!delayEnabled || *m.Delay < 0 || *m.Delay > fsm.MaxMessageDelay) {
				t.Fatalf("delay %d accepted (enabled %v)", *m.Delay, delayEnabled)
			}
			if i > 0 {
				sb.WriteString(",")
			}
			fmt.Fprintf(&sb, `{"body": %s`, compactRaw(t, m.Body))
			if m.TTL != nil {
				fmt.Fprintf(&sb, `, "ttl": %d`, *m.TTL)
			}
			if m.Delay != nil {
				fmt.Fprintf(&sb, `, "delay": %d`, *m.Delay)
			}
			sb.WriteString("}")
		}
		sb.WriteString("]}")
		again, err := decodeMessagesPost([]byte(sb.String()), delayEnabled)
		if err != nil || len(again) != len(msgs) {
			t.Fatalf("re-encoded post rejected: %v (%s)", err, sb.String())
		}
		for i := range msgs {
			if compactRaw(t, again[i].Body) != compactRaw(t, msgs[i].Body) ||
				(again[i].TTL == nil) != (msgs[i].TTL == nil) || (again[i].Delay == nil) != (msgs[i].Delay == nil) {
				t.Fatalf("message %d changed on re-decoding", i)
			}
		}
	})
}

func FuzzDecodeQueueMetadata(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"a": 1, "_default_message_ttl": 60}`, `[1]`, `"x"`,
		`{"_retry_policy": {"minimum_delay": 5, "maximum_delay": 30}}`, `{"big": 1e999, "n": -9223372036854775808}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := decodeQueueMetadata(data)
		if err != nil {
			checkRejection(t, err)
			return
		}
		_ = fsm.ValidateQueueMetadata(md) // must not panic on anything the decoder accepts
		if md == nil {
			if len(data) != 0 {
				t.Fatal("non-empty body decoded to no metadata")
			}
			return
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // as writeJSON does
		if e := enc.Encode(md); e != nil {
			t.Fatalf("accepted metadata does not encode: %v", e)
		}
		b := buf.Bytes()
		again, err := decodeQueueMetadata(b)
		if err != nil || len(again) != len(md) {
			t.Fatalf("re-encoded metadata rejected: %v (%s)", err, b)
		}
		for k, v := range md {
			if compactRaw(t, again[k]) != compactRaw(t, v) {
				t.Fatalf("key %q changed", k)
			}
		}
		_ = withDefaults(md)
	})
}

// escapePointer is the inverse of decodePointer for one segment.
func escapePointer(k string) string {
	if k == "" {
		return " " // decodes (trimmed) to ""
	}
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

func FuzzParseJSONPatch(f *testing.F) {
	for _, s := range []string{
		`[{"op": "add", "path": "/metadata/a", "value": 1}]`,
		`[{"op": "remove", "path": "/x/_max_claim_count"}, {"op": "replace", "path": "/METADATA/k~1~0", "value": null}]`,
		`[]`, `{}`, `[1]`, `[{"op": "add", "path": "//metadata/a", "value": 1}]`, `[{"op": "add", "path": "/metadata/ ", "value": 1}]`,
		`[{"op": "add", "path": "/metadata/a~"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := parseJSONPatch(data)
		if err != nil {
			checkRejection(t, err)
			return
		}
		var items []string
		for _, op := range ops {
			switch op.Op {
			case "add", "replace":
				if len(op.Value) == 0 {
					t.Fatalf("%s without value", op.Op)
				}
				items = append(items, fmt.Sprintf(`{"op": %q, "path": %s, "value": %s}`, op.Op,
					mustJSON(t, "/metadata/"+escapePointer(op.Key)), compactRaw(t, op.Value)))
			case "remove":
				if op.Value != nil {
					t.Fatal("remove with a value")
				}
				items = append(items, fmt.Sprintf(`{"op": "remove", "path": %s}`, mustJSON(t, "/metadata/"+escapePointer(op.Key))))
			default:
				t.Fatalf("op %q accepted", op.Op)
			}
			if strings.TrimSpace(op.Key) != op.Key {
				t.Fatalf("key %q not trimmed", op.Key)
			}
		}
		doc := "[" + strings.Join(items, ",") + "]"
		again, err := parseJSONPatch([]byte(doc))
		if err != nil || len(again) != len(ops) {
			t.Fatalf("re-encoded patch rejected: %v (%s)", err, doc)
		}
		for i := range ops {
			if again[i].Op != ops[i].Op || again[i].Key != ops[i].Key {
				t.Fatalf("op %d changed: %+v vs %+v", i, again[i], ops[i])
			}
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func FuzzParseClientID(f *testing.F) {
	for _, s := range []string{testClient, "3381AF922B9E11E3B19171861300734C", "{3381af92-2b9e-11e3-b191-71861300734c}",
		"urn:uuid:3381af92-2b9e-11e3-b191-71861300734c", "", "not-a-uuid", "----", "{}{}"} {
		f.Add(s, true)
	}
	f.Add("", false)
	f.Fuzz(func(t *testing.T, raw string, present bool) {
		id, err := checkClientID(raw, present)
		if err != nil {
			checkRejection(t, err)
			if present && err.title != titleWrongUUID || !present && err.title != titleMissingHeader {
				t.Fatalf("title %q", err.title)
			}
			return
		}
		if len(id) != 32 || strings.ToLower(id) != id {
			t.Fatalf("canonical id %q", id)
		}
		for i := 0; i < len(id); i++ {
			if !isHex(id[i]) {
				t.Fatalf("canonical id %q", id)
			}
		}
		dashed := id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
		for _, form := range []string{id, strings.ToUpper(id), dashed, "{" + dashed + "}", "urn:uuid:" + dashed} {
			if again, ok := parseClientID(form); !ok || again != id {
				t.Fatalf("form %q of %q -> %q, %v", form, id, again, ok)
			}
		}
	})
}

func FuzzDecodeClaimBody(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"ttl": 60, "grace": 60}`, `{"ttl": "60"}`, `[]`, `{"ttl": true}`,
		`{"grace": 43201, "limit": 5}`, `{"ttl": 9223372036854775807}`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, required bool) {
		body, err := decodeClaimBody(data, required)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if len(data) == 0 && (required || body.TTL != fsm.DefaultClaimTTL || body.Grace != fsm.DefaultClaimGrace) {
			t.Fatalf("empty body gave %+v (required %v)", body, required)
		}
		for _, e := range []*apiError{validateClaimTTL(body.TTL), validateClaimGrace(body.Grace)} {
			if e != nil {
				checkRejection(t, e)
			}
		}
		again, err := decodeClaimBody([]byte(fmt.Sprintf(`{"ttl": %d, "grace": %d}`, body.TTL, body.Grace)), true)
		if err != nil || again != body {
			t.Fatalf("re-encoded claim body: %+v, %v; want %+v", again, err, body)
		}
	})
}

func FuzzDecodeSubscriptionBody(f *testing.F) {
	for _, s := range []string{``, `{}`, `[]`, `{"subscriber": "http://h:8080/x", "ttl": 60, "options": {"a": [1]}}`,
		`{"subscriber": "trust+http://h"}`, `{"subscriber": "mailto:a@b?subject=x", "options": ""}`, `{"ttl": "123"}`,
		`{"subscriber": "http://h", "options": {"_retry_policy": {"minimum_delay": 5, "maximum_delay": 15}}}`,
		`{"ttl": 9223372036854775807, "subscriber": "https://h"}`, `{"options": null, "foo": 1}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	now := newFakeClock().Now().UnixNano()
	f.Fuzz(func(t *testing.T, data []byte, create bool) {
		body, err := decodeSubscriptionBody(data, create, now)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if body.empty() {
			if create {
				t.Fatal("create accepted without a subscriber")
			}
			return
		}
		doc := map[string]any{}
		if create && body.Subscriber == nil {
			t.Fatal("create accepted without a subscriber")
		}
		if body.Subscriber != nil {
			if !subscriberSchemes[uriScheme(*body.Subscriber)] {
				t.Fatalf("subscriber %q accepted", *body.Subscriber)
			}
			doc["subscriber"] = *body.Subscriber
		}
		if body.TTL != nil {
			if *body.TTL < fsm.MinSubscriptionTTL || *body.TTL > maxSubscriptionTTL(now) {
				t.Fatalf("ttl %d accepted", *body.TTL)
			}
			doc["ttl"] = *body.TTL
		}
		if body.Options != nil {
			if e := fsm.ValidateRetryPolicy(body.Options[fsm.KeyRetryPolicy]); e != nil {
				t.Fatalf("retry policy accepted: %v", e)
			}
			doc["options"] = body.Options
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if e := enc.Encode(doc); e != nil {
			t.Fatalf("accepted body does not encode: %v", e)
		}
		again, aerr := decodeSubscriptionBody(buf.Bytes(), create, now)
		if aerr != nil {
			t.Fatalf("re-encoded body rejected: %v (%s)", aerr, buf.Bytes())
		}
		if (again.Subscriber == nil) != (body.Subscriber == nil) || body.Subscriber != nil && *again.Subscriber != *body.Subscriber ||
			(again.TTL == nil) != (body.TTL == nil) || body.TTL != nil && *again.TTL != *body.TTL ||
			(again.Options == nil) != (body.Options == nil) || len(again.Options) != len(body.Options) {
			t.Fatalf("body changed on re-decoding: %+v vs %+v", again, body)
		}
		for k, v := range body.Options {
			if compactRaw(t, again.Options[k]) != compactRaw(t, v) {
				t.Fatalf("option %q changed", k)
			}
		}
	})
}
