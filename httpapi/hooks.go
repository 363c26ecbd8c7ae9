package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/herald-mq/herald/fsm"
)

// Canonical forms of header names the hooks read on every request:
// http.Header.Get("Client-ID") would build "Client-Id" anew each time.
const (
	hdrURLSignature = "Url-Signature" // URL-Signature
	hdrClientID     = "Client-Id"     // Client-ID
	hdrProjectID    = "X-Project-Id"  // X-Project-ID
)

// runHooks runs Zaqar's request hooks in the order of ZAQAR-API.md §0.1
// step 5, then the policy check of step 6. Each can end the request.
func (s *server) runHooks(c *call, rt route) *apiError {
	if rt.kind == kindOps {
		return nil
	}
	// 1. signed URL, only when the request presents one.
	if c.r.Header.Get(hdrURLSignature) != "" {
		if err := s.verifySignedRequest(c.r); err != nil {
			s.log.Debug("signed URL rejected", "request_id", c.reqID, "reason", err.Error())
			return newError(http.StatusNotFound, title404, descPathNotFound)
		}
	}
	// 2. form-encoded bodies are refused.
	if err := checkNotFormEncoded(c.r); err != nil {
		return err
	}
	// 3. Accept must admit application/json.
	if !acceptsJSON(c.r.Header.Values("Accept")) {
		return &apiError{status: http.StatusNotAcceptable, title: title406,
			desc: "Endpoint only serves `application/json`; specify client-side media type support with the \"Accept\" header.",
			link: &errLink{Text: "14.1 Accept, Hypertext Transfer Protocol -- HTTP/1.1",
				Href: "http://www.w3.org/Protocols/rfc2616/rfc2616-sec14.html", Rel: "help"}}
	}
	if rt.kind == kindRoot {
		return nil
	}
	// 4/5. Client-ID.
	id, err := checkClientID(headerValue(c.r.Header, hdrClientID))
	if err != nil {
		return err
	}
	c.clientID = id
	// 6. project.
	if err := extractProject(c); err != nil {
		return err
	}
	// 7/8. resource names.
	if name, ok := c.vars["queue_name"]; ok {
		if err := validateName("Queue", name); err != nil {
			return err
		}
	}
	if name, ok := c.vars["topic_name"]; ok {
		if err := validateName("Topic", name); err != nil {
			return err
		}
	}
	// Herald's own headers.
	if key := c.r.Header.Get(HeaderIdempotencyKey); key != "" {
		if len(key) > maxIdempotencyKey {
			return badAPI("The %s header may not be more than %d characters long.", HeaderIdempotencyKey, maxIdempotencyKey)
		}
		c.idemKey = key
	}
	c.stale = strings.EqualFold(strings.TrimSpace(c.r.Header.Get(HeaderRead)), "stale")
	// Policy (noauth: roles come from X-Roles).
	c.roles = parseRoles(c.r.Header.Values("X-Roles"))
	if rt.admin && !hasRole(c.roles, "admin") {
		return newError(http.StatusForbidden, titleNotAuthorized, descNotAuthz)
	}
	return nil
}

// headerValue returns the first value of a header and whether the header
// was sent at all (an empty value counts as sent).
func headerValue(h http.Header, name string) (string, bool) {
	v, ok := h[http.CanonicalHeaderKey(name)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// checkNotFormEncoded refuses a declared body of type
// application/x-www-form-urlencoded (curl -d sends it by default).
func checkNotFormEncoded(r *http.Request) *apiError {
	_, declared := headerValue(r.Header, "Content-Length")
	if !declared && r.ContentLength <= 0 {
		return nil
	}
	if strings.ToLower(r.Header.Get("Content-Type")) != "application/x-www-form-urlencoded" {
		return nil
	}
	return newError(http.StatusBadRequest, titleInvalidCT,
		"Endpoint does not accept `application/x-www-form-urlencoded` content; currently supported media type is `application/json`; specify proper client-side media type with the \"Content-Type\" header.")
}

// acceptsJSON reports whether the Accept header values admit
// application/json the way falcon's client_accepts (mimeparse) does: the
// most specific matching media range decides, and q=0 refuses.
func acceptsJSON(values []string) bool {
	header := strings.TrimSpace(strings.Join(values, ","))
	if header == "" || header == "application/json" || header == "*/*" {
		return true
	}
	best, bestQ := -1, 0.0
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		if mt == "*" {
			mt = "*/*"
		}
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok {
			return false // mimeparse raises, falcon answers "no"
		}
		typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
		if (typ != "*" && typ != "application") || (sub != "*" && sub != "json") {
			continue
		}
		q := 1.0
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(p, "=")
			if strings.TrimSpace(strings.ToLower(k)) != "q" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				f = 1
			}
			q = f
		}
		fit := 0
		if typ == "application" {
			fit += 100
		}
		if sub == "json" {
			fit += 10
		}
		if fit > best {
			best, bestQ = fit, q
		}
	}
	return best >= 0 && bestQ > 0
}

// checkClientID answers Zaqar's errors for a missing or malformed
// Client-ID header, else returns the canonical id.
func checkClientID(raw string, present bool) (string, *apiError) {
	if !present {
		return "", newError(http.StatusBadRequest, titleMissingHeader, "The Client-Id header is required.")
	}
	id, ok := parseClientID(raw)
	if !ok {
		return "", newError(http.StatusBadRequest, titleWrongUUID, "Malformed hexadecimal UUID.")
	}
	return id, nil
}

// parseClientID parses a Client-ID the way Python's uuid.UUID(hex) does in
// Zaqar's strict mode: every "urn:" and "uuid:" is removed, braces are
// stripped from both ends, dashes removed, and exactly 32 hexadecimal digits
// must remain (any case). It returns the canonical 32 lowercase hex digits.
func parseClientID(s string) (string, bool) {
	s = strings.ReplaceAll(s, "urn:", "")
	s = strings.ReplaceAll(s, "uuid:", "")
	s = strings.Trim(s, "{}")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// extractProject reads the project from X-Project-ID (or oslo.context's
// X-Tenant-Id / X-Tenant when it is absent).
func extractProject(c *call) *apiError {
	var project string
	present := false
	for _, h := range [...]string{hdrProjectID, "X-Tenant-Id", "X-Tenant"} {
		if project, present = headerValue(c.r.Header, h); present {
			break
		}
	}
	switch {
	case !present:
		return newError(http.StatusBadRequest, titleProjectMiss, "The header X-PROJECT-ID was missing")
	case project == "":
		return newError(http.StatusBadRequest, titleProjectEmpty,
			"X-PROJECT-ID cannot be an empty string. Specify the right header X-PROJECT-ID and retry.")
	case len(project) > fsm.MaxProjectLength:
		title := titleInvalidAPI
		if _, ok := c.vars["queue_name"]; ok {
			title = titleQueueID
		}
		return newError(http.StatusBadRequest, title,
			fmt.Sprintf("Project ids may not be more than %d characters long.", fsm.MaxProjectLength))
	}
	c.project = project
	return nil
}

// validName reports whether name matches ^[a-zA-Z0-9_\-.]+$ and is at most
// 64 bytes long.
func validName(name string) bool {
	if name == "" || len(name) > fsm.MaxNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}

// validateName answers 400 "Invalid <kind> identification" for a bad name.
func validateName(kind, name string) *apiError {
	if validName(name) {
		return nil
	}
	title := "Invalid " + strings.ToLower(kind) + " identification"
	if len(name) > fsm.MaxNameLength {
		return newError(http.StatusBadRequest, title,
			fmt.Sprintf("%s names may not be more than %d characters long.", kind, fsm.MaxNameLength))
	}
	return newError(http.StatusBadRequest, title,
		kind+" names may only contain ASCII letters, digits, underscores, dashes and dots.")
}

// parseRoles splits X-Roles values on commas.
func parseRoles(values []string) []string {
	var roles []string
	for _, v := range values {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				roles = append(roles, r)
			}
		}
	}
	return roles
}

// hasRole compares case-insensitively, as oslo.policy's role check does.
func hasRole(roles []string, want string) bool {
	for _, r := range roles {
		if strings.EqualFold(r, want) {
			return true
		}
	}
	return false
}

// newRequestID returns "req-" and a new UUID4 (one allocation).
func newRequestID() string {
	var b [40]byte
	copy(b[:], "req-")
	putUUID4(b[4:])
	return string(b[:])
}

// putUUID4 writes a random version 4 UUID, dashed, into dst[:36].
func putUUID4(dst []byte) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("httpapi: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	hex.Encode(dst[0:8], b[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], b[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], b[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], b[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:36], b[10:16])
}
