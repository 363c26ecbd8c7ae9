package filterpolicy

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that an accepted policy's
// Match never panics on any body, and that on valid UTF-8 JSON bodies the
// in-place scanner agrees with a reference matcher over encoding/json's
// decoding (invalid JSON matches only an empty policy). Seeds: testdata/fuzz/FuzzParse plus those added here.
func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{
		{`{}`, `{"a":1}`},
		{`{"a": ["x", 1, true, null]}`, `{"a":["y","x"]}`},
		{`{"o": {"p": [{"prefix": "ab"}], "q": [{"exists": false}]}}`, `{"o":[{"p":"abc"},{"q":1}]}`},
		{`{"n": [{"numeric": [">=", 1, "<", 2.5]}, {"anything-but": [3, "x"]}]}`, `{"n":[4, 2]}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, policy, body string) {
		p, err := Parse(json.RawMessage(policy))
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			return
		}
		if p.Conditions() > MaxConditions {
			t.Fatalf("%d conditions accepted", p.Conditions())
		}
		got := p.Match(json.RawMessage(body))
		var v any
		d := json.NewDecoder(bytes.NewReader([]byte(body)))
		d.UseNumber()
		if !json.Valid([]byte(body)) || d.Decode(&v) != nil {
			if got && !p.Empty() {
				t.Fatalf("policy %s matched invalid body %q", policy, body)
			}
			return
		}
		if !utf8.ValidString(body) {
			return // encoding/json decodes invalid UTF-8 as U+FFFD; Match compares bytes
		}
		want := p.Empty()
		if obj, ok := v.(map[string]any); ok && !want {
			want = refNode(&p.root, obj)
		}
		if got != want {
			t.Fatalf("policy %s body %s: Match = %v, reference = %v", policy, body, got, want)
		}
	})
}

// refNode is the reference semantics on decoded JSON (nil obj: no fields).
func refNode(n *node, obj map[string]any) bool {
	for i := range n.fields {
		f := &n.fields[i]
		v, present := obj[f.key]
		if !refField(f, v, present) {
			return false
		}
	}
	return true
}

func refField(f *field, v any, present bool) bool {
	if f.sub != nil {
		switch x := v.(type) {
		case map[string]any:
			return refNode(f.sub, x)
		case []any:
			for _, e := range x {
				o, _ := e.(map[string]any)
				if refNode(f.sub, o) {
					return true
				}
			}
			if len(x) > 0 {
				return false
			}
		}
		return refNode(f.sub, nil)
	}
	for _, c := range f.conds {
		if c.kind == cExists && c.b == present {
			return true
		}
	}
	if !present {
		return false
	}
	vals := []any{v}
	if arr, ok := v.([]any); ok {
		vals = arr
	}
	for _, e := range vals {
		s := refScalar(e)
		for i := range f.conds {
			if f.conds[i].matchScalar(&s) {
				return true
			}
		}
	}
	return false
}

func refScalar(v any) scalar {
	switch x := v.(type) {
	case string:
		return scalar{kind: kString, str: []byte(x)}
	case json.Number:
		n, _ := strconv.ParseFloat(string(x), 64) // out of range: ±Inf, like Match
		return scalar{kind: kNumber, num: n}
	case bool:
		return scalar{kind: kBool, b: x}
	case nil:
		return scalar{kind: kNull}
	}
	return scalar{}
}
