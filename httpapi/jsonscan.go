package httpapi

import (
	"encoding/json"
	"unicode/utf8"
)

// A hand-written JSON scanner for the hot request and response paths.
// encoding/json's Decoder.Token allocates per token (and formats an error
// value at the end of every number), and Unmarshal into maps of RawMessage
// copies every value; a message post paid for both. The scanner validates
// a document in one pass without allocating, and the walkers below then
// hand out sub-slices of the (validated) input.
//
// The grammar is RFC 8259 exactly as encoding/json's scanner accepts it:
// whitespace is space, tab, CR and LF; strings may hold any byte >= 0x20
// (UTF-8 validity is checked separately, where it matters); escapes are
// \" \\ \/ \b \f \n \r \t and \u with four hex digits. differential_test.go
// compares every function here with the encoding/json code it replaces.

// scanResult is the outcome of a validating scan.
type scanResult uint8

const (
	scanOK       scanResult = iota
	scanSyntax              // not JSON (or too deeply nested)
	scanIntRange            // an integer literal outside signed 64 bits
)

// jsonValidator validates JSON values.
type jsonValidator struct {
	b         []byte
	maxDepth  int  // containers that may be open at once
	checkInts bool // integer literals must fit in an int64
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// value validates the value starting at b[i] (not whitespace) inside depth
// open containers and returns the index just after it. Failures are
// reported in document order, so an out-of-range integer is reported only
// when it comes before the first syntax error (as a streaming tokenizer
// does).
func (v *jsonValidator) value(i, depth int) (int, scanResult) {
	b := v.b
	if i >= len(b) {
		return i, scanSyntax
	}
	switch c := b[i]; {
	case c == '{':
		return v.object(i, depth+1)
	case c == '[':
		return v.array(i, depth+1)
	case c == '"':
		return scanString(b, i)
	case c == '-' || '0' <= c && c <= '9':
		return v.number(i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return i, scanSyntax
}

func (v *jsonValidator) object(i, depth int) (int, scanResult) {
	if depth > v.maxDepth {
		return i, scanSyntax
	}
	b := v.b
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, scanOK
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, scanSyntax
		}
		var r scanResult
		if i, r = scanString(b, i); r != scanOK {
			return i, r
		}
		i = skipJSONSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, scanSyntax
		}
		i = skipJSONSpace(b, i+1)
		if i, r = v.value(i, depth); r != scanOK {
			return i, r
		}
		var done bool
		if i, done, r = afterElement(b, i, '}'); r != scanOK || done {
			return i, r
		}
	}
}

func (v *jsonValidator) array(i, depth int) (int, scanResult) {
	if depth > v.maxDepth {
		return i, scanSyntax
	}
	b := v.b
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, scanOK
	}
	for {
		var r scanResult
		if i, r = v.value(i, depth); r != scanOK {
			return i, r
		}
		var done bool
		if i, done, r = afterElement(b, i, ']'); r != scanOK || done {
			return i, r
		}
	}
}

// afterElement reads what follows an object member or array element: a
// comma, after which i is at the next element, or the closing byte, after
// which i is past it and done is set.
func afterElement(b []byte, i int, closing byte) (next int, done bool, r scanResult) {
	i = skipJSONSpace(b, i)
	if i >= len(b) {
		return i, false, scanSyntax
	}
	switch b[i] {
	case ',':
		return skipJSONSpace(b, i+1), false, scanOK
	case closing:
		return i + 1, true, scanOK
	}
	return i, false, scanSyntax
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and, when
// asked, range-checks it if it has neither fraction nor exponent (Python
// parses those as int).
func (v *jsonValidator) number(i int) (int, scanResult) {
	b := v.b
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return i, scanSyntax
	}
	isInt := true
	if i < len(b) && b[i] == '.' {
		isInt = false
		if i++; i >= len(b) || !isDigit(b[i]) {
			return i, scanSyntax
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, scanSyntax
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if isInt && v.checkInts && !intLiteralFits(b[start:i]) {
		return i, scanIntRange
	}
	return i, scanOK
}

// intLiteralFits reports whether a JSON integer literal (no leading zeros)
// is within signed 64 bits.
func intLiteralFits(lit []byte) bool {
	limit := "9223372036854775807"
	if lit[0] == '-' {
		lit, limit = lit[1:], "9223372036854775808"
	}
	switch {
	case len(lit) < len(limit):
		return true
	case len(lit) > len(limit):
		return false
	}
	return string(lit) <= limit
}

// scanString scans the string starting at the quote b[i] and returns the
// index after its closing quote.
func scanString(b []byte, i int) (int, scanResult) {
	for i++; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, scanOK
		case c == '\\':
			if i+1 >= len(b) {
				return i, scanSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, scanSyntax
				}
				i += 6
			default:
				return i, scanSyntax
			}
		case c < 0x20:
			return i, scanSyntax
		default:
			i++
		}
	}
	return i, scanSyntax
}

func scanLiteral(b []byte, i int, lit string) (int, scanResult) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, scanSyntax
	}
	return i + len(lit), scanOK
}

// scanDocument validates a request document as checkDocument defines it:
// UTF-8, one object or array (at most maxJSONDepth containers deep) with
// only whitespace around it, every integer literal within 64 bits.
func scanDocument(b []byte) (docKind, scanResult) {
	if !utf8.Valid(b) {
		return 0, scanSyntax
	}
	i := skipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' && b[i] != '[' {
		return 0, scanSyntax
	}
	v := jsonValidator{b: b, maxDepth: maxJSONDepth, checkInts: true}
	end, r := v.value(i, 0)
	if r != scanOK {
		return 0, r
	}
	if skipJSONSpace(b, end) != len(b) {
		return 0, scanSyntax
	}
	return docKind(b[i]), scanOK
}

// Walkers over validated JSON. They trust their input: call them only on
// spans of a document scanDocument accepted.

// skipValue returns the index just after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		end, _ := scanString(b, i)
		return end
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i, _ = scanString(b, i)
				i--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number or literal: up to the next delimiter
		for i < len(b) && !isJSONSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
			i++
		}
		return i
	}
}

// memberIter walks the members of a validated object.
type memberIter struct {
	b []byte
	i int
}

func newMemberIter(obj []byte) memberIter { return memberIter{b: obj, i: 1} }

// next returns the next member's raw key (without quotes, still escaped)
// and value (without surrounding whitespace).
func (it *memberIter) next() (key, val []byte, ok bool) {
	b := it.b
	i := skipJSONSpace(b, it.i)
	if i < len(b) && b[i] == ',' {
		i = skipJSONSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	kEnd, _ := scanString(b, i)
	key = b[i+1 : kEnd-1]
	i = skipJSONSpace(b, kEnd)
	i = skipJSONSpace(b, i+1) // the colon
	vEnd := skipValue(b, i)
	it.i = vEnd
	return key, b[i:vEnd:vEnd], true
}

// keyIs reports whether a raw (escaped) object key decodes to name.
func keyIs(key []byte, name string) bool {
	for _, c := range key {
		if c == '\\' {
			var s string
			quoted := make([]byte, 0, len(key)+2)
			quoted = append(append(append(quoted, '"'), key...), '"')
			return json.Unmarshal(quoted, &s) == nil && s == name
		}
	}
	return string(key) == name
}

// elemIter walks the elements of a validated array.
type elemIter struct {
	b []byte
	i int
}

func newElemIter(arr []byte) elemIter { return elemIter{b: arr, i: 1} }

// next returns the next element without surrounding whitespace.
func (it *elemIter) next() ([]byte, bool) {
	b := it.b
	i := skipJSONSpace(b, it.i)
	if i < len(b) && b[i] == ',' {
		i = skipJSONSpace(b, i+1)
	}
	if i >= len(b) || b[i] == ']' {
		return nil, false
	}
	end := skipValue(b, i)
	it.i = end
	return b[i:end:end], true
}

// maxCompactDepth is encoding/json's own nesting limit.
const maxCompactDepth = 10000

// appendCompactJSON appends src without insignificant whitespace, as
// json.Compact (and so json.Encoder on a RawMessage with HTML escaping
// off) does. ok is false when src is not one valid JSON value; the caller
// then falls back to encoding/json for its exact error.
func appendCompactJSON(dst, src []byte) (out []byte, ok bool) {
	i := skipJSONSpace(src, 0)
	v := jsonValidator{b: src, maxDepth: maxCompactDepth}
	end, r := v.value(i, 0)
	if r != scanOK || skipJSONSpace(src, end) != len(src) {
		return dst, false
	}
	src = src[i:end]
	start := 0
	for j := 0; j < len(src); j++ {
		switch c := src[j]; {
		case c == '"':
			j, _ = scanString(src, j)
			j--
		case isJSONSpace(c):
			dst = append(dst, src[start:j]...)
			start = j + 1
		}
	}
	return append(dst, src[start:]...), true
}
