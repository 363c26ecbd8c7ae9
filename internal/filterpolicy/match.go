package filterpolicy

import (
	"encoding/json"
	"strconv"
)

// Match reports whether a message body satisfies the policy. A body that
// is not a JSON object (including invalid JSON) matches only an empty
// policy; a nil policy matches everything. Match never panics.
//
// The body is validated once (json.Valid) and then scanned in place: only
// the fields the policy names are looked at, and nothing is allocated
// unless a compared string or key contains escape sequences.
func (p *Policy) Match(body json.RawMessage) bool {
	if p.Empty() {
		return true
	}
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' || !json.Valid(body) {
		return false
	}
	return p.root.match(body, i)
}

// span is the bytes [start, end) of a value in the body; start < 0 means
// the field is absent.
type span struct{ start, end int }

var absent = span{-1, -1}

// match reports whether the object starting at b[obj] satisfies every
// field of n; obj < 0 stands for an object without fields.
func (n *node) match(b []byte, obj int) bool {
	var buf [8]span
	var spans []span
	if len(n.fields) <= len(buf) {
		spans = buf[:len(n.fields)]
	} else {
		spans = make([]span, len(n.fields))
	}
	for i := range spans {
		spans[i] = absent
	}
	if obj >= 0 {
		it := iter{b: b, i: obj + 1}
		for {
			ks, ke, vs, ve, ok := it.member()
			if !ok {
				break
			}
			if fi := n.find(b[ks:ke]); fi >= 0 {
				spans[fi] = span{vs, ve} // a repeated key: the last wins, as in encoding/json
			}
		}
	}
	for i := range n.fields {
		if !n.fields[i].match(b, spans[i]) {
			return false
		}
	}
	return true
}

// find returns the index of the field named by a raw JSON key (with its
// quotes), or -1.
func (n *node) find(rawKey []byte) int {
	if len(rawKey) < 2 {
		return -1
	}
	key := rawKey[1 : len(rawKey)-1]
	for _, c := range key {
		if c == '\\' {
			var s string
			if json.Unmarshal(rawKey, &s) != nil {
				return -1
			}
			key = []byte(s)
			break
		}
	}
	lo, hi := 0, len(n.fields)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.fields[m].key < string(key) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(n.fields) && n.fields[lo].key == string(key) {
		return lo
	}
	return -1
}

// match evaluates one field against its value sp in b.
func (f *field) match(b []byte, sp span) bool {
	if f.sub != nil {
		return f.matchNested(b, sp)
	}
	if sp.start < 0 {
		for i := range f.conds {
			if f.conds[i].kind == cExists && !f.conds[i].b {
				return true
			}
		}
		return false
	}
	for i := range f.conds {
		if f.conds[i].kind == cExists && f.conds[i].b {
			return true
		}
	}
	if b[sp.start] != '[' {
		v := decodeScalar(b[sp.start:sp.end])
		return f.anyCond(&v)
	}
	it := iter{b: b, i: sp.start + 1}
	for {
		s, e, ok := it.elem()
		if !ok {
			return false
		}
		v := decodeScalar(b[s:e])
		if f.anyCond(&v) {
			return true
		}
	}
}

// anyCond reports whether a value-testing condition of f matches v.
func (f *field) anyCond(v *scalar) bool {
	for i := range f.conds {
		if f.conds[i].matchScalar(v) {
			return true
		}
	}
	return false
}

// matchNested applies a nested policy: to an object value; to the
// elements of an array (any may match; non-objects count as empty
// objects); otherwise (absent, scalar, empty array) to an empty object.
func (f *field) matchNested(b []byte, sp span) bool {
	if sp.start < 0 {
		return f.sub.match(b, -1)
	}
	switch b[sp.start] {
	case '{':
		return f.sub.match(b, sp.start)
	case '[':
		it := iter{b: b, i: sp.start + 1}
		emptyTried, elems := false, 0
		for {
			s, _, ok := it.elem()
			if !ok {
				break
			}
			elems++
			if b[s] == '{' {
				if f.sub.match(b, s) {
					return true
				}
			} else if !emptyTried {
				if f.sub.match(b, -1) {
					return true
				}
				emptyTried = true
			}
		}
		if elems > 0 {
			return false
		}
	}
	return f.sub.match(b, -1)
}

// Kinds of a decoded scalar.
const (
	kOther  = iota // object or array
	kString        // str
	kNumber        // num
	kBool          // b
	kNull
)

// scalar is a body value prepared for comparisons.
type scalar struct {
	kind uint8
	b    bool
	str  []byte // decoded string
	num  float64
}

// decodeScalar decodes a valid JSON value. Strings are used in place
// unless they contain escapes.
func decodeScalar(raw []byte) scalar {
	if len(raw) == 0 {
		return scalar{}
	}
	switch raw[0] {
	case '"':
		if len(raw) < 2 {
			return scalar{}
		}
		s := raw[1 : len(raw)-1]
		for _, c := range s {
			if c == '\\' {
				var d string
				if json.Unmarshal(raw, &d) != nil {
					return scalar{}
				}
				return scalar{kind: kString, str: []byte(d)}
			}
		}
		return scalar{kind: kString, str: s}
	case 't':
		return scalar{kind: kBool, b: true}
	case 'f':
		return scalar{kind: kBool}
	case 'n':
		return scalar{kind: kNull}
	case '{', '[':
		return scalar{}
	}
	n, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return scalar{}
		} // out of range: ±Inf or 0, which still compare sensibly
	}
	return scalar{kind: kNumber, num: n}
}

// matchScalar reports whether a value-testing condition matches v
// (exists conditions are handled by the caller).
func (c *cond) matchScalar(v *scalar) bool {
	switch c.kind {
	case cString:
		return v.kind == kString && string(v.str) == c.s
	case cNumber:
		return v.kind == kNumber && v.num == c.n
	case cBool:
		return v.kind == kBool && v.b == c.b
	case cNull:
		return v.kind == kNull
	case cPrefix:
		return v.kind == kString && len(v.str) >= len(c.s) && string(v.str[:len(c.s)]) == c.s
	case cNumeric:
		if v.kind != kNumber {
			return false
		}
		x := v.num
		return (x > c.lo || c.loIncl && x == c.lo) && (x < c.hi || c.hiIncl && x == c.hi)
	case cAnythingBut:
		if v.kind == kOther {
			return false
		}
		for i := range c.vals {
			if c.vals[i].matchScalar(v) {
				return false
			}
		}
		return true
	}
	return false
}

// iter walks the members of an object or the elements of an array whose
// opening bracket is at b[i-1]. The scanner assumes valid JSON but stays
// in bounds and always terminates on any input.
type iter struct {
	b []byte
	i int
}

// elem returns the next array element's span.
func (it *iter) elem() (s, e int, ok bool) {
	b := it.b
	i := skipWS(b, it.i)
	if i >= len(b) || b[i] == ']' {
		return 0, 0, false
	}
	s, e = i, skipValue(b, i)
	if e <= s {
		return 0, 0, false
	}
	it.i = it.sep(e)
	return s, e, true
}

// member returns the next object member's key (with quotes) and value.
func (it *iter) member() (ks, ke, vs, ve int, ok bool) {
	b := it.b
	i := skipWS(b, it.i)
	if i >= len(b) || b[i] != '"' {
		return 0, 0, 0, 0, false
	}
	ks, ke = i, skipString(b, i)
	i = skipWS(b, ke)
	if i >= len(b) || b[i] != ':' {
		return 0, 0, 0, 0, false
	}
	vs = skipWS(b, i+1)
	if vs >= len(b) {
		return 0, 0, 0, 0, false
	}
	ve = skipValue(b, vs)
	if ve <= vs {
		return 0, 0, 0, 0, false
	}
	it.i = it.sep(ve)
	return ks, ke, vs, ve, true
}

// sep skips whitespace and one comma after a value ending at i.
func (it *iter) sep(i int) int {
	i = skipWS(it.b, i)
	if i < len(it.b) && it.b[i] == ',' {
		i++
	}
	return i
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"').
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i] (i itself
// when b[i] starts no value).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); {
			switch b[j] {
			case '"':
				j = skipString(b, j)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return len(b)
	case ',', ':', '}', ']', ' ', '\t', '\n', '\r':
		return i
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', ':', '}', ']', '[', '{', '"', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}
