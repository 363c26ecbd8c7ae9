package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
)

// Response writing. Every JSON answer is rendered into a pooled buffer and
// sent with Content-Type and Content-Length. The hot answers (message
// lists, claims, posted resources) are rendered by hand, byte for byte as
// encoding/json renders them with HTML escaping off; anything the hand
// encoders cannot render exactly (a string needing escapes is handled,
// an invalid stored body is not) falls back to encoding/json, which then
// gives the answer it always gave. differential_test.go holds them to
// that.

// bufPool recycles response buffers; ones grown past maxPooledBuf are
// dropped so that one large answer does not pin memory.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuf = 64 << 10

func getBuf() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuf {
		bufPool.Put(b)
	}
}

// writeJSON sends v as a JSON body. HTML characters are not escaped so
// stored JSON values come back as they were sent.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONType(w, status, "application/json", v)
}

func writeJSONType(w http.ResponseWriter, status int, contentType string, v any) {
	buf := getBuf()
	defer putBuf(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(buf).Encode(errBody{Title: titleInternal, Description: "encoding the response failed"})
	}
	writeBody(w, status, contentType, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// writeBody sends b with its Content-Type and Content-Length (both header
// values share one allocation; full slice expressions keep an append to
// one from touching the other).
func writeBody(w http.ResponseWriter, status int, contentType string, b []byte) {
	vals := make([]string, 2)
	vals[0], vals[1] = contentType, strconv.Itoa(len(b))
	h := w.Header()
	h["Content-Type"] = vals[0:1:1]
	h["Content-Length"] = vals[1:2:2]
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeEmpty sends a status without a body.
func writeEmpty(w http.ResponseWriter, status int) { w.WriteHeader(status) }

// plainJSON reports whether s is printable ASCII without '"' and '\\':
// its JSON form is s in quotes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendJSONString appends s as a JSON string. Plain strings are copied;
// anything else goes through encoding/json (HTML escaping off).
func appendJSONString(dst []byte, s string) []byte {
	if !plainJSON(s) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s) // a string always encodes
		return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendRawJSON appends a json.RawMessage value as encoding/json does: nil
// is null, anything else is compacted; ok is false when it is not valid
// JSON.
func appendRawJSON(dst []byte, v json.RawMessage) ([]byte, bool) {
	if v == nil {
		return append(dst, "null"...), true
	}
	return appendCompactJSON(dst, v)
}

// appendMessageRepr appends one messageRepr object.
func appendMessageRepr(dst []byte, m *messageRepr) ([]byte, bool) {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, m.ID)
	dst = append(dst, `,"href":`...)
	dst = appendJSONString(dst, m.Href)
	dst = append(dst, `,"ttl":`...)
	dst = strconv.AppendInt(dst, m.TTL, 10)
	dst = append(dst, `,"age":`...)
	dst = strconv.AppendInt(dst, m.Age, 10)
	dst = append(dst, `,"body":`...)
	dst, ok := appendRawJSON(dst, m.Body)
	return append(dst, '}'), ok
}

// appendMessageReprs appends a []messageRepr array (nil is null).
func appendMessageReprs(dst []byte, msgs []messageRepr) ([]byte, bool) {
	if msgs == nil {
		return append(dst, "null"...), true
	}
	dst = append(dst, '[')
	for i := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = appendMessageRepr(dst, &msgs[i]); !ok {
			return dst, false
		}
	}
	return append(dst, ']'), true
}

// appendLinks appends a []link array (nil is null).
func appendLinks(dst []byte, links []link) []byte {
	if links == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, l := range links {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"rel":`...)
		dst = appendJSONString(dst, l.Rel)
		dst = append(dst, `,"href":`...)
		dst = appendJSONString(dst, l.Href)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// writeMessages answers {"messages": msgs}, as writeJSON of
// map[string][]messageRepr{"messages": msgs} would.
func writeMessages(w http.ResponseWriter, status int, msgs []messageRepr) {
	buf := getBuf()
	defer putBuf(buf)
	b := append(buf.AvailableBuffer(), `{"messages":`...)
	b, ok := appendMessageReprs(b, msgs)
	if !ok {
		writeJSON(w, status, map[string][]messageRepr{"messages": msgs})
		return
	}
	b = append(b, '}')
	buf.Write(b) // keeps the grown array for the pool
	writeBody(w, status, "application/json", buf.Bytes())
}

// writeMessageList answers a message page, as writeJSON(w, 200, l) would.
func writeMessageList(w http.ResponseWriter, l *messageList) {
	buf := getBuf()
	defer putBuf(buf)
	b := append(buf.AvailableBuffer(), `{"messages":`...)
	b, ok := appendMessageReprs(b, l.Messages)
	if !ok {
		writeJSON(w, http.StatusOK, l)
		return
	}
	b = append(b, `,"links":`...)
	b = appendLinks(b, l.Links)
	b = append(b, '}')
	buf.Write(b)
	writeBody(w, http.StatusOK, "application/json", buf.Bytes())
}

// writeMessageRepr answers one message, as writeJSON(w, 200, m) would.
func writeMessageRepr(w http.ResponseWriter, m *messageRepr) {
	buf := getBuf()
	defer putBuf(buf)
	b, ok := appendMessageRepr(buf.AvailableBuffer(), m)
	if !ok {
		writeJSON(w, http.StatusOK, m)
		return
	}
	buf.Write(b)
	writeBody(w, http.StatusOK, "application/json", buf.Bytes())
}

// writeResources answers a message post: {"resources": [prefix+"/"+id...]},
// as writeJSON of map[string][]string{"resources": hrefs} would.
func writeResources(w http.ResponseWriter, prefix string, ids []string) {
	buf := getBuf()
	defer putBuf(buf)
	b := append(buf.AvailableBuffer(), `{"resources":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		if plainJSON(prefix) && plainJSON(id) {
			b = append(append(append(append(append(b, '"'), prefix...), '/'), id...), '"')
		} else {
			b = appendJSONString(b, prefix+"/"+id)
		}
	}
	b = append(b, "]}"...)
	buf.Write(b)
	writeBody(w, http.StatusCreated, "application/json", buf.Bytes())
}
