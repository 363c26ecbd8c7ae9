package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SignedURLExpiresFormat is the time layout of a pre-signed URL's expiry
// (the URL-Expires header and what SignURL signs), always in UTC.
const SignedURLExpiresFormat = "2006-01-02T15:04:05"

// signedDateFormat is how a pre-signed URL's expiry is rendered and signed.
const signedDateFormat = SignedURLExpiresFormat

// signedURL is the body of POST /share and the content a signature covers.
type signedURL struct {
	Project   string   `json:"project"`
	Paths     []string `json:"paths"`
	Methods   []string `json:"methods"`
	Expires   string   `json:"expires"`
	Signature string   `json:"signature"`
}

// Pre-signed URL failures (Zaqar's ValueError messages).
var (
	errNoKey   = errors.New("The `key` can't be None")
	errExpired = errors.New("`expires` is lower than the current time")
)

// signURL computes Zaqar's signature (§8.2): HMAC-SHA256 over the sorted,
// comma-joined paths and methods, the project and the expiry, joined by the
// two literal characters backslash and n.
func signURL(key string, paths, methods []string, project string, expires time.Time) signedURL {
	paths = sortedCopy(paths)
	methods = sortedCopy(methods)
	exp := expires.UTC().Format(signedDateFormat)
	msg := strings.Join(paths, ",") + `\n` + strings.Join(methods, ",") + `\n` + project + `\n` + exp
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(msg))
	return signedURL{Project: project, Paths: paths, Methods: methods, Expires: exp,
		Signature: hex.EncodeToString(mac.Sum(nil))}
}

// SignURL returns the signature (lowercase hex) of a pre-signed URL
// (ZAQAR-API.md §8.2) for key, paths, methods, project and expiry: the
// URL-Signature header value that goes with URL-Paths, URL-Methods,
// X-Project-ID and URL-Expires (expires formatted "2006-01-02T15:04:05",
// UTC). For a subscription confirmation (§5.3) paths is
// {ConfirmPath(kind, source, id)} and methods is {"PUT"}.
func SignURL(key string, paths, methods []string, project string, expires time.Time) string {
	return signURL(key, paths, methods, project, expires).Signature
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

var (
	intLike = regexp.MustCompile(`^\s*[+-]?\d+(_\d+)*\s*$`)
	isoTime = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})` +
		`(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9})\d*)?)?)?` +
		`\s*(Z|[+-]\d{2}(?::?\d{2})?)?$`)
)

// parseExpires parses an expiry the way Zaqar does (an all-digits value is
// refused; ISO 8601 with optional time, fraction and zone; no zone = UTC)
// and checks it is in the future.
func parseExpires(s string, now time.Time) (time.Time, error) {
	if intLike.MatchString(s) {
		return time.Time{}, fmt.Errorf("`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: %s",
			strings.TrimSpace(s))
	}
	m := isoTime.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("Unable to parse date string %q", s)
	}
	num := func(i int) int { n, _ := strconv.Atoi(m[i]); return n }
	nsec := 0
	if m[7] != "" {
		frac := m[7] + strings.Repeat("0", 9-len(m[7]))
		nsec, _ = strconv.Atoi(frac)
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		digits := strings.ReplaceAll(z[1:], ":", "")
		h, _ := strconv.Atoi(digits[:2])
		mins := 0
		if len(digits) == 4 {
			mins, _ = strconv.Atoi(digits[2:])
		}
		if h > 23 || mins > 59 {
			return time.Time{}, fmt.Errorf("Unable to parse date string %q", s)
		}
		off := h*3600 + mins*60
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	t := time.Date(num(1), time.Month(num(2)), num(3), num(4), num(5), num(6), nsec, loc)
	if t.Year() != num(1) || int(t.Month()) != num(2) || t.Day() != num(3) ||
		t.Hour() != num(4) || t.Minute() != num(5) || t.Second() != num(6) {
		return time.Time{}, fmt.Errorf("Unable to parse date string %q", s)
	}
	t = t.UTC()
	if !t.After(now) {
		return time.Time{}, errExpired
	}
	return t, nil
}

var sharePaths = map[string]bool{"messages": true, "subscriptions": true, "claims": true}

// shareQueue: POST /v2/queues/{q}/share (§1.2.8). The queue's existence is
// not checked.
func (s *server) shareQueue(c *call) {
	b, aerr := readBody(c, maxSmallBody, badAPI("Request body is too large. Max size: %d", maxSmallBody))
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	doc, aerr := decodeObject(b)
	if aerr != nil {
		s.fail(c, aerr)
		return
	}
	var unknown []string
	for k := range doc {
		if k != "methods" && k != "expires" && k != "paths" {
			unknown = append(unknown, "'"+k+"'")
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		s.fail(c, badAPI("Unknown keys: {%s}", strings.Join(unknown, ", ")))
		return
	}
	base := queueHref(c.queue()) + "/"
	paths := []string{base + "messages"}
	if raw := doc["paths"]; truthy(raw) {
		var names []string
		if rawKind(raw) != '[' || json.Unmarshal(raw, &names) != nil {
			s.fail(c, badAPI("Invalid paths: %s", strings.TrimSpace(string(raw))))
			return
		}
		var bad []string
		paths = paths[:0]
		for _, n := range names {
			if !sharePaths[n] {
				bad = append(bad, "'"+n+"'")
			}
			paths = append(paths, base+n)
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			s.fail(c, badAPI("Invalid paths: {%s}", strings.Join(bad, ", ")))
			return
		}
	}
	if s.key == "" {
		s.fail(c, badAPI("%s", errNoKey.Error()))
		return
	}
	methods := []string{"GET"}
	if raw := doc["methods"]; truthy(raw) {
		if rawKind(raw) != '[' || json.Unmarshal(raw, &methods) != nil {
			s.fail(c, badAPI("`methods` should be a list of strings"))
			return
		}
	}
	now := s.now()
	expires := now.Add(24 * time.Hour)
	if raw, ok := doc["expires"]; ok && rawKind(raw) != 'n' {
		var str string
		switch rawKind(raw) {
		case '"':
			_ = json.Unmarshal(raw, &str)
		case '0', 't', 'f':
			str = strings.TrimSpace(string(raw)) // a number: refused as "integer value"
		default:
			s.fail(c, badAPI("Unable to parse date string %s", strings.TrimSpace(string(raw))))
			return
		}
		t, err := parseExpires(str, now)
		if err != nil {
			s.fail(c, badAPI("%s", err.Error()))
			return
		}
		expires = t
	}
	writeJSON(c.w, http.StatusOK, signURL(s.key, paths, methods, c.project, expires))
}

// verifySignedRequest checks the URL-* headers of a request (§8.2): the
// method and path must be signed, the expiry in the future and the
// signature right. Paths match by prefix on a segment boundary.
func (s *server) verifySignedRequest(r *http.Request) error {
	methods := strings.Split(r.Header.Get("URL-Methods"), ",")
	paths := strings.Split(r.Header.Get("URL-Paths"), ",")
	if !contains(methods, r.Method) {
		return errors.New("method not signed")
	}
	matched := false
	for _, p := range paths {
		if p != "" && pathUnder(r.URL.Path, p) {
			matched = true
			break
		}
	}
	if !matched {
		return errors.New("path not signed")
	}
	if s.key == "" {
		return errNoKey
	}
	exp, ok := headerValue(r.Header, "URL-Expires")
	if !ok {
		return errors.New("no URL-Expires")
	}
	expires, err := parseExpires(exp, s.now())
	if err != nil {
		return err
	}
	project, ok := headerValue(r.Header, "X-Project-ID")
	if !ok {
		project = "None" // what Python signs for a missing project
	}
	want := signURL(s.key, paths, methods, project, expires).Signature
	if !hmac.Equal([]byte(r.Header.Get("URL-Signature")), []byte(want)) {
		return errors.New("signature mismatch")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// pathUnder reports whether path is prefix or lies below it.
func pathUnder(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}
