package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Differential tests: the hand-written decoders and encoders against the
// encoding/json code they replaced (reference_test.go), on the committed
// fuzz corpus, on hand-picked edge cases and, with -fuzz, on anything.

// corpusInputs returns every string and []byte value of the committed
// fuzz corpus (testdata/fuzz/*/*), whatever target it was written for.
func corpusInputs(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, prefix := range []string{"[]byte(", "string("} {
				if lit, ok := strings.CutPrefix(line, prefix); ok {
					s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
					if err != nil {
						t.Fatalf("%s: %q: %v", f, line, err)
					}
					out = append(out, []byte(s))
				}
			}
		}
	}
	return out
}

// edgeDocuments are request bodies on the borders of the JSON grammar and
// of the decoders' rules.
func edgeDocuments() [][]byte {
	docs := []string{
		``, ` `, `{}`, `[]`, ` {} `, "\n[]\t", `"x"`, `123`, `null`, `{} {}`, `{}x`, `{}]`, `[1,2`, `{"a":1,}`,
		`[1,]`, `{"a" 1}`, `{,}`, `[,1]`, `{"a":1 "b":2}`, `{1:2}`, `{"a"}`, "\xef\xbb\xbf{}", "{\"a\":\x00}",
		`{"a":-0}`, `{"a":-9223372036854775808}`, `{"a":-9223372036854775809}`, `{"a":9223372036854775807}`,
		`{"a":9223372036854775808}`, `[99999999999999999999`, `[99999999999999999999x]`, `[99999999999999999999.]`,
		`[99999999999999999999 2]`, `[1 99999999999999999999]`, `{"a": 99999999999999999999x}`,
		`{"a":1e400}`, `{"a":1E5}`, `{"a":-1.5e-3}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`,
		`{"a":1e+}`, `{"a":+1}`, `{"a":0x10}`, `{"a":-01}`, `{"a":tru}`, `{"a":truex}`, `{"a":nul}`, `{"a":true}`,
		`{"a":"\ud800"}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"\t\"}", "{\"a\":\"\x7f\"}",
		`{"a":"\/\b\f\n\r\t\\\""}`, `{"a":"<&>"}`, `{"a":"` + "\u2028" + `"}`, `{"a":"unterminated}`, `{"a`,
		`{"messages": [{"body": 1}], "messages": 5}`, `{"messages": 5, "messages": [{"body": 1}]}`,
		`{"\u006dessages": [{"b\u006fdy": {"x" : [1, 2 ]} , "ttl" : 60 }]}`,
		`{"messages": [{"body": 1, "body": 2, "ttl": "x", "ttl": 61}]}`,
		`{"messages": [{"body": 1, "ttl": 61, "ttl": "x"}]}`,
		`{"messages": [ ]}`, `{"messages": [1]}`, `{"messages": [[]]}`, `{"messages": {}}`, `{"messages": null}`,
		`{"messages": "x"}`, `{"messages": [{"body": null}]}`, `{"messages": [{"ttl": 60}]}`,
		`{"messages": [{"body": 1, "ttl": 59}, {"x": 1}]}`, `{"messages": [{"body": 1, "delay": 901}, {"body": 2, "delay": "x"}]}`,
		`{"messages": [{"body": 1, "delay": -1}]}`, `{"messages": [{"body": 1, "ttl": true, "delay": false}]}`,
		`{"messages": [{"body": 1, "ttl": 60.0}]}`, `{"messages": [{"body": 1, "ttl": 6e1}]}`, `{"messages": [{"body": 1, "ttl": null}]}`,
		` { "messages" : [ { "body" : [ 1 , { "a" : "b c" } ] , "ttl" : 1209600 } , { "body" : "" } ] } `,
		`{"messages": [{"body": 1}]}` + "\n",
		`{"ttl": 60, "ttl": "x"}`, `{"ttl": "x", "ttl": 60}`, `{"grace": true}`, `{"ttl": 1.0}`, `{"ttl": null}`,
		`{"t\u0074l": 100, "grace": 0}`, `{"limit": 5}`, `{"ttl": -9223372036854775808, "grace": 9223372036854775807}`,
	}
	out := make([][]byte, 0, len(docs)+4)
	for _, d := range docs {
		out = append(out, []byte(d))
	}
	for _, depth := range []int{maxJSONDepth, maxJSONDepth + 1} {
		out = append(out, []byte(`{"messages": `+strings.Repeat("[", depth-1)+strings.Repeat("]", depth-1)+`}`))
		out = append(out, []byte(strings.Repeat("[", depth)+"99999999999999999999"+strings.Repeat("]", depth)))
	}
	return out
}

// checkDecodersAgree compares every decoder with its reference on data.
func checkDecodersAgree(t *testing.T, data []byte) {
	t.Helper()
	kind, err := checkDocument(data)
	refKind, refErr := refCheckDocument(data)
	if kind != refKind || !reflect.DeepEqual(err, refErr) {
		t.Fatalf("checkDocument(%q) = %c, %v; reference %c, %v", data, kind, err, refKind, refErr)
	}
	for _, delay := range []bool{false, true} {
		msgs, err := decodeMessagesPost(data, delay)
		ref, refErr := refDecodeMessagesPost(data, delay)
		if !reflect.DeepEqual(err, refErr) {
			t.Fatalf("decodeMessagesPost(%q, %v) error %v; reference %v", data, delay, err, refErr)
		}
		if len(msgs) != len(ref) {
			t.Fatalf("decodeMessagesPost(%q, %v): %d messages; reference %d", data, delay, len(msgs), len(ref))
		}
		for i := range msgs {
			m, r := msgs[i], ref[i]
			if !bytes.Equal(m.Body, r.Body) || !reflect.DeepEqual(m.TTL, r.TTL) || !reflect.DeepEqual(m.Delay, r.Delay) {
				t.Fatalf("decodeMessagesPost(%q, %v) message %d = {%s %v %v}; reference {%s %v %v}", data, delay, i,
					m.Body, ptrString(m.TTL), ptrString(m.Delay), r.Body, ptrString(r.TTL), ptrString(r.Delay))
			}
		}
	}
	for _, required := range []bool{false, true} {
		body, err := decodeClaimBody(data, required)
		ref, refErr := refDecodeClaimBody(data, required)
		if body != ref || !reflect.DeepEqual(err, refErr) {
			t.Fatalf("decodeClaimBody(%q, %v) = %+v, %v; reference %+v, %v", data, required, body, err, ref, refErr)
		}
	}
	var want bytes.Buffer
	refErr = nil
	if e := json.Compact(&want, data); e != nil {
		refErr = badBody("%v", e)
	}
	got, ok := appendCompactJSON([]byte("prefix"), data)
	switch {
	case ok != (refErr == nil):
		t.Fatalf("appendCompactJSON(%q) ok=%v; json.Compact error %v", data, ok, refErr)
	case ok && string(got) != "prefix"+want.String():
		t.Fatalf("appendCompactJSON(%q) = %q; json.Compact %q", data, got, want.String())
	case !ok && string(got) != "prefix":
		t.Fatalf("appendCompactJSON(%q) failed but appended %q", data, got)
	}
}

func ptrString(p *int64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatInt(*p, 10)
}

// TestDecodersMatchReference runs the comparison on the committed corpus
// and the edge cases.
func TestDecodersMatchReference(t *testing.T) {
	inputs := append(corpusInputs(t), edgeDocuments()...)
	if len(inputs) < 100 {
		t.Fatalf("only %d inputs", len(inputs))
	}
	for _, data := range inputs {
		checkDecodersAgree(t, data)
	}
}

// FuzzDecodersMatchReference compares the decoders with their references
// on anything (go test -fuzz FuzzDecodersMatchReference).
func FuzzDecodersMatchReference(f *testing.F) {
	for _, data := range append(corpusInputs(f), edgeDocuments()...) {
		f.Add(data)
	}
	f.Fuzz(checkDecodersAgree)
}

// recordJSON serves one answer writer into a recorder.
func recordJSON(write func(*httptest.ResponseRecorder)) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	write(w)
	return w
}

// sameAnswer compares two recorded answers: status, headers and body.
func sameAnswer(t *testing.T, what string, got, want *httptest.ResponseRecorder) {
	t.Helper()
	if got.Code != want.Code || !reflect.DeepEqual(got.Header(), want.Header()) || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
		t.Fatalf("%s:\n got %d %v %q\nwant %d %v %q", what, got.Code, got.Header(), got.Body.Bytes(),
			want.Code, want.Header(), want.Body.Bytes())
	}
}

// checkEncodersAgree compares the hand encoders with writeJSON of the
// values they stand for.
func checkEncodersAgree(t *testing.T, id, href string, ttl, age int64, body []byte, nilBody bool) {
	t.Helper()
	m := messageRepr{ID: id, Href: href, TTL: ttl, Age: age, Body: body}
	if nilBody {
		m.Body = nil
	}
	msgs := []messageRepr{m, {ID: "b", Href: "/h", Body: json.RawMessage(`{"k" : [ 1 ]}`)}, m}
	for _, list := range [][]messageRepr{nil, {}, msgs[:1], msgs} {
		sameAnswer(t, "writeMessages",
			recordJSON(func(w *httptest.ResponseRecorder) { writeMessages(w, 201, list) }),
			recordJSON(func(w *httptest.ResponseRecorder) {
				refWriteJSON(w, 201, map[string][]messageRepr{"messages": list})
			}))
		for _, links := range [][]link{nil, {}, {{Rel: "next", Href: href}}, {{Rel: id, Href: "/x"}, {Rel: "a"}}} {
			l := messageList{Messages: list, Links: links}
			sameAnswer(t, "writeMessageList",
				recordJSON(func(w *httptest.ResponseRecorder) { writeMessageList(w, &l) }),
				recordJSON(func(w *httptest.ResponseRecorder) { refWriteJSON(w, 200, l) }))
		}
	}
	sameAnswer(t, "writeMessageRepr",
		recordJSON(func(w *httptest.ResponseRecorder) { writeMessageRepr(w, &m) }),
		recordJSON(func(w *httptest.ResponseRecorder) { refWriteJSON(w, 200, m) }))
	for _, ids := range [][]string{nil, {}, {id}, {id, "x", id}} {
		hrefs := make([]string, len(ids))
		for i, x := range ids {
			hrefs[i] = href + "/" + x
		}
		sameAnswer(t, "writeResources",
			recordJSON(func(w *httptest.ResponseRecorder) { writeResources(w, href, ids) }),
			recordJSON(func(w *httptest.ResponseRecorder) {
				refWriteJSON(w, 201, map[string][]string{"resources": hrefs})
			}))
	}
}

// encoderCases are strings and bodies on the borders of JSON string
// escaping and raw value compaction.
var encoderCases = []struct {
	id, href string
	body     string
}{
	{"0123456789abcdef01234567", "/v2/queues/q/messages/0123456789abcdef01234567?claim_id=abc", `"x"`},
	{"", "", `null`},
	{`q"uote\back`, "tab\there\nnl\r\u0001\u001f\u007f", ` { "a" : [ 1 , 2.5e3 , "s p" ] } `},
	{"<&>", "\u2028\u2029", `{"html":"<&>","ls":"` + "\u2028" + `"}`},
	{"é€😀", "bad\xffutf8\xc3", "\"bad\xffutf8 in body\""},
	{"x", "y", `{"a":1,}`},
	{"x", "y", `[1 2]`},
	{"x", "y", ""},
	{"x", "y", " "},
	{"x", "y", "\t[\n]\r\n"},
	{"x", "y", `"\u00e9\"\\"`},
	{"x", "y", strings.Repeat("[", 10001) + strings.Repeat("]", 10001)},
	{"x", "y", strings.Repeat("[", 10000) + strings.Repeat("]", 10000)},
}

// TestEncodersMatchReference runs the encoder comparison on the cases
// above and on every corpus input as a body.
func TestEncodersMatchReference(t *testing.T) {
	for _, c := range encoderCases {
		for _, nilBody := range []bool{false, true} {
			checkEncodersAgree(t, c.id, c.href, 300, 12, []byte(c.body), nilBody)
		}
	}
	for _, data := range corpusInputs(t) {
		checkEncodersAgree(t, string(data), string(data), -1, 1<<62, data, false)
	}
}

// FuzzEncodersMatchReference compares the hand encoders with encoding/json
// on anything (go test -fuzz FuzzEncodersMatchReference).
func FuzzEncodersMatchReference(f *testing.F) {
	for _, c := range encoderCases {
		f.Add(c.id, c.href, int64(300), int64(0), []byte(c.body), false)
	}
	for _, data := range corpusInputs(f) {
		f.Add(string(data), "/v2/queues/q/messages", int64(-5), int64(1<<40), data, true)
	}
	f.Fuzz(checkEncodersAgree)
}

// TestCanonicalHeaderKeys: the header map keys used without
// canonicalization are canonical.
func TestCanonicalHeaderKeys(t *testing.T) {
	for _, k := range []string{hdrURLSignature, hdrClientID, hdrProjectID, canonRequestID,
		HeaderIdempotencyKey, HeaderRead, "Content-Type", "Content-Length", "X-Tenant-Id"} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("%q is not canonical (%q)", k, c)
		}
	}
	if http.CanonicalHeaderKey(headerRequestID) != canonRequestID {
		t.Errorf("canonRequestID %q is not headerRequestID %q", canonRequestID, headerRequestID)
	}
}
