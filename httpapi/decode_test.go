package httpapi

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestCheckDocument(t *testing.T) {
	good := map[string]docKind{
		`{}`: docObject, ` [ ] `: docArray, `{"a": [1, {"b": null}], "c": 1.5e300}`: docObject,
		`[9223372036854775807, -9223372036854775808, 1e999, 18446744073709551616.0]`: docArray,
		"{\"\\ud800\": \"\\u00e9\"}": docObject,
	}
	for in, want := range good {
		if got, err := checkDocument([]byte(in)); err != nil || got != want {
			t.Errorf("checkDocument(%q) = %c, %v", in, got, err)
		}
	}
	bad := map[string]string{
		``:                                     descBodyEmpty,
		` `:                                    descBodyParse,
		`"str"`:                                descBodyParse,
		`12`:                                   descBodyParse,
		`null`:                                 descBodyParse,
		`{`:                                    descBodyParse,
		`{} []`:                                descBodyParse,
		`{"a": 1,}`:                            descBodyParse,
		`{'a': 1}`:                             descBodyParse,
		`[NaN]`:                                descBodyParse,
		"[\"\xff\"]":                           descBodyParse,
		`[9223372036854775808]`:                descIntTooLarge,
		`{"a": {"b": [-9223372036854775809]}}`: descIntTooLarge,
		strings.Repeat("[", 1001) + strings.Repeat("]", 1001): descBodyParse,
	}
	for in, want := range bad {
		_, err := checkDocument([]byte(in))
		if err == nil || err.desc != want || err.status != 400 || err.title != titleInvalidBody {
			t.Errorf("checkDocument(%.40q) = %v, want %q", in, err, want)
		}
	}
}

func TestTruthyAndIntValue(t *testing.T) {
	for in, want := range map[string]bool{
		`null`: false, `false`: false, `0`: false, `-0`: false, `0.0`: false, `0e10`: false, `""`: false, `[]`: false,
		`[ ]`: false, `{}`: false, ` { } `: false, ``: false,
		`true`: true, `1`: true, `-1`: true, `0.1`: true, `" "`: true, `"0"`: true, `[0]`: true, `{"a":0}`: true,
	} {
		if got := truthy(json.RawMessage(in)); got != want {
			t.Errorf("truthy(%q) = %v", in, got)
		}
	}
	for in, want := range map[string]int64{`5`: 5, `-7`: -7, `true`: 1, `false`: 0, ` 60 `: 60} {
		if got, ok := intValue(json.RawMessage(in)); !ok || got != want {
			t.Errorf("intValue(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{`5.0`, `1e2`, `"5"`, `null`, `[]`, `{}`, `99999999999999999999`} {
		if _, ok := intValue(json.RawMessage(in)); ok {
			t.Errorf("intValue(%q) accepted", in)
		}
	}
}

func TestParams(t *testing.T) {
	p := params(url.Values{"a": {"1"}, "b": {""}, "c": {"x"}, "t": {"on"}, "f": {"False"}, "n": {"None"},
		"l": {"x,y,,z", "", "w"}, "sp": {" 7 "}, "r": {"1", "2"}})
	if v, ok := p.str("b"); ok || v != "" {
		t.Error("blank value must be absent")
	}
	if n, ok, err := p.int("a"); !ok || n != 1 || err != nil {
		t.Error("int a")
	}
	if n, ok, err := p.int("sp"); !ok || n != 7 || err != nil {
		t.Error("int with spaces, as Python's int()")
	}
	if n, _, _ := p.int("r"); n != 1 {
		t.Error("the first value of a repeated parameter wins")
	}
	if _, ok, err := p.int("b"); ok || err != nil {
		t.Error("blank int must be absent")
	}
	if _, _, err := p.int("c"); err == nil || err.title != titleInvalidParam {
		t.Error("non-integer")
	}
	if v, ok, err := p.bool("t"); !v || !ok || err != nil {
		t.Error("on")
	}
	if v, ok, err := p.bool("f"); v || !ok || err != nil {
		t.Error("False")
	}
	if _, _, err := p.bool("n"); err == nil || err.title != titleInvalidParam {
		t.Error("None must be refused")
	}
	if got := p.list("l"); strings.Join(got, "|") != "x|y||z|w" {
		t.Errorf("list %q", got)
	}
	if p.list("b") != nil || p.list("zz") != nil {
		t.Error("absent list")
	}
	if q := queryString([][2]string{{"marker", "a b&c"}, {"ids", "x,y"}}); q != "?marker=a+b%26c&ids=x,y" {
		t.Errorf("queryString %q", q)
	}
}

func TestDecodePointer(t *testing.T) {
	good := map[string]string{
		"/metadata/key":          "metadata|key",
		"/metadata/ key ":        "metadata|key",
		"/metadata/a~1b":         "metadata|a/b",
		"/metadata/a~0b":         "metadata|a~b",
		"/metadata/~01":          "metadata|~1",
		"/a/b/c":                 "a|b|c",
		"/":                      "",
		"/metadata/\u00e9\u00e8": "metadata|\u00e9\u00e8",
	}
	for in, want := range good {
		got, err := decodePointer(in)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("decodePointer(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "metadata/a", "/a//b", "/a/ \t/b", "//a", "/a/", "/a~", "/a~2", "/~x"} {
		if _, err := decodePointer(in); err == nil {
			t.Errorf("decodePointer(%q) accepted", in)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	md := map[string]json.RawMessage{"_default_message_ttl": json.RawMessage("0"), "_max_claim_count": json.RawMessage("2"),
		"_enable_encrypt_messages": json.RawMessage(`""`), "x": json.RawMessage(`[]`)}
	out := withDefaults(md)
	if string(out["_default_message_ttl"]) != "3600" || string(out["_max_claim_count"]) != "2" ||
		string(out["_enable_encrypt_messages"]) != "false" || string(out["x"]) != "[]" || len(out) != 8 {
		t.Fatalf("withDefaults %v", out)
	}
	if string(md["_default_message_ttl"]) != "0" {
		t.Fatal("withDefaults modified its input")
	}
}
