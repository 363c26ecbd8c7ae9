package filterpolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// OptionKey is the subscription option holding a filter policy.
const OptionKey = "filter_policy"

// Limits of a policy (see the package documentation).
const (
	// MaxDepth is the deepest nesting of keys: {"a": ["x"]} has depth 1.
	MaxDepth = 5
	// MaxConditions bounds the conditions of a policy (an anything-but
	// with n values counts n).
	MaxConditions = 150
)

// rootPath names the policy itself in error paths.
const rootPath = OptionKey

// Error is a refused policy: Msg describes the problem found at Path, a
// JSON path starting with "filter_policy" (e.g.
// "filter_policy.order.region[1]").
type Error struct {
	Path string
	Msg  string
}

// Error returns "<path>: <message>".
func (e *Error) Error() string { return e.Path + ": " + e.Msg }

func errAt(path, format string, args ...any) error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Policy is a parsed, valid filter policy. A nil *Policy matches every
// message. A Policy is immutable and safe for concurrent use.
type Policy struct {
	root  node
	conds int // conditions counted towards MaxConditions
}

// node is an object of a policy: all of its fields must match.
type node struct {
	fields []field // sorted by key
}

// field is one key of a node: either a nested node (sub != nil) or a leaf
// of conditions, any of which may match.
type field struct {
	key   string
	sub   *node
	conds []cond
}

type condKind uint8

const (
	cString      condKind = iota // s
	cNumber                      // n
	cBool                        // b
	cNull                        //
	cPrefix                      // s
	cAnythingBut                 // vals (exact conditions)
	cNumeric                     // lo, hi, loIncl, hiIncl
	cExists                      // b
)

// cond is one condition of a leaf.
type cond struct {
	kind           condKind
	s              string
	n              float64
	b              bool
	lo, hi         float64
	loIncl, hiIncl bool
	vals           []cond
}

// FromOptions parses the filter policy of subscription options: nil and
// no error when the key is absent or null, else Parse's answer.
func FromOptions(opts map[string]json.RawMessage) (*Policy, error) {
	raw, ok := opts[OptionKey]
	if !ok {
		return nil, nil
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	return Parse(raw)
}

// Parse validates a filter policy and compiles it for Match. The error,
// an *Error, names the first problem found and its path.
func Parse(raw json.RawMessage) (*Policy, error) {
	p := &Policy{}
	if err := p.parseObject(&p.root, raw, rootPath, 0); err != nil {
		return nil, err
	}
	return p, nil
}

// Empty reports whether the policy has no keys (it matches everything).
// A nil policy is empty.
func (p *Policy) Empty() bool { return p == nil || len(p.root.fields) == 0 }

// Conditions is the number of conditions counted towards MaxConditions.
func (p *Policy) Conditions() int {
	if p == nil {
		return 0
	}
	return p.conds
}

// kindName describes the JSON kind of a raw value for error messages.
func kindName(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// keyPath appends an object key to a path: .key for simple keys, else
// ["key"].
func keyPath(path, key string) string {
	simple := key != ""
	for i := 0; i < len(key) && simple; i++ {
		c := key[i]
		simple = c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	if simple {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// parseObject parses the object raw at path (depth = levels of keys
// above it) into n.
func (p *Policy) parseObject(n *node, raw []byte, path string, depth int) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		if !json.Valid(raw) {
			return errAt(path, "not valid JSON")
		}
		return errAt(path, "must be a JSON object, got %s", kindName(raw))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return errAt(path, "not valid JSON")
	}
	if len(obj) == 0 {
		if depth == 0 {
			return nil
		}
		return errAt(path, "a nested policy must not be empty")
	}
	if depth >= MaxDepth {
		return errAt(path, "nesting deeper than %d levels of keys", MaxDepth)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n.fields = make([]field, len(keys))
	for i, k := range keys {
		f := &n.fields[i]
		f.key = k
		v := bytes.TrimSpace(obj[k])
		kp := keyPath(path, k)
		switch {
		case len(v) > 0 && v[0] == '[':
			conds, err := p.parseLeaf(v, kp)
			if err != nil {
				return err
			}
			f.conds = conds
		case len(v) > 0 && v[0] == '{':
			f.sub = &node{}
			if err := p.parseObject(f.sub, v, kp, depth+1); err != nil {
				return err
			}
		default:
			return errAt(kp, "must be an array of conditions or an object (a nested policy), got %s; "+
				"write [%s] to match a single value", kindName(v), v)
		}
	}
	return nil
}

// count adds n conditions, refusing more than MaxConditions.
func (p *Policy) count(n int, path string) error {
	p.conds += n
	if p.conds > MaxConditions {
		return errAt(path, "the policy has more than %d conditions", MaxConditions)
	}
	return nil
}

// parseLeaf parses an array of conditions.
func (p *Policy) parseLeaf(raw []byte, path string) ([]cond, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, errAt(path, "not valid JSON")
	}
	if len(elems) == 0 {
		return nil, errAt(path, "must list at least one condition (an empty list matches nothing)")
	}
	out := make([]cond, 0, len(elems))
	for i, e := range elems {
		ip := indexPath(path, i)
		e = bytes.TrimSpace(e)
		var (
			c   cond
			err error
		)
		switch {
		case len(e) > 0 && e[0] == '{':
			c, err = p.parseOperator(e, ip)
		case len(e) > 0 && e[0] == '[':
			err = errAt(ip, "a condition must be a value or an operator object, not an array")
		default:
			if c, err = parseExact(e, ip); err == nil {
				err = p.count(1, ip)
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// parseExact parses a scalar (string, number, boolean, null) condition.
func parseExact(raw []byte, path string) (cond, error) {
	if len(raw) == 0 {
		return cond{}, errAt(path, "missing value")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return cond{}, errAt(path, "not valid JSON")
		}
		return cond{kind: cString, s: s}, nil
	case 't', 'f':
		return cond{kind: cBool, b: raw[0] == 't'}, nil
	case 'n':
		return cond{kind: cNull}, nil
	case '{', '[':
		return cond{}, errAt(path, "must be a string, number, boolean or null, got %s", kindName(raw))
	}
	n, err := parseNumber(raw, path)
	return cond{kind: cNumber, n: n}, err
}

// parseNumber parses a finite JSON number.
func parseNumber(raw []byte, path string) (float64, error) {
	if len(raw) == 0 || raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, errAt(path, "must be a number, got %s", kindName(raw))
	}
	n, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, errAt(path, "number %s is out of range", raw)
	}
	return n, nil
}

// operators lists the operator keys for error messages.
const operators = "prefix, anything-but, numeric or exists"

// parseOperator parses an operator object such as {"prefix": "x"}.
func (p *Policy) parseOperator(raw []byte, path string) (cond, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return cond{}, errAt(path, "not valid JSON")
	}
	if len(obj) != 1 {
		return cond{}, errAt(path, "an operator object must have exactly one key (%s), got %d", operators, len(obj))
	}
	var op string
	var arg []byte
	for k, v := range obj {
		op, arg = k, bytes.TrimSpace(v)
	}
	opPath := keyPath(path, op)
	switch op {
	case "prefix":
		var s string
		if len(arg) == 0 || arg[0] != '"' || json.Unmarshal(arg, &s) != nil {
			return cond{}, errAt(opPath, "must be a string, got %s", kindName(arg))
		}
		return cond{kind: cPrefix, s: s}, p.count(1, path)
	case "exists":
		if string(arg) != "true" && string(arg) != "false" {
			return cond{}, errAt(opPath, "must be true or false, got %s", kindName(arg))
		}
		return cond{kind: cExists, b: string(arg) == "true"}, p.count(1, path)
	case "anything-but":
		return p.parseAnythingBut(arg, opPath)
	case "numeric":
		c, err := parseNumeric(arg, opPath)
		if err != nil {
			return c, err
		}
		return c, p.count(1, path)
	}
	return cond{}, errAt(path, "unknown operator %q; want %s", op, operators)
}

// parseAnythingBut parses the argument of anything-but: one scalar or a
// non-empty array of scalars.
func (p *Policy) parseAnythingBut(arg []byte, path string) (cond, error) {
	c := cond{kind: cAnythingBut}
	if len(arg) > 0 && arg[0] != '[' {
		v, err := parseExact(arg, path)
		if err != nil {
			return cond{}, err
		}
		c.vals = []cond{v}
		return c, p.count(1, path)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(arg, &elems); err != nil {
		return cond{}, errAt(path, "not valid JSON")
	}
	if len(elems) == 0 {
		return cond{}, errAt(path, "must list at least one value")
	}
	for i, e := range elems {
		v, err := parseExact(bytes.TrimSpace(e), indexPath(path, i))
		if err != nil {
			return cond{}, err
		}
		c.vals = append(c.vals, v)
	}
	return c, p.count(len(c.vals), path)
}

// parseNumeric parses ["op", n] or [">"|">=", lo, "<"|"<=", hi].
func parseNumeric(arg []byte, path string) (cond, error) {
	var elems []json.RawMessage
	if len(arg) == 0 || arg[0] != '[' || json.Unmarshal(arg, &elems) != nil {
		return cond{}, errAt(path, "must be an array such as [\">\", 10] or [\">=\", 10, \"<\", 20], got %s", kindName(arg))
	}
	if len(elems) != 2 && len(elems) != 4 {
		return cond{}, errAt(path, "must hold one or two comparisons (an operator and a number each), got %d elements", len(elems))
	}
	ops := make([]string, 0, 2)
	nums := make([]float64, 0, 2)
	for i := 0; i < len(elems); i += 2 {
		var op string
		e := bytes.TrimSpace(elems[i])
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &op) != nil {
			return cond{}, errAt(indexPath(path, i), "must be an operator string (=, <, <=, >, >=), got %s", kindName(e))
		}
		switch op {
		case "=", "<", "<=", ">", ">=":
		default:
			return cond{}, errAt(indexPath(path, i), "unknown numeric operator %q; want =, <, <=, >, >=", op)
		}
		n, err := parseNumber(bytes.TrimSpace(elems[i+1]), indexPath(path, i+1))
		if err != nil {
			return cond{}, err
		}
		ops, nums = append(ops, op), append(nums, n)
	}
	c := cond{kind: cNumeric, lo: math.Inf(-1), hi: math.Inf(1), loIncl: true, hiIncl: true}
	if len(ops) == 1 {
		switch n := nums[0]; ops[0] {
		case "=":
			c.lo, c.hi = n, n
		case "<":
			c.hi, c.hiIncl = n, false
		case "<=":
			c.hi = n
		case ">":
			c.lo, c.loIncl = n, false
		case ">=":
			c.lo = n
		}
		return c, nil
	}
	if !strings.HasPrefix(ops[0], ">") || !strings.HasPrefix(ops[1], "<") {
		return cond{}, errAt(path, "a range must be a lower bound (> or >=) followed by an upper bound (< or <=), got %q then %q",
			ops[0], ops[1])
	}
	c.lo, c.loIncl = nums[0], ops[0] == ">="
	c.hi, c.hiIncl = nums[1], ops[1] == "<="
	if c.lo > c.hi || c.lo == c.hi && !(c.loIncl && c.hiIncl) {
		return cond{}, errAt(path, "the range is empty: nothing is %s %v and %s %v", ops[0], nums[0], ops[1], nums[1])
	}
	return c, nil
}
