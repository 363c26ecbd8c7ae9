package filterpolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func mustParse(t testing.TB, policy string) *Policy {
	t.Helper()
	p, err := Parse(json.RawMessage(policy))
	if err != nil {
		t.Fatalf("Parse(%s): %v", policy, err)
	}
	return p
}

func TestMatch(t *testing.T) {
	cases := []struct {
		name, policy string
		match        []string
		noMatch      []string
	}{
		{"empty policy matches everything", `{}`,
			[]string{`{}`, `{"a":1}`, `"str"`, `42`, `[1]`, `null`, `not json`, ``}, nil},
		{"exact string", `{"region": ["eu"]}`,
			[]string{`{"region":"eu"}`, `{"x":1,"region":"eu","y":[1,2]}`, `{"region":"\u0065u"}`, ` { "region" : "eu" } `},
			[]string{`{"region":"us"}`, `{"region":"EU"}`, `{"region":"eu "}`, `{}`, `{"region":null}`, `{"region":["us"]}`,
				`{"Region":"eu"}`, `{"region":{"eu":1}}`}},
		{"string OR", `{"region": ["eu", "us"]}`,
			[]string{`{"region":"eu"}`, `{"region":"us"}`}, []string{`{"region":"ap"}`}},
		{"number exact compares numerically", `{"n": [42]}`,
			[]string{`{"n":42}`, `{"n":42.0}`, `{"n":4.2e1}`},
			[]string{`{"n":"42"}`, `{"n":43}`, `{"n":true}`, `{"n":[41]}`}},
		{"negative and fractional", `{"n": [-1.5]}`, []string{`{"n":-1.5}`, `{"n":-15e-1}`}, []string{`{"n":1.5}`}},
		{"bool", `{"ok": [true]}`, []string{`{"ok":true}`}, []string{`{"ok":false}`, `{"ok":"true"}`, `{"ok":1}`, `{}`}},
		{"false", `{"ok": [false]}`, []string{`{"ok":false}`}, []string{`{"ok":true}`, `{"ok":null}`, `{}`}},
		{"null", `{"v": [null]}`, []string{`{"v":null}`}, []string{`{}`, `{"v":"null"}`, `{"v":0}`, `{"v":false}`}},
		{"prefix", `{"id": [{"prefix": "ord-"}]}`,
			[]string{`{"id":"ord-1"}`, `{"id":"ord-"}`, `{"id":"\u006frd-9"}`},
			[]string{`{"id":"or"}`, `{"id":"xord-1"}`, `{"id":5}`, `{}`, `{"id":null}`}},
		{"empty prefix matches any string", `{"id": [{"prefix": ""}]}`,
			[]string{`{"id":""}`, `{"id":"x"}`}, []string{`{"id":1}`, `{}`}},
		{"anything-but list", `{"s": [{"anything-but": ["a", 1, null]}]}`,
			[]string{`{"s":"b"}`, `{"s":2}`, `{"s":true}`, `{"s":"1"}`, `{"s":["a","c"]}`},
			[]string{`{"s":"a"}`, `{"s":1}`, `{"s":1.0}`, `{"s":null}`, `{}`, `{"s":{"x":1}}`, `{"s":["a"]}`, `{"s":[]}`}},
		{"anything-but single value", `{"s": [{"anything-but": "a"}]}`,
			[]string{`{"s":"b"}`, `{"s":null}`}, []string{`{"s":"a"}`, `{}`}},
		{"numeric =", `{"n": [{"numeric": ["=", 5]}]}`,
			[]string{`{"n":5}`, `{"n":5.0}`}, []string{`{"n":5.1}`, `{"n":"5"}`, `{}`}},
		{"numeric <", `{"n": [{"numeric": ["<", 5]}]}`,
			[]string{`{"n":4.99}`, `{"n":-1e300}`}, []string{`{"n":5}`, `{"n":6}`}},
		{"numeric <=", `{"n": [{"numeric": ["<=", 5]}]}`,
			[]string{`{"n":5}`, `{"n":-3}`}, []string{`{"n":5.0001}`}},
		{"numeric >", `{"n": [{"numeric": [">", 5]}]}`,
			[]string{`{"n":5.5}`, `{"n":1e400}`}, []string{`{"n":5}`, `{"n":-1e400}`}},
		{"numeric >=", `{"n": [{"numeric": [">=", 5]}]}`,
			[]string{`{"n":5}`, `{"n":100}`}, []string{`{"n":4}`, `{"n":null}`}},
		{"numeric range", `{"n": [{"numeric": [">", 10, "<=", 20]}]}`,
			[]string{`{"n":10.5}`, `{"n":20}`, `{"n":[1,15]}`},
			[]string{`{"n":10}`, `{"n":20.5}`, `{"n":"15"}`, `{"n":[1,25]}`, `{"n":{"v":15}}`}},
		{"numeric closed point range", `{"n": [{"numeric": [">=", 3, "<=", 3]}]}`,
			[]string{`{"n":3}`}, []string{`{"n":3.01}`}},
		{"exists true", `{"a": [{"exists": true}]}`,
			[]string{`{"a":1}`, `{"a":null}`, `{"a":[]}`, `{"a":{}}`}, []string{`{}`, `{"b":1}`}},
		{"exists false", `{"a": [{"exists": false}]}`,
			[]string{`{}`, `{"b":1}`, `{"A":1}`}, []string{`{"a":null}`, `{"a":1}`, `{"a":[]}`, `"str"`}},
		{"conditions OR across kinds", `{"a": ["x", {"prefix": "y"}, {"numeric": [">", 100]}, {"exists": false}]}`,
			[]string{`{"a":"x"}`, `{"a":"yes"}`, `{"a":101}`, `{}`},
			[]string{`{"a":"z"}`, `{"a":100}`, `{"a":null}`}},
		{"keys AND", `{"a": ["x"], "b": [1]}`,
			[]string{`{"a":"x","b":1}`, `{"b":1,"a":"x"}`},
			[]string{`{"a":"x"}`, `{"b":1}`, `{"a":"x","b":2}`}},
		{"array value any element", `{"tags": ["red"]}`,
			[]string{`{"tags":["blue","red"]}`, `{"tags":["red"]}`, `{"tags":"red"}`},
			[]string{`{"tags":[]}`, `{"tags":["blue"]}`, `{"tags":[["red"]]}`, `{"tags":[{"red":1}]}`}},
		{"nested", `{"order": {"region": ["eu"], "total": [{"numeric": [">=", 100]}]}}`,
			[]string{`{"order":{"region":"eu","total":150}}`, `{"x":{"region":"us"},"order":{"total":100,"region":"eu","y":[{}]}}`},
			[]string{`{"order":{"region":"eu","total":50}}`, `{"order":{"region":"eu"}}`, `{"region":"eu","total":150}`,
				`{"order":"eu"}`, `{}`}},
		{"nested exists false under missing parent", `{"order": {"coupon": [{"exists": false}]}}`,
			[]string{`{}`, `{"order":{}}`, `{"order":"x"}`, `{"order":{"id":1}}`, `{"order":[]}`},
			[]string{`{"order":{"coupon":"c"}}`, `{"order":[{"coupon":1}]}`}},
		{"nested array of objects: one element must satisfy all", `{"items": {"sku": [{"prefix": "A"}], "qty": [{"numeric": [">", 1]}]}}`,
			[]string{`{"items":[{"sku":"B1","qty":5},{"sku":"A1","qty":2}]}`, `{"items":{"sku":"A","qty":2}}`},
			[]string{`{"items":[{"sku":"A1","qty":1},{"sku":"B1","qty":2}]}`, `{"items":[]}`, `{"items":[1,"A"]}`}},
		{"five levels deep", `{"a":{"b":{"c":{"d":{"e":[1]}}}}}`,
			[]string{`{"a":{"b":{"c":{"d":{"e":1}}}}}`}, []string{`{"a":{"b":{"c":{"d":{"e":2}}}}}`, `{"a":{"b":{"c":{"d":1}}}}`}},
		{"escaped keys in body", `{"k\"ey": ["v"], "é": [1]}`,
			[]string{`{"k\"ey":"v","\u00e9":1}`, `{"k\u0022ey":"v","é":1}`}, []string{`{"k\"ey":"v"}`}},
		{"duplicate body key: last wins", `{"a": ["x"]}`,
			[]string{`{"a":"y","a":"x"}`}, []string{`{"a":"x","a":"y"}`}},
		{"non-object bodies", `{"a": [{"exists": false}]}`,
			[]string{`{}`}, []string{`"a"`, `1`, `[{}]`, `null`, `true`, ``, `{`, `{"a":}`, `{}x`}},
		{"unrelated deep values are skipped", `{"z": ["ok"]}`,
			[]string{`{"a":{"b":[1,{"c":"}]{["}],"d":"\"z\""},"z":"ok"}`},
			[]string{`{"a":{"z":"ok"}}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustParse(t, c.policy)
			for _, b := range c.match {
				if !p.Match(json.RawMessage(b)) {
					t.Errorf("policy %s should match %s", c.policy, b)
				}
			}
			for _, b := range c.noMatch {
				if p.Match(json.RawMessage(b)) {
					t.Errorf("policy %s should not match %s", c.policy, b)
				}
			}
		})
	}
}

func TestNilPolicy(t *testing.T) {
	var p *Policy
	if !p.Match(json.RawMessage(`"x"`)) || !p.Empty() || p.Conditions() != 0 {
		t.Fatal("a nil policy must match everything")
	}
}

func TestManyFields(t *testing.T) {
	// More fields than the matcher's stack buffer, found by binary search.
	var pol, body []string
	for i := 0; i < 20; i++ {
		pol = append(pol, fmt.Sprintf(`"k%02d": [%d]`, i, i))
		body = append(body, fmt.Sprintf(`"k%02d": %d`, 19-i, 19-i))
	}
	p := mustParse(t, "{"+strings.Join(pol, ",")+"}")
	if !p.Match(json.RawMessage("{" + strings.Join(body, ",") + "}")) {
		t.Fatal("20 fields should match")
	}
	if p.Match(json.RawMessage("{" + strings.Join(body[1:], ",") + "}")) {
		t.Fatal("a missing field should not match")
	}
}

func TestParseErrors(t *testing.T) {
	deep := `{"a":{"b":{"c":{"d":{"e":{"f":[1]}}}}}}`
	var many []string
	for i := 0; i < MaxConditions+1; i++ {
		many = append(many, fmt.Sprint(i))
	}
	tooMany := `{"a": [` + strings.Join(many, ",") + `]}`
	cases := []struct{ policy, path, msg string }{
		{`null`, "filter_policy", "must be a JSON object, got null"},
		{`[]`, "filter_policy", "must be a JSON object, got an array"},
		{`"x"`, "filter_policy", "must be a JSON object, got a string"},
		{`{"a": [1]`, "filter_policy", "not valid JSON"},
		{``, "filter_policy", "not valid JSON"},
		{`{"a": "eu"}`, "filter_policy.a", `must be an array of conditions or an object (a nested policy), got a string; write ["eu"]`},
		{`{"a": 5}`, "filter_policy.a", "got a number"},
		{`{"a": null}`, "filter_policy.a", "got null"},
		{`{"a": []}`, "filter_policy.a", "at least one condition"},
		{`{"a": {}}`, "filter_policy.a", "must not be empty"},
		{`{"a": {"b": {"c": {}}}}`, "filter_policy.a.b.c", "must not be empty"},
		{deep, "filter_policy.a.b.c.d.e", "deeper than 5 levels"},
		{`{"a": [["x"]]}`, "filter_policy.a[0]", "not an array"},
		{`{"a": [{}]}`, "filter_policy.a[0]", "exactly one key"},
		{`{"a": [{"prefix": "x", "exists": true}]}`, "filter_policy.a[0]", "exactly one key"},
		{`{"order": {"region": ["eu", {"prefx": "e"}]}}`, "filter_policy.order.region[1]", `unknown operator "prefx"`},
		{`{"a b": [{"prefix": 1}]}`, `filter_policy["a b"][0].prefix`, "must be a string, got a number"},
		{`{"a": [{"exists": "yes"}]}`, "filter_policy.a[0].exists", "must be true or false"},
		{`{"a": [{"exists": null}]}`, "filter_policy.a[0].exists", "must be true or false"},
		{`{"a": [{"anything-but": []}]}`, "filter_policy.a[0].anything-but", "at least one value"},
		{`{"a": [{"anything-but": [{"prefix": "x"}]}]}`, "filter_policy.a[0].anything-but[0]", "got an object"},
		{`{"a": [{"anything-but": {"x": 1}}]}`, "filter_policy.a[0].anything-but", "got an object"},
		{`{"a": [{"numeric": 5}]}`, "filter_policy.a[0].numeric", "must be an array"},
		{`{"a": [{"numeric": [">"]}]}`, "filter_policy.a[0].numeric", "got 1 elements"},
		{`{"a": [{"numeric": [">", 1, "<", 2, "=", 3]}]}`, "filter_policy.a[0].numeric", "got 6 elements"},
		{`{"a": [{"numeric": ["!=", 1]}]}`, "filter_policy.a[0].numeric[0]", `unknown numeric operator "!="`},
		{`{"a": [{"numeric": [5, ">"]}]}`, "filter_policy.a[0].numeric[0]", "must be an operator string"},
		{`{"a": [{"numeric": [">", "5"]}]}`, "filter_policy.a[0].numeric[1]", "must be a number, got a string"},
		{`{"a": [{"numeric": [">", 1e999]}]}`, "filter_policy.a[0].numeric[1]", "out of range"},
		{`{"a": [1e999]}`, "filter_policy.a[0]", "out of range"},
		{`{"a": [{"numeric": ["<", 1, ">", 0]}]}`, "filter_policy.a[0].numeric", "lower bound"},
		{`{"a": [{"numeric": ["=", 1, "<", 2]}]}`, "filter_policy.a[0].numeric", "lower bound"},
		{`{"a": [{"numeric": [">", 5, "<", 1]}]}`, "filter_policy.a[0].numeric", "range is empty"},
		{`{"a": [{"numeric": [">", 5, "<=", 5]}]}`, "filter_policy.a[0].numeric", "range is empty"},
		{tooMany, "filter_policy.a[150]", "more than 150 conditions"},
	}
	for _, c := range cases {
		_, err := Parse(json.RawMessage(c.policy))
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%s) = %v, want an *Error", c.policy, err)
			continue
		}
		if pe.Path != c.path || !strings.Contains(pe.Msg, c.msg) {
			t.Errorf("Parse(%s) = %q (path %q), want path %q and %q", c.policy, err, pe.Path, c.path, c.msg)
		}
		if err.Error() != pe.Path+": "+pe.Msg {
			t.Errorf("Error() = %q", err.Error())
		}
	}
}

func TestConditionCount(t *testing.T) {
	p := mustParse(t, `{"a": ["x", {"anything-but": [1, 2, 3]}], "b": {"c": [{"exists": true}, {"numeric": [">", 1, "<", 2]}]}}`)
	if p.Conditions() != 6 {
		t.Fatalf("conditions %d, want 6", p.Conditions())
	}
	// Exactly the limit passes; anything-but values count one each.
	vals := make([]string, MaxConditions-1)
	for i := range vals {
		vals[i] = fmt.Sprint(i)
	}
	mustParse(t, `{"a": ["x", {"anything-but": [`+strings.Join(vals, ",")+`]}]}`)
	if _, err := Parse(json.RawMessage(`{"a": ["x", "y", {"anything-but": [` + strings.Join(vals, ",") + `]}]}`)); err == nil {
		t.Fatal("151 conditions accepted")
	}
}

func TestFromOptions(t *testing.T) {
	for _, opts := range []map[string]json.RawMessage{nil, {}, {"post_data": json.RawMessage(`"x"`)},
		{OptionKey: json.RawMessage(`null`)}, {OptionKey: json.RawMessage(` null `)}} {
		p, err := FromOptions(opts)
		if p != nil || err != nil {
			t.Fatalf("FromOptions(%v) = %v, %v", opts, p, err)
		}
	}
	p, err := FromOptions(map[string]json.RawMessage{OptionKey: json.RawMessage(`{"a": ["x"]}`)})
	if err != nil || p == nil || !p.Match(json.RawMessage(`{"a":"x"}`)) {
		t.Fatalf("FromOptions = %v, %v", p, err)
	}
	if _, err := FromOptions(map[string]json.RawMessage{OptionKey: json.RawMessage(`5`)}); err == nil {
		t.Fatal("a number policy accepted")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p := mustParse(t, `{"order": {"region": ["eu", "us"], "total": [{"numeric": [">", 10, "<=", 1000]}]},
		"id": [{"prefix": "ord-"}], "tags": [{"anything-but": ["spam"]}], "coupon": [{"exists": false}]}`)
	body := json.RawMessage(`{"id": "ord-123", "order": {"region": "eu", "total": 99.5, "lines": [{"sku": "a"}]},
		"tags": ["new", "spam"], "note": "hello"}`)
	if !p.Match(body) {
		t.Fatal("no match")
	}
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	if n := testing.AllocsPerRun(100, func() { p.Match(body) }); n != 0 {
		t.Fatalf("Match allocates %v times per run", n)
	}
}

func BenchmarkMatch(b *testing.B) {
	p := mustParse(b, `{"order": {"region": ["eu", "us"], "total": [{"numeric": [">", 10, "<=", 1000]}]},
		"id": [{"prefix": "ord-"}], "coupon": [{"exists": false}]}`)
	body := json.RawMessage(`{"id": "ord-123", "order": {"region": "eu", "total": 99.5, "lines": [{"sku": "a"}]},
		"tags": ["new"], "note": "hello"}`)
	b.ReportAllocs()
	for b.Loop() {
		p.Match(body)
	}
}
