package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/herald-mq/herald/fsm"
)

// maxSmallBody bounds bodies Zaqar puts no explicit limit on (claims, purge,
// share): they are tiny JSON objects.
const maxSmallBody = 64 << 10

// maxJSONDepth bounds nesting; Python's json gives up near its recursion
// limit (1000) too.
const maxJSONDepth = 1000

// readBody reads the request body after checking Content-Length against
// limit, and enforces the limit on the bytes actually read (chunked bodies
// carry no Content-Length).
func readBody(c *call, limit int64, tooLarge *apiError) ([]byte, *apiError) {
	if c.r.ContentLength > limit {
		return nil, tooLarge
	}
	b, err := readAll(http.MaxBytesReader(c.w, c.r.Body, limit), c.r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, newError(http.StatusServiceUnavailable, titleUnavailable, descBodyRead)
	}
	return b, nil
}

// readAll is io.ReadAll starting with room for a body of the declared
// size (size < 0: unknown) and the read that sees EOF, so that a body of
// known length is read into one allocation.
func readAll(r io.Reader, size int64) ([]byte, error) {
	n := 512
	if size > 0 {
		n = int(size) + 1
	}
	b := make([]byte, 0, n)
	for {
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the next size
		}
	}
}

// docKind is the top-level JSON type of a request document.
type docKind byte

const (
	docObject docKind = '{'
	docArray  docKind = '['
)

// checkDocument validates b as Zaqar's wsgi utils.read_json does (§0.4):
// UTF-8, one JSON value, an object or array at the top, and every integer
// literal within signed 64 bits. It returns the top-level kind. Failures
// are reported in document order: an out-of-range integer before the first
// syntax error is "integer too large", anything else "could not be parsed".
func checkDocument(b []byte) (docKind, *apiError) {
	if len(b) == 0 {
		return 0, badBody(descBodyEmpty)
	}
	kind, r := scanDocument(b)
	switch r {
	case scanOK:
		return kind, nil
	case scanIntRange:
		return 0, badBody(descIntTooLarge)
	}
	return 0, badBody(descBodyParse)
}

// isIntLiteral reports whether a JSON number has no fraction or exponent
// (Python parses those as int).
func isIntLiteral(n string) bool { return !strings.ContainsAny(n, ".eE") }

// decodeObject checks b and decodes its top level as an object; an array
// answers "Document type not supported.".
func decodeObject(b []byte) (map[string]json.RawMessage, *apiError) {
	kind, err := checkDocument(b)
	if err != nil {
		return nil, err
	}
	if kind != docObject {
		return nil, badBody(descDocType)
	}
	var m map[string]json.RawMessage
	if e := json.Unmarshal(b, &m); e != nil {
		return nil, badBody(descBodyParse)
	}
	return m, nil
}

// rawKind returns the JSON type of a raw value: '{', '[', '"', 'n'
// (null), 't'/'f' (booleans) or '0' (number).
func rawKind(v json.RawMessage) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 'n'
	}
	switch c := v[0]; c {
	case '{', '[', '"', 'n', 't', 'f':
		return c
	default:
		return '0'
	}
}

// intValue reads v as Python's isinstance(v, int) sees it: an integer
// literal, or a boolean (true is 1).
func intValue(v json.RawMessage) (int64, bool) {
	v = bytes.TrimSpace(v)
	switch rawKind(v) {
	case 't':
		return 1, true
	case 'f':
		return 0, true
	case '0':
		if !isIntLiteral(string(v)) {
			return 0, false
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// truthy reports Python truthiness of a raw JSON value: null, false, 0, "",
// [] and {} are falsy.
func truthy(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	switch rawKind(v) {
	case 'n', 'f':
		return false
	case 't':
		return true
	case '"':
		return len(v) > 2
	case '{', '[':
		return len(bytes.TrimSpace(v[1:len(v)-1])) > 0
	default:
		f, err := strconv.ParseFloat(string(v), 64)
		return err != nil || f != 0
	}
}

// intField reads a typed integer field of an object: absent -> def (ok),
// present and not an int -> Zaqar's typed field error.
func intField(obj map[string]json.RawMessage, name string, def *int64) (*int64, *apiError) {
	raw, ok := obj[name]
	if !ok {
		return def, nil
	}
	n, ok := intValue(raw)
	if !ok {
		return nil, badBody("The value of the %q field must be a int.", name)
	}
	return &n, nil
}

// decodeMessagesPost parses a message POST body (§1.3.1 steps 3-5). delay is
// kept only when delayEnabled (the queue has a truthy
// _default_message_delay); otherwise any delay sent is dropped unchecked,
// as Zaqar does. Absent ttl/delay stay nil for the FSM to resolve.
//
// It walks the validated document instead of unmarshalling it into maps
// (the hot path of every producer): a repeated key counts with its last
// value, as in a map, and each body is a sub-slice of b, byte for byte what
// json.RawMessage would have copied.
func decodeMessagesPost(b []byte, delayEnabled bool) ([]fsm.NewMessage, *apiError) {
	kind, err := checkDocument(b)
	if err != nil {
		return nil, err
	}
	if kind != docObject {
		return nil, badAPI("No messages were found in the request body.")
	}
	var rawMsgs []byte
	for it := newMemberIter(bytes.TrimLeft(b, " \t\r\n")); ; {
		k, v, ok := it.next()
		if !ok {
			break
		}
		if keyIs(k, "messages") {
			rawMsgs = v
		}
	}
	if rawMsgs == nil {
		return nil, badAPI("No messages were found in the request body.")
	}
	if rawMsgs[0] != '[' {
		return nil, badBody(descDocType)
	}
	n := 0
	for it := newElemIter(rawMsgs); ; n++ {
		if _, ok := it.next(); !ok {
			break
		}
	}
	msgs := make([]fsm.NewMessage, 0, n)
	ints := make([]int64, 0, 2*n) // backing store of the TTL and Delay pointers
	for it := newElemIter(rawMsgs); ; {
		item, ok := it.next()
		if !ok {
			break
		}
		if item[0] != '{' {
			return nil, badBody(descDocType)
		}
		var ttl, body, delay []byte
		for mi := newMemberIter(item); ; {
			k, v, ok := mi.next()
			if !ok {
				break
			}
			switch {
			case keyIs(k, "ttl"):
				ttl = v
			case keyIs(k, "body"):
				body = v
			case keyIs(k, "delay"):
				delay = v
			}
		}
		var m fsm.NewMessage
		if ttl != nil {
			v, ok := intValue(ttl)
			if !ok {
				return nil, badBody("The value of the %q field must be a int.", "ttl")
			}
			ints = append(ints, v)
			m.TTL = &ints[len(ints)-1]
		}
		if body == nil {
			return nil, badBody("Missing \"body\" field.")
		}
		m.Body = body
		if delayEnabled && delay != nil {
			v, ok := intValue(delay)
			if !ok {
				return nil, badBody("The value of the %q field must be a int.", "delay")
			}
			ints = append(ints, v)
			m.Delay = &ints[len(ints)-1]
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil, badAPI("No messages to enqueu.")
	}
	for _, m := range msgs {
		if m.TTL != nil && (*m.TTL < fsm.MinMessageTTL || *m.TTL > fsm.MaxMessageTTL) {
			return nil, badAPI("The TTL for a message may not exceed %d seconds, and must be at least %d seconds long.",
				fsm.MaxMessageTTL, fsm.MinMessageTTL)
		}
		if m.Delay != nil && (*m.Delay < 0 || *m.Delay > fsm.MaxMessageDelay) {
			return nil, badAPI("The Delay TTL for a message may not exceed %d seconds,and must be at least %d seconds long.",
				fsm.MaxMessageDelay, 0)
		}
	}
	return msgs, nil
}

// decodeQueueMetadata parses a queue PUT body: empty means no metadata,
// otherwise a JSON object. Reserved keys are validated by the caller with
// fsm.ValidateQueueMetadata.
func decodeQueueMetadata(b []byte) (map[string]json.RawMessage, *apiError) {
	if len(b) == 0 {
		return nil, nil
	}
	return decodeObject(b)
}

// The media type a queue PATCH must declare, exactly.
const patchMediaType = "application/openstack-messaging-v2.0-json-patch"

// patchOps lists the supported operations in Zaqar's messages.
const patchOps = "add, remove, replace"

// parseJSONPatch parses a queue PATCH body (§1.2.4) into operations on
// metadata keys. All failures are 400 "Invalid request body".
func parseJSONPatch(b []byte) ([]fsm.PatchOp, *apiError) {
	if len(b) == 0 {
		return nil, badBody("PATCH body could not be empty for update.")
	}
	kind, err := checkDocument(b)
	if err != nil {
		return nil, err
	}
	if kind != docArray {
		return nil, badBody(descDocType)
	}
	var items []json.RawMessage
	if e := json.Unmarshal(b, &items); e != nil {
		return nil, badBody(descBodyParse)
	}
	ops := make([]fsm.PatchOp, 0, len(items))
	for _, item := range items {
		if rawKind(item) != '{' {
			return nil, badBody("Operations must be JSON objects.")
		}
		var obj map[string]json.RawMessage
		if e := json.Unmarshal(item, &obj); e != nil {
			return nil, badBody(descBodyParse)
		}
		op, aerr := patchOperation(obj)
		if aerr != nil {
			return nil, aerr
		}
		rawPath, ok := obj["path"]
		if !ok {
			return nil, badBody("Unable to find \"path\" in JSON Schema change")
		}
		var pointer string
		if rawKind(rawPath) != '"' || json.Unmarshal(rawPath, &pointer) != nil {
			return nil, badBody("The value of the \"path\" field must be a str.")
		}
		segs, aerr := decodePointer(pointer)
		if aerr != nil {
			return nil, aerr
		}
		if len(segs) != 2 || (op != "remove" && !strings.EqualFold(segs[0], "metadata")) {
			return nil, badBody("Invalid JSON pointer for this resource: '/%s, e.g /metadata/key'", strings.Join(segs, "/"))
		}
		p := fsm.PatchOp{Op: op, Key: segs[1]}
		if op != "remove" {
			v, ok := obj["value"]
			if !ok {
				return nil, badBody("Operation \"%s\" requires a member named \"value\".", op)
			}
			p.Value = v
		}
		ops = append(ops, p)
	}
	return ops, nil
}

func patchOperation(obj map[string]json.RawMessage) (string, *apiError) {
	raw, ok := obj["op"]
	if !ok || rawKind(raw) == 'n' {
		return "", badBody("Unable to find `op` in JSON Schema change. It must be one of the following: %s.", patchOps)
	}
	var op string
	if rawKind(raw) != '"' || json.Unmarshal(raw, &op) != nil {
		op = string(bytes.TrimSpace(raw))
	}
	switch op {
	case "add", "remove", "replace":
		return op, nil
	}
	return "", badBody("Invalid operation: `%s`. It must be one of the following: %s.", op, patchOps)
}

var (
	adjacentSlashes = regexp.MustCompile(`/\s*/`)
	badTilde        = regexp.MustCompile(`~[^01]`)
)

// decodePointer validates and splits a JSON pointer the way Zaqar's
// validation._decode_json_pointer does, except that a pointer starting with
// "//" (an empty first segment) is refused too.
func decodePointer(p string) ([]string, *apiError) {
	switch {
	case !strings.HasPrefix(p, "/"):
		return nil, badBody("Pointer `%s` does not start with \"/\".", p)
	case adjacentSlashes.MatchString(p[1:]) || strings.HasPrefix(p, "//"):
		return nil, badBody("Pointer `%s` contains adjacent \"/\".", p)
	case len(p) > 1 && strings.HasSuffix(p, "/"):
		return nil, badBody("Pointer `%s` end with \"/\".", p)
	case badTilde.MatchString(p) || strings.HasSuffix(p, "~"):
		return nil, badBody("Pointer `%s` contains \"~\" not part of a recognized escape sequence.", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		s = strings.ReplaceAll(s, "~1", "/")
		s = strings.ReplaceAll(s, "~0", "~")
		parts[i] = strings.TrimSpace(s)
	}
	return parts, nil
}

// claimBody is a decoded claim POST/PATCH body with defaults applied.
type claimBody struct {
	TTL   int64
	Grace int64
}

// decodeClaimBody parses a claim body: a JSON object with optional integer
// ttl and grace (defaults 300 and 60; other keys, such as limit, are
// ignored). An empty body gives the defaults unless required (PATCH).
// Ranges are checked by the caller (validateClaimTTL, validateClaimGrace)
// because Zaqar checks the claim limit between them.
func decodeClaimBody(b []byte, required bool) (claimBody, *apiError) {
	out := claimBody{TTL: fsm.DefaultClaimTTL, Grace: fsm.DefaultClaimGrace}
	if len(b) == 0 && !required {
		return out, nil
	}
	kind, err := checkDocument(b)
	if err != nil {
		return out, err
	}
	if kind != docObject {
		return out, badBody(descDocType)
	}
	// Walk the members instead of unmarshalling into a map; the last of a
	// repeated key counts, as in a map.
	var ttl, grace []byte
	for it := newMemberIter(bytes.TrimLeft(b, " \t\r\n")); ; {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch {
		case keyIs(k, "ttl"):
			ttl = v
		case keyIs(k, "grace"):
			grace = v
		}
	}
	body := out
	for _, f := range [...]struct {
		name string
		raw  []byte
		dst  *int64
	}{{"ttl", ttl, &body.TTL}, {"grace", grace, &body.Grace}} {
		if f.raw == nil {
			continue
		}
		n, ok := intValue(f.raw)
		if !ok {
			return out, badBody("The value of the %q field must be a int.", f.name)
		}
		*f.dst = n
	}
	return body, nil
}

func validateClaimTTL(ttl int64) *apiError {
	if ttl < fsm.MinClaimTTL || ttl > fsm.MaxClaimTTL {
		return badAPI("The TTL for a claim may not exceed %d seconds, and must be at least %d seconds long.",
			fsm.MaxClaimTTL, fsm.MinClaimTTL)
	}
	return nil
}

func validateClaimGrace(grace int64) *apiError {
	if grace < fsm.MinClaimGrace || grace > fsm.MaxClaimGrace {
		return badAPI("The grace for a claim may not exceed %d seconds, and must be at least %d seconds long.",
			fsm.MaxClaimGrace, fsm.MinClaimGrace)
	}
	return nil
}

// decodePurgeBody parses a purge body (§1.2.7): empty purges everything;
// otherwise "resource_types" is required and must name a subset of
// messages and subscriptions.
func decodePurgeBody(b []byte) (messages, subscriptions bool, _ *apiError) {
	if len(b) == 0 {
		return true, true, nil
	}
	obj, err := decodeObject(b)
	if err != nil {
		return false, false, err
	}
	raw, ok := obj["resource_types"]
	if !ok {
		return false, false, badAPI("Post body must contain key \"resource_types\".")
	}
	var types []string
	if rawKind(raw) != '[' || json.Unmarshal(raw, &types) != nil {
		return false, false, badAPI("Resource types must be a sub set of ['messages', 'subscriptions'].")
	}
	for _, t := range types {
		switch t {
		case "messages":
			messages = true
		case "subscriptions":
			subscriptions = true
		default:
			return false, false, badAPI("Resource types must be a sub set of ['messages', 'subscriptions'].")
		}
	}
	return messages, subscriptions, nil
}

// params reads query parameters with Zaqar's rules (§0.3): blank values are
// absent, the first value of a repeated parameter wins.
type params url.Values

func (p params) str(name string) (string, bool) {
	v := url.Values(p).Get(name)
	return v, v != ""
}

// int parses an integer parameter; a non-integer is falcon's 400.
func (p params) int(name string) (int, bool, *apiError) {
	v, ok := p.str(name)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, false, badParam(name, "The value must be an integer.")
	}
	return n, true, nil
}

var (
	trueWords  = map[string]bool{"true": true, "True": true, "t": true, "yes": true, "y": true, "1": true, "on": true}
	falseWords = map[string]bool{"false": true, "False": true, "f": true, "no": true, "n": true, "0": true, "off": true}
)

// bool parses a boolean parameter from falcon's word lists.
func (p params) bool(name string) (bool, bool, *apiError) {
	v, ok := p.str(name)
	switch {
	case !ok:
		return false, false, nil
	case trueWords[v]:
		return true, true, nil
	case falseWords[v]:
		return false, true, nil
	}
	return false, false, badParam(name, "The value of the parameter must be \"true\" or \"false\".")
}

// list reads a list parameter: every non-blank value, split on commas
// (python-zaqarclient repeats the parameter: ids=a&ids=b). Absent or blank
// is nil.
func (p params) list(name string) []string {
	var out []string
	for _, v := range url.Values(p)[name] {
		if v != "" {
			out = append(out, strings.Split(v, ",")...)
		}
	}
	return out
}

// limitError is the range error of a limit-like parameter.
func limitError(max int) *apiError {
	return badAPI("Limit must be at least 1 and may not be greater than %d.", max)
}

// queryString renders ordered key/value pairs as "?k=v&...". Values are
// escaped; commas stay readable.
func queryString(kv [][2]string) string {
	if len(kv) == 0 {
		return ""
	}
	n := 0
	for _, p := range kv {
		n += len(p[0]) + len(p[1]) + 2
	}
	var sb strings.Builder
	sb.Grow(n) // enough unless something needs escaping
	for i, p := range kv {
		if i == 0 {
			sb.WriteByte('?')
		} else {
			sb.WriteByte('&')
		}
		sb.WriteString(url.QueryEscape(p[0]))
		sb.WriteByte('=')
		sb.WriteString(strings.ReplaceAll(url.QueryEscape(p[1]), "%2C", ","))
	}
	return sb.String()
}

func boolString(b bool) string { return strconv.FormatBool(b) }
